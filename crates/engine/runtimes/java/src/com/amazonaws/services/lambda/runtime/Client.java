package com.amazonaws.services.lambda.runtime;

/** The mobile client application of a client context (lambdad's copy). */
public interface Client {
    String getInstallationId();

    String getAppTitle();

    String getAppVersionName();

    String getAppVersionCode();

    String getAppPackageName();
}
