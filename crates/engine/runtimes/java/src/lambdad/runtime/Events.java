package lambdad.runtime;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Lambda's event classes (aws-lambda-java-events, bundled by the function) as AWS's Java runtime
 * maps them, on top of {@link Json}'s Jackson-like defaults: the JSON names the events carry
 * ({@code Records}, {@code eventSourceARN}, SNS's PascalCase), the S3 notification classes (which
 * have constructors and no setters) made and written by their JSON keys, dates of the events'
 * streams as seconds, and the value types the events use (ByteBuffer as base64, java.time and Joda
 * dates as ISO-8601 text).
 */
final class Events {
    static final String PACKAGE = "com.amazonaws.services.lambda.runtime.events.";
    private static final String S3_V3 = PACKAGE + "models.s3.S3EventNotification";
    private static final String S3_V2 = "com.amazonaws.services.s3.event.S3EventNotification";

    /** Event classes whose list of records is {@code "Records"} in the JSON. */
    private static final Set<String> RECORDS = Set.of(PACKAGE + "SQSEvent", PACKAGE + "SNSEvent",
            PACKAGE + "S3Event", S3_V3, S3_V2, PACKAGE + "DynamodbEvent", PACKAGE + "KinesisEvent",
            PACKAGE + "CodeCommitEvent");

    /** Records whose {@code getEventSourceArn} is {@code "eventSourceARN"} in the JSON. */
    private static final Set<String> SOURCE_ARN = Set.of(PACKAGE + "SQSEvent$SQSMessage",
            PACKAGE + "DynamodbEvent$DynamodbStreamRecord", PACKAGE + "KinesisEvent$KinesisEventRecord");

    /** The S3 notification classes: their JSON keys in their constructor's order, and each key's getter. */
    private static final Map<String, String[][]> S3 = Map.of(
            "S3EventNotificationRecord", new String[][] {{"awsRegion", "getAwsRegion"},
                {"eventName", "getEventName"}, {"eventSource", "getEventSource"}, {"eventTime", "getEventTime"},
                {"eventVersion", "getEventVersion"}, {"requestParameters", "getRequestParameters"},
                {"responseElements", "getResponseElements"}, {"s3", "getS3"}, {"userIdentity", "getUserIdentity"}},
            "S3Entity", new String[][] {{"configurationId", "getConfigurationId"}, {"bucket", "getBucket"},
                {"object", "getObject"}, {"s3SchemaVersion", "getS3SchemaVersion"}},
            "S3BucketEntity", new String[][] {{"name", "getName"}, {"ownerIdentity", "getOwnerIdentity"},
                {"arn", "getArn"}},
            "S3ObjectEntity", new String[][] {{"key", "getKey"}, {"size", "getSizeAsLong"}, {"eTag", "geteTag"},
                {"versionId", "getVersionId"}, {"sequencer", "getSequencer"}},
            "UserIdentityEntity", new String[][] {{"principalId", "getPrincipalId"}},
            "RequestParametersEntity", new String[][] {{"sourceIPAddress", "getSourceIPAddress"}},
            "ResponseElementsEntity", new String[][] {{"x-amz-id-2", "getxAmzId2"},
                {"x-amz-request-id", "getxAmzRequestId"}});

    private static final String[][] S3_EVENT = {{"Records", "getRecords"}};

    private Events() {}

    /** Whether {@code c} is one of Lambda's event classes. */
    static boolean isEvent(Class<?> c) {
        String n = c.getName();
        return n.startsWith(PACKAGE) || n.startsWith(S3_V2);
    }

    /** The JSON name of the property {@code p} of the event class {@code c}. */
    static String jsonName(Class<?> c, String p) {
        String n = c.getName();
        int nested = n.indexOf('$');
        if ((nested < 0 ? n : n.substring(0, nested)).equals(PACKAGE + "SNSEvent")) {
            return Character.toUpperCase(p.charAt(0)) + p.substring(1); // SNS's PascalCase
        }
        if (p.equals("records") && RECORDS.contains(n)) {
            return "Records";
        }
        if (p.equals("eventSourceArn") && SOURCE_ARN.contains(n)) {
            return "eventSourceARN";
        }
        return p;
    }

