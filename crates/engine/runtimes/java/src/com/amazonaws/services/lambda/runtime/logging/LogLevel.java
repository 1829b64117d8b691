package com.amazonaws.services.lambda.runtime.logging;

/** Log levels of {@code LambdaLogger.log(message, level)} (lambdad's copy). */
public enum LogLevel {
    UNDEFINED,
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR,
    FATAL
}
