package com.amazonaws.services.lambda.runtime;

/** A handler of JSON events mapped to {@code I}, answering {@code O} (lambdad's copy). */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
