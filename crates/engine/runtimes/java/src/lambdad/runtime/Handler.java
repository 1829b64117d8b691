package lambdad.runtime;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The function's handler, found as AWS's Java runtime finds it: {@code package.Class::method} or
 * {@code package.Class} (its {@code handleRequest}); a {@link RequestStreamHandler}, a
 * {@link RequestHandler} (its input type read from the generic interface), or a public method
 * taking {@code (InputStream, OutputStream[, Context])}, {@code (input[, Context])},
 * {@code (Context)} or nothing. Instance methods are called on one object made at init.
 */
final class Handler {
    /** One invocation: the event's bytes in, the answer's bytes out. */
    interface Call {
        byte[] invoke(byte[] event, Context context) throws Throwable;
    }

    private Handler() {}

    static Call load(String spec, ClassLoader loader) throws Throwable {
        if (spec == null || spec.isEmpty()) {
            throw new ClassNotFoundException("No handler is configured (_HANDLER is empty)");
        }
        int sep = spec.indexOf("::");
        String className = sep < 0 ? spec : spec.substring(0, sep);
        String methodName = sep < 0 ? "handleRequest" : spec.substring(sep + 2);
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            throw new ClassNotFoundException("Class not found: " + className);
        }
        if (methodName.equals("handleRequest") && RequestStreamHandler.class.isAssignableFrom(cls)) {
            RequestStreamHandler h = (RequestStreamHandler) construct(cls);
            return (event, context) -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                h.handleRequest(new ByteArrayInputStream(event), out, context);
                return out.toByteArray();
            };
        }
        if (methodName.equals("handleRequest") && RequestHandler.class.isAssignableFrom(cls)) {
            @SuppressWarnings("unchecked")
            RequestHandler<Object, Object> h = (RequestHandler<Object, Object>) construct(cls);
            Type input = inputType(cls, new HashMap<>());
            Type in = input == null ? Object.class : input;
            return (event, context) -> answer(h.handleRequest(read(event, in), context));
        }
        List<Method> candidates = new ArrayList<>();
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(methodName) && !m.isBridge() && !m.isSynthetic() && shape(m) != null) {
                candidates.add(m);
            }
        }
        if (candidates.isEmpty()) {
            throw new NoSuchMethodException("No public method named " + methodName
                    + " with appropriate method signature found on class " + cls.getName());
        }
        // The method with the most parameters wins; among equals, one whose last takes the Context.
        candidates.sort(Comparator.comparingInt(Method::getParameterCount).reversed()
                .thenComparing(m -> takesContext(m) ? 0 : 1));
        Method m = candidates.get(0);
        Object target = Modifier.isStatic(m.getModifiers()) ? null : construct(cls);
        String kind = shape(m);
        Type[] params = m.getGenericParameterTypes();
        return (event, context) -> {
            Object[] args = new Object[params.length];
            ByteArrayOutputStream out = null;
            if (kind.equals("stream")) {
                out = new ByteArrayOutputStream();
                args[0] = new ByteArrayInputStream(event);
                args[1] = out;
            } else if (kind.equals("input")) {
                args[0] = read(event, params[0]);
            }
            if (takesContext(m)) {
                args[params.length - 1] = context;
            }
            Object result;
            try {
                result = m.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            return out != null ? out.toByteArray() : answer(result);
        };
    }

    private static boolean takesContext(Method m) {
        Class<?>[] p = m.getParameterTypes();
        return p.length > 0 && p[p.length - 1] == Context.class;
    }

    /** "stream", "input", "none", or null for a method no event fits. */
    private static String shape(Method m) {
        Class<?>[] p = m.getParameterTypes();
        int n = takesContext(m) ? p.length - 1 : p.length;
        if (n == 2 && p[0] == InputStream.class && p[1] == OutputStream.class) {
            return "stream";
        }
        if (n == 1) {
            return "input";
        }
        return n == 0 ? "none" : null;
    }

    private static Object construct(Class<?> cls) throws Throwable {
        try {
            var k = cls.getDeclaredConstructor();
            k.setAccessible(true);
            return k.newInstance();
        } catch (InvocationTargetException e) {
            throw e.getCause();
        } catch (NoSuchMethodException e) {
            throw new NoSuchMethodException("Class " + cls.getName() + " has no constructor without arguments");
        }
    }

    /** The I of {@code RequestHandler<I, O>} as {@code c} binds it, through superclasses. */
    private static Type inputType(Type t, Map<TypeVariable<?>, Type> bound) {
        Class<?> raw;
        if (t instanceof ParameterizedType) {
            ParameterizedType p = (ParameterizedType) t;
            raw = (Class<?>) p.getRawType();
            TypeVariable<?>[] vars = raw.getTypeParameters();
            Type[] args = p.getActualTypeArguments();
            Map<TypeVariable<?>, Type> next = new HashMap<>();
            for (int k = 0; k < vars.length && k < args.length; k++) {
                Type a = args[k];
                next.put(vars[k], a instanceof TypeVariable ? bound.getOrDefault(a, Object.class) : a);
            }
            if (raw == RequestHandler.class) {
                return next.get(vars[0]);
            }
            bound = next;
        } else if (t instanceof Class) {
            raw = (Class<?>) t;
        } else {
            return null;
        }
        for (Type i : raw.getGenericInterfaces()) {
            Type found = inputType(i, bound);
            if (found != null) {
                return found;
            }
        }
        Type s = raw.getGenericSuperclass();
        return s == null ? null : inputType(s, bound);
    }

    private static Object read(byte[] event, Type type) {
        try {
            return Json.convert(Json.parse(new String(event, StandardCharsets.UTF_8)), type);
        } catch (Json.MappingException e) {
            throw new RuntimeException("An error occurred during JSON parsing", e);
        }
    }

    private static byte[] answer(Object result) {
        try {
            return Json.write(result).getBytes(StandardCharsets.UTF_8);
        } catch (Json.MappingException e) {
            throw new RuntimeException("An error occurred during JSON serialization of response", e);
        }
    }
}
