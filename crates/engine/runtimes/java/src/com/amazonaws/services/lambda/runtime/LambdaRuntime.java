package com.amazonaws.services.lambda.runtime;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** The function's logger outside a handler (lambdad's copy): writes records to standard output. */
public final class LambdaRuntime {
    private static final PrintStream OUT = System.out;

    private static final LambdaLogger LOGGER = new LambdaLogger() {
        @Override
        public void log(String message) {
            String text = String.valueOf(message);
            synchronized (OUT) {
                OUT.print(text.endsWith("\n") ? text : text + "\n");
                OUT.flush();
            }
        }

        @Override
        public void log(byte[] message) {
            log(new String(message, StandardCharsets.UTF_8));
        }
    };

    private LambdaRuntime() {}

    public static LambdaLogger getLogger() {
        return LOGGER;
    }
}
