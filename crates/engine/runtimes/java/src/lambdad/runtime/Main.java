package lambdad.runtime;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * lambdad's Java runtime: loads the handler ({@code _HANDLER}) from {@code /var/task} (its classes,
 * then {@code lib/*.jar}) and the layers' {@code /opt/java/lib/*.jar}, then serves invocations
 * through the Runtime API ({@code AWS_LAMBDA_RUNTIME_API}) until the environment ends.
 */
public final class Main {
    private static final String API = "/2018-06-01/runtime";

    private Main() {}

    public static void main(String[] args) throws Throwable {
        if (args.length == 1 && args[0].equals("--train")) {
            Train.run(); // the class-data-sharing archive's training run (Train)
            return;
        }
        String host = System.getenv("AWS_LAMBDA_RUNTIME_API");
        if (host == null || host.isEmpty()) {
            System.err.println("AWS_LAMBDA_RUNTIME_API is not set");
            System.exit(1);
        }
        String base = "http://" + host + API;
        String task = System.getenv().getOrDefault("LAMBDA_TASK_ROOT", "/var/task");
        ClassLoader loader = userLoader(task);
        Thread.currentThread().setContextClassLoader(loader);
        Handler.Call handler;
        try {
            handler = Handler.load(System.getenv("_HANDLER"), loader);
        } catch (Throwable t) {
            t.printStackTrace();
            post(base + "/init/error", Errors.body(t), t.getClass().getName());
            System.exit(1);
            return;
        }
        while (true) {
            HttpURLConnection next = (HttpURLConnection) new URL(base + "/invocation/next").openConnection();
            next.setReadTimeout(0);
            byte[] event;
            try (InputStream in = next.getInputStream()) {
                event = in.readAllBytes();
            }
            String id = next.getHeaderField("Lambda-Runtime-Aws-Request-Id");
            String trace = next.getHeaderField("Lambda-Runtime-Trace-Id");
            if (trace != null) {
                System.setProperty("com.amazonaws.xray.traceHeader", trace);
            } else {
                System.clearProperty("com.amazonaws.xray.traceHeader");
            }
            Invocation context = new Invocation(id, next);
            byte[] answer;
            try {
                answer = handler.invoke(event, context);
            } catch (Throwable t) {
                t.printStackTrace();
                post(base + "/invocation/" + id + "/error", Errors.body(t), t.getClass().getName());
                if (t instanceof VirtualMachineError) {
                    System.exit(1);
                }
                continue;
            } finally {
                System.out.flush();
                System.err.flush();
            }
            post(base + "/invocation/" + id + "/response", answer, null);
        }
    }

    /** The function's code: /var/task, its lib/*.jar, then the layers' /opt/java/lib/*.jar. */
    static ClassLoader userLoader(String task) throws IOException {
        List<URL> urls = new ArrayList<>();
        urls.add(new File(task).toURI().toURL());
        for (String dir : new String[] {task + "/lib", "/opt/java/lib"}) {
            File[] jars = new File(dir).listFiles((d, n) -> n.endsWith(".jar"));
            if (jars != null) {
                Arrays.sort(jars);
                for (File j : jars) {
                    urls.add(j.toURI().toURL());
                }
            }
        }
        return new URLClassLoader(urls.toArray(new URL[0]), Main.class.getClassLoader());
    }

    private static void post(String url, byte[] body, String errorType) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setFixedLengthStreamingMode(body.length);
        c.setRequestProperty("Content-Type", "application/json");
        if (errorType != null) {
            c.setRequestProperty("Lambda-Runtime-Function-Error-Type", errorType);
        }
        try (OutputStream out = c.getOutputStream()) {
            out.write(body);
        }
        int status = c.getResponseCode();
        try (InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream()) {
            if (in != null) {
                in.readAllBytes();
            }
        }
        if (status >= 500) {
            System.err.println("The Runtime API answered " + status + " to " + url);
            System.exit(1);
        }
    }

    /** The Context of one invocation, from the headers of its /next answer. */
    static final class Invocation implements Context {
        private final String id;
        private final long deadline;
        private final String arn;
        private final CognitoIdentity identity;
        private final ClientContext clientContext;

        Invocation(String id, HttpURLConnection next) {
            this.id = id;
            long d;
            try {
                d = Long.parseLong(next.getHeaderField("Lambda-Runtime-Deadline-Ms"));
            } catch (NumberFormatException e) {
                d = System.currentTimeMillis();
            }
            this.deadline = d;
            this.arn = next.getHeaderField("Lambda-Runtime-Invoked-Function-Arn");
            this.identity = identity(next.getHeaderField("Lambda-Runtime-Cognito-Identity"));
            this.clientContext = clientContext(next.getHeaderField("Lambda-Runtime-Client-Context"));
        }

        private static Map<?, ?> object(String header) {
            if (header == null || header.isEmpty()) {
                return null;
            }
            try {
                Object v = Json.parse(header);
                return v instanceof Map ? (Map<?, ?>) v : null;
            } catch (Json.MappingException e) {
                return null;
            }
        }

        private static String text(Map<?, ?> m, String key) {
            Object v = m == null ? null : m.get(key);
            return v == null ? null : v.toString();
        }

        private static Map<String, String> strings(Object v) {
            if (!(v instanceof Map)) {
                return null;
            }
            Map<String, String> out = new LinkedHashMap<>();
            ((Map<?, ?>) v).forEach((k, x) -> out.put(String.valueOf(k), x == null ? null : x.toString()));
            return out;
        }

        private static CognitoIdentity identity(String header) {
            Map<?, ?> m = object(header);
            if (m == null) {
                return null;
            }
            String id = text(m, "cognitoIdentityId");
            String pool = text(m, "cognitoIdentityPoolId");
            return new CognitoIdentity() {
                public String getIdentityId() {
                    return id;
                }

                public String getIdentityPoolId() {
                    return pool;
                }
            };
        }

        private static ClientContext clientContext(String header) {
            Map<?, ?> m = object(header);
            if (m == null) {
                return null;
            }
            Map<?, ?> c = m.get("client") instanceof Map ? (Map<?, ?>) m.get("client") : null;
            Client client = c == null ? null : new Client() {
                public String getInstallationId() {
                    return text(c, "installation_id");
                }

                public String getAppTitle() {
                    return text(c, "app_title");
                }

                public String getAppVersionName() {
                    return text(c, "app_version_name");
                }

                public String getAppVersionCode() {
                    return text(c, "app_version_code");
                }

                public String getAppPackageName() {
                    return text(c, "app_package_name");
                }
            };
            Map<String, String> custom = strings(m.get("custom"));
            Map<String, String> env = strings(m.get("env"));
            return new ClientContext() {
                public Client getClient() {
                    return client;
                }

                public Map<String, String> getCustom() {
                    return custom;
                }

                public Map<String, String> getEnvironment() {
                    return env;
                }
            };
        }

        public String getAwsRequestId() {
            return id;
        }

        public String getLogGroupName() {
            return System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
        }

        public String getLogStreamName() {
            return System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
        }

        public String getFunctionName() {
            return System.getenv("AWS_LAMBDA_FUNCTION_NAME");
        }

        public String getFunctionVersion() {
            return System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
        }

        public String getInvokedFunctionArn() {
            return arn;
        }

        public CognitoIdentity getIdentity() {
            return identity;
        }

        public ClientContext getClientContext() {
            return clientContext;
        }

        public int getRemainingTimeInMillis() {
            long left = deadline - System.currentTimeMillis();
            return (int) Math.max(0, Math.min(Integer.MAX_VALUE, left));
        }

        public int getMemoryLimitInMB() {
            try {
                return Integer.parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
            } catch (NumberFormatException e) {
                return 0;
            }
        }

        public LambdaLogger getLogger() {
            return LambdaRuntime.getLogger();
        }
    }

    /** Errors as AWS's Java runtime reports them. */
    static final class Errors {
        private Errors() {}

        /** {"errorMessage", "errorType", "stackTrace": [...], "cause": {...}}. */
        static byte[] body(Throwable t) {
            try {
                return Json.write(shape(t, 0)).getBytes(StandardCharsets.UTF_8);
            } catch (RuntimeException e) {
                return ("{\"errorMessage\":\"The error could not be described\",\"errorType\":\""
                        + t.getClass().getName() + "\"}").getBytes(StandardCharsets.UTF_8);
            }
        }

        private static Map<String, Object> shape(Throwable t, int depth) {
            Map<String, Object> m = new LinkedHashMap<>();
            if (t.getMessage() != null) {
                m.put("errorMessage", t.getMessage());
            }
            m.put("errorType", t.getClass().getName());
            List<String> frames = new ArrayList<>();
            for (StackTraceElement e : t.getStackTrace()) {
                String c = e.getClassName();
                // The runtime's own frames (and reflection's, below the handler) are not the function's.
                if (c.startsWith("lambdad.runtime.") || c.startsWith("jdk.internal.reflect.")
                        || c.startsWith("java.lang.reflect.Method")) {
                    continue;
                }
                frames.add(c + "." + e.getMethodName() + "(" + (e.getFileName() == null ? "Unknown Source"
                        : e.getFileName() + (e.getLineNumber() >= 0 ? ":" + e.getLineNumber() : "")) + ")");
            }
            m.put("stackTrace", frames);
            Throwable cause = t.getCause();
            if (cause != null && cause != t && depth < 32) {
                m.put("cause", shape(cause, depth + 1));
            }
            return m;
        }
    }
}
