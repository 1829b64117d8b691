package lambdad.runtime;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The class-data-sharing archive's training run ({@code Main --train}, once per host and JDK, by
 * lambdad's runtime install): loads and links the classes a cold start uses — the JSON reader,
 * mapper and writer, the handler loader, the error shape, the class loader of the function's
 * code and the HTTP client — without a Runtime API, then exits, and the JVM
 * ({@code -XX:ArchiveClassesAtExit}) archives them.
 */
final class Train {
    private Train() {}

    /** A POJO handler, as functions have them. */
    public static final class Sample implements RequestHandler<Sample.Order, Map<String, Object>> {
        public static final class Order {
            private String item;
            private int quantity;
            private List<String> tags;

            public String getItem() { return item; }
            public void setItem(String v) { item = v; }
            public int getQuantity() { return quantity; }
            public void setQuantity(int v) { quantity = v; }
            public List<String> getTags() { return tags; }
            public void setTags(List<String> v) { tags = v; }
        }

        @Override
        public Map<String, Object> handleRequest(Order order, Context context) {
            return Map.of("item", order.getItem(), "quantity", order.getQuantity(), "tags", order.getTags());
        }
    }

    static void run() throws Throwable {
        String event = "{\"item\":\"tea\",\"quantity\":2,\"price\":1.5,\"tags\":[\"a\",\"b\"],\"nested\":{\"ok\":true,\"none\":null}}";
        Handler.Call pojo = Handler.load(Sample.class.getName(), Train.class.getClassLoader());
        byte[] answer = pojo.invoke(event.getBytes(StandardCharsets.UTF_8), null);
        Json.write(Json.convert(Json.parse(new String(answer, StandardCharsets.UTF_8)), Map.class));
        Main.Errors.body(new IllegalStateException("trained", new IllegalArgumentException("cause")));
        ((java.net.URLClassLoader) Main.userLoader("/nonexistent-task-root")).close();
        HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:9/2018-06-01/runtime/invocation/next")
                .openConnection();
        c.setReadTimeout(0);
        c.disconnect();
    }
}