    /** The JSON keys and getters of an S3 notification class, or null for any other class. */
    private static String[][] s3Keys(Class<?> c) {
        String n = c.getName();
        if (n.equals(S3_V3) || n.equals(S3_V2) || n.equals(PACKAGE + "S3Event")) {
            return S3_EVENT;
        }
        int nested = n.lastIndexOf('$');
        if (nested < 0 || !(n.startsWith(S3_V3 + "$") || n.startsWith(S3_V2 + "$"))) {
            return null;
        }
        return S3.get(n.substring(nested + 1));
    }

    static boolean isS3(Class<?> c) {
        return s3Keys(c) != null;
    }

    /** An S3 notification object made from {@code v} through its constructor of the keys' count. */
    static Object makeS3(Class<?> c, Map<String, Object> v) {
        String[][] keys = s3Keys(c);
        for (Constructor<?> k : c.getConstructors()) {
            Type[] params = k.getGenericParameterTypes();
            if (params.length != keys.length || (keys == S3_EVENT && !List.class.isAssignableFrom(Json.raw(params[0])))) {
                continue;
            }
            if (c.getSimpleName().equals("S3ObjectEntity") && Json.raw(params[1]) != Long.class) {
                continue;
            }
            Object[] args = new Object[params.length];
            for (int i = 0; i < params.length; i++) {
                Object x = v.get(keys[i][0]);
                args[i] = Json.convert(x == null && keys == S3_EVENT ? List.of() : x, params[i]);
            }
            try {
                return k.newInstance(args);
            } catch (ReflectiveOperationException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                throw new Json.MappingException("Cannot make a " + c.getName() + ": " + cause);
            }
        }
        throw new Json.MappingException(c.getName() + " has no constructor of " + keys.length + " arguments");
    }

    /** An S3 notification object's JSON properties, from its getters. */
    static Map<String, Object> readS3(Object o) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String[] key : s3Keys(o.getClass())) {
            try {
                Method m = o.getClass().getMethod(key[1]);
                out.put(key[0], m.invoke(o));
            } catch (NoSuchMethodException e) {
                continue; // an older shape of the class
            } catch (ReflectiveOperationException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                throw new Json.MappingException("Cannot read " + o.getClass().getName() + "." + key[0] + ": " + cause);
            }
        }
        return out;
    }

    /** A date of an event's stream record is fractional seconds since the epoch (AWS's DateModule). */
    static Object eventValue(Object v, Type t) {
        if (v instanceof Number && Json.raw(t) == java.util.Date.class) {
            double seconds = ((Number) v).doubleValue();
            return seconds == 0 ? null : new java.util.Date((long) (seconds * 1000));
        }
        return v;
    }

    /** What an event's date property is written as: fractional seconds. */
    static Object eventOut(Object v) {
        return v instanceof java.util.Date ? ((java.util.Date) v).getTime() / 1000.0 : v;
    }

    /** Marks a value {@link #scalar} does not make. */
    static final Object NONE = new Object();

    /**
     * {@code v} as one of the value types Jackson reads from JSON scalars: {@code ByteBuffer} from
     * base64, {@code java.util.Date} from milliseconds or ISO-8601, {@code java.time} values by their
     * {@code parse}, Joda's {@code DateTime} (when the function bundles it) by its constructor.
     */
    static Object scalar(Object v, Class<?> c) {
        if (v instanceof java.util.Date && c.isInstance(v)) {
            return v; // made by eventValue
        }
        if (c == ByteBuffer.class && v instanceof String) {
            return ByteBuffer.wrap(Base64.getDecoder().decode((String) v));
        }
        if (c == java.util.Date.class) {
            if (v instanceof Number) {
                return new java.util.Date(((Number) v).longValue());
            }
            if (v instanceof String) {
                return java.util.Date.from(java.time.Instant.parse((String) v));
            }
        }
        String n = c.getName();
        try {
            if (n.startsWith("java.time.") && v instanceof String) {
                return c.getMethod("parse", CharSequence.class).invoke(null, v);
            }
            if (n.startsWith("org.joda.time.") && (v instanceof String || v instanceof Number)) {
                return c.getConstructor(Object.class).newInstance(v instanceof Number ? ((Number) v).longValue() : v);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new Json.MappingException("Cannot read \"" + v + "\" as a " + n + ": " + cause);
        }
        return NONE;
    }

    /** A ByteBuffer's remaining bytes as base64, leaving the buffer as it was. */
    static String base64(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] bytes = new byte[d.remaining()];
        d.get(bytes);
        return Base64.getEncoder().encodeToString(bytes);
    }
}
