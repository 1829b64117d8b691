package com.amazonaws.services.lambda.runtime;

/** The Amazon Cognito identity of a mobile caller (lambdad's copy). */
public interface CognitoIdentity {
    String getIdentityId();

    String getIdentityPoolId();
}
