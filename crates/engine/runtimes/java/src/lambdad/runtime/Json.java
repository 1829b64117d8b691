package lambdad.runtime;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * JSON as AWS's Java runtime maps it (Jackson's defaults with unknown properties ignored, property
 * names matched without regard to case, and null properties left out of answers): a reader to
 * maps, lists, strings, numbers and booleans, a writer, and the mapping between those and Java
 * types (POJOs through setters, getters and public fields; records; collections; arrays; enums).
 */
final class Json {
    private static final int MAX_DEPTH = 1000;

    private Json() {}

    /** A value the mapping cannot make. */
    static final class MappingException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MappingException(String message) {
            super(message);
        }
    }

    // ---- Reading ----

    static Object parse(String text) {
        Reader r = new Reader(text);
        r.space();
        Object v = r.value(0);
        r.space();
        if (r.i != text.length()) {
            throw r.error("unexpected character after the value");
        }
        return v;
    }

    private static final class Reader {
        final String s;
        int i;

        Reader(String s) {
            this.s = s;
        }

        MappingException error(String what) {
            return new MappingException("Invalid JSON at offset " + i + ": " + what);
        }

        void space() {
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                i++;
            }
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nested deeper than " + MAX_DEPTH);
            }
            if (i >= s.length()) {
                throw error("unexpected end of input");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    i++;
                    Map<String, Object> m = new LinkedHashMap<>();
                    space();
                    if (peek('}')) {
                        return m;
                    }
                    while (true) {
                        space();
                        if (i >= s.length() || s.charAt(i) != '"') {
                            throw error("expected a property name");
                        }
                        String k = string();
                        space();
                        expect(':');
                        space();
                        m.put(k, value(depth + 1));
                        space();
                        if (peek('}')) {
                            return m;
                        }
                        expect(',');
                    }
                }
                case '[': {
                    i++;
                    List<Object> l = new ArrayList<>();
                    space();
                    if (peek(']')) {
                        return l;
                    }
                    while (true) {
                        space();
                        l.add(value(depth + 1));
                        space();
                        if (peek(']')) {
                            return l;
                        }
                        expect(',');
                    }
                }
                case '"':
                    return string();
                case 't':
                    word("true");
                    return Boolean.TRUE;
                case 'f':
                    word("false");
                    return Boolean.FALSE;
                case 'n':
                    word("null");
                    return null;
                default:
                    return number();
            }
        }

        boolean peek(char c) {
            if (i < s.length() && s.charAt(i) == c) {
                i++;
                return true;
            }
            return false;
        }

        void expect(char c) {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
        }

        void word(String w) {
            if (!s.startsWith(w, i)) {
                throw error("unexpected character");
            }
            i += w.length();
        }

        String string() {
            i++;
            StringBuilder b = new StringBuilder();
            while (true) {
                if (i >= s.length()) {
                    throw error("unterminated string");
                }
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c < 0x20) {
                    throw error("control character in a string");
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (i >= s.length()) {
                    throw error("unterminated string");
                }
                char e = s.charAt(i++);
                switch (e) {
                    case '"': b.append('"'); break;
                    case '\\': b.append('\\'); break;
                    case '/': b.append('/'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'n': b.append('\n'); break;
                    case 'r': b.append('\r'); break;
                    case 't': b.append('\t'); break;
                    case 'u':
                        if (i + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        try {
                            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        } catch (NumberFormatException x) {
                            throw error("bad \\u escape");
                        }
                        i += 4;
                        break;
                    default:
                        throw error("bad escape");
                }
            }
        }

        Object number() {
            int start = i;
            boolean decimal = false;
            if (peek('-')) {
                // sign
            }
            int digits = i;
            while (i < s.length() && Character.isDigit(s.charAt(i))) {
                i++;
            }
            if (i == digits) {
                throw error("unexpected character");
            }
            if (peek('.')) {
                decimal = true;
                int frac = i;
                while (i < s.length() && Character.isDigit(s.charAt(i))) {
                    i++;
                }
                if (i == frac) {
                    throw error("digits expected after '.'");
                }
            }
            if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
                decimal = true;
                i++;
                if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                    i++;
                }
                int exp = i;
                while (i < s.length() && Character.isDigit(s.charAt(i))) {
                    i++;
                }
                if (i == exp) {
                    throw error("digits expected in the exponent");
                }
            }
            String n = s.substring(start, i);
            if (decimal) {
                return Double.valueOf(n);
            }
            BigInteger big = new BigInteger(n);
            if (big.bitLength() < 32) {
                return big.intValue();
            }
            if (big.bitLength() < 64) {
                return big.longValue();
            }
            return big;
        }
    }

    // ---- Writing ----

    static String write(Object v) {
        StringBuilder b = new StringBuilder();
        write(v, b, 0);
        return b.toString();
    }

    private static void write(Object v, StringBuilder b, int depth) {
        if (depth > MAX_DEPTH) {
            throw new MappingException("The value nests deeper than " + MAX_DEPTH + " (a cycle?)");
        }
        if (v == null) {
            b.append("null");
        } else if (v instanceof CharSequence || v instanceof Character) {
            quote(v.toString(), b);
        } else if (v instanceof Boolean) {
            b.append(v);
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isFinite(d)) {
                b.append(v);
            } else {
                quote(v.toString(), b);
            }
        } else if (v instanceof Number) {
            b.append(v);
        } else if (v instanceof Enum) {
            quote(((Enum<?>) v).name(), b);
        } else if (v instanceof Optional) {
            write(((Optional<?>) v).orElse(null), b, depth + 1);
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                quote(String.valueOf(e.getKey()), b);
                b.append(':');
                write(e.getValue(), b, depth + 1);
            }
            b.append('}');
        } else if (v instanceof Iterable) {
            b.append('[');
            boolean first = true;
            for (Object o : (Iterable<?>) v) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                write(o, b, depth + 1);
            }
            b.append(']');
        } else if (v instanceof byte[]) {
            quote(Base64.getEncoder().encodeToString((byte[]) v), b);
        } else if (v instanceof java.nio.ByteBuffer) {
            quote(Events.base64((java.nio.ByteBuffer) v), b);
        } else if (v.getClass().isArray()) {
            b.append('[');
            for (int k = 0, n = Array.getLength(v); k < n; k++) {
                if (k > 0) {
                    b.append(',');
                }
                write(Array.get(v, k), b, depth + 1);
            }
            b.append(']');
        } else if (v instanceof java.util.Date) {
            b.append(((java.util.Date) v).getTime());
        } else if (isScalarText(v.getClass())) {
            quote(v.toString(), b);
        } else {
            b.append('{');
            boolean first = true;
            Map<String, Object> properties = Events.isS3(v.getClass()) ? Events.readS3(v) : Bean.of(v.getClass()).read(v);
            for (Map.Entry<String, Object> e : properties.entrySet()) {
                if (e.getValue() == null) {
                    continue;
                }
                if (!first) {
                    b.append(',');
                }
                first = false;
                quote(e.getKey(), b);
                b.append(':');
                write(e.getValue(), b, depth + 1);
            }
            b.append('}');
        }
    }

    /** Values written as their text: UUIDs, URIs, paths, java.time values. */
    private static boolean isScalarText(Class<?> c) {
        String n = c.getName();
        return n.startsWith("java.time.") || n.startsWith("org.joda.time.") || c == java.util.UUID.class || c == java.net.URI.class
                || c == java.net.URL.class || java.nio.file.Path.class.isAssignableFrom(c)
                || c == java.io.File.class || c == Class.class;
    }

    static void quote(String s, StringBuilder b) {
        b.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                case '\b': b.append("\\b"); break;
                case '\f': b.append("\\f"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }

    // ---- Mapping JSON values to Java types ----

    static Class<?> raw(Type t) {
        if (t instanceof Class) {
            return (Class<?>) t;
        }
        if (t instanceof ParameterizedType) {
            return (Class<?>) ((ParameterizedType) t).getRawType();
        }
        if (t instanceof GenericArrayType) {
            return Array.newInstance(raw(((GenericArrayType) t).getGenericComponentType()), 0).getClass();
        }
        if (t instanceof WildcardType) {
            return raw(((WildcardType) t).getUpperBounds()[0]);
        }
        if (t instanceof TypeVariable) {
            return raw(((TypeVariable<?>) t).getBounds()[0]);
        }
        return Object.class;
    }

    private static Type arg(Type t, int k) {
        if (t instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) t).getActualTypeArguments();
            if (k < args.length) {
                return args[k];
            }
        }
        return Object.class;
    }

    private static String kind(Object v) {
        if (v instanceof Map) {
            return "an object";
        }
        if (v instanceof List) {
            return "an array";
        }
        if (v instanceof String) {
            return "a string";
        }
        if (v instanceof Boolean) {
            return "a boolean";
        }
        return "a number";
    }

    private static MappingException cannot(Object v, Type t) {
        return new MappingException("Cannot map " + kind(v) + " to " + t.getTypeName());
    }

    /** {@code v} (as {@link #parse} makes it) as a value of type {@code t}. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static Object convert(Object v, Type t) {
        Class<?> c = raw(t);
        if (v == null) {
            return c.isPrimitive() ? primitiveZero(c) : null;
        }
        if (c == Object.class) {
            return v;
        }
        Object special = Events.scalar(v, c);
        if (special != Events.NONE) {
            return special;
        }
        if (c == String.class || c == CharSequence.class) {
            if (v instanceof Map || v instanceof List) {
                throw cannot(v, t);
            }
            return v.toString();
        }
        if (c.isPrimitive() || Number.class.isAssignableFrom(c) || c == Boolean.class
                || c == Character.class) {
            return scalar(v, c, t);
        }
        if (c.isEnum()) {
            if (!(v instanceof String)) {
                throw cannot(v, t);
            }
            try {
                return Enum.valueOf((Class<Enum>) c, (String) v);
            } catch (IllegalArgumentException e) {
                throw new MappingException("\"" + v + "\" is not one of the values of " + c.getName());
            }
        }
        if (c == byte[].class && v instanceof String) {
            return Base64.getDecoder().decode((String) v);
        }
        if (c.isArray()) {
            List<?> l = asList(v, t);
            Type component = t instanceof GenericArrayType
                    ? ((GenericArrayType) t).getGenericComponentType()
                    : c.getComponentType();
            Object a = Array.newInstance(c.getComponentType(), l.size());
            for (int k = 0; k < l.size(); k++) {
                Array.set(a, k, convert(l.get(k), component));
            }
            return a;
        }
        if (Collection.class.isAssignableFrom(c) || c == Iterable.class) {
            List<?> l = asList(v, t);
            Collection out;
            if (!c.isInterface() && !Modifier.isAbstract(c.getModifiers())) {
                out = (Collection) instantiate(c);
            } else if (Set.class.isAssignableFrom(c)) {
                out = new LinkedHashSet<>();
            } else {
                out = new ArrayList<>();
            }
            for (Object o : l) {
                out.add(convert(o, arg(t, 0)));
            }
            return out;
        }
        if (Map.class.isAssignableFrom(c)) {
            if (!(v instanceof Map)) {
                throw cannot(v, t);
            }
            Map out = !c.isInterface() && !Modifier.isAbstract(c.getModifiers())
                    ? (Map) instantiate(c)
                    : new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                out.put(convert(e.getKey(), arg(t, 0)), convert(e.getValue(), arg(t, 1)));
            }
            return out;
        }
        if (c == Optional.class) {
            return Optional.ofNullable(convert(v, arg(t, 0)));
        }
        if (!(v instanceof Map)) {
            throw cannot(v, t);
        }
        return Events.isS3(c) ? Events.makeS3(c, (Map<String, Object>) v) : Bean.of(c).make((Map<String, Object>) v);
    }

    private static List<?> asList(Object v, Type t) {
        if (v instanceof List) {
            return (List<?>) v;
        }
        throw cannot(v, t);
    }

    private static Object primitiveZero(Class<?> c) {
        if (c == boolean.class) {
            return false;
        }
        if (c == char.class) {
            return '\0';
        }
        return scalar(0, c, c);
    }

    private static Object scalar(Object v, Class<?> c, Type t) {
        if (c == boolean.class || c == Boolean.class) {
            if (v instanceof Boolean) {
                return v;
            }
            if ("true".equals(v) || "false".equals(v)) {
                return Boolean.valueOf((String) v);
            }
            throw cannot(v, t);
        }
        if (c == char.class || c == Character.class) {
            if (v instanceof String && ((String) v).length() == 1) {
                return ((String) v).charAt(0);
            }
            throw cannot(v, t);
        }
        Number n;
        if (v instanceof Number) {
            n = (Number) v;
        } else if (v instanceof String) {
            try {
                n = new BigDecimal(((String) v).trim());
            } catch (NumberFormatException e) {
                throw new MappingException("\"" + v + "\" is not a number (" + t.getTypeName() + ")");
            }
        } else {
            throw cannot(v, t);
        }
        if (c == int.class || c == Integer.class) {
            return n.intValue();
        }
        if (c == long.class || c == Long.class) {
            return n.longValue();
        }
        if (c == double.class || c == Double.class) {
            return n.doubleValue();
        }
        if (c == float.class || c == Float.class) {
            return n.floatValue();
        }
        if (c == short.class || c == Short.class) {
            return n.shortValue();
        }
        if (c == byte.class || c == Byte.class) {
            return n.byteValue();
        }
        if (c == BigInteger.class) {
            return n instanceof BigInteger ? n : new BigDecimal(n.toString()).toBigInteger();
        }
        if (c == BigDecimal.class || c == Number.class) {
            return n instanceof BigDecimal ? n : new BigDecimal(n.toString());
        }
        throw cannot(v, t);
    }

    static Object instantiate(Class<?> c) {
        try {
            Constructor<?> k = c.getDeclaredConstructor();
            k.setAccessible(true);
            return k.newInstance();
        } catch (NoSuchMethodException e) {
            throw new MappingException(c.getName() + " has no constructor without arguments");
        } catch (ReflectiveOperationException | RuntimeException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new MappingException("Cannot make a " + c.getName() + ": " + cause);
        }
    }

    /** Jackson's property name of a getter or setter: {@code getURL} is {@code url}, {@code getFooBar} {@code fooBar}. */
    static String property(String accessor, int prefix) {
        String rest = accessor.substring(prefix);
        int k = 0;
        while (k < rest.length() && Character.isUpperCase(rest.charAt(k))) {
            k++;
        }
        return rest.substring(0, k).toLowerCase(Locale.ROOT) + rest.substring(k);
    }

    /** How a class's objects are read and made: its properties. */
    private static final class Bean {
        private static final Map<Class<?>, Bean> CACHE = new ConcurrentHashMap<>();

        final Class<?> type;
        /** One of Lambda's event classes: their JSON names and dates ({@link Events}). */
        final boolean event;
        /** Getters (or fields) by property name, in declaration order. */
        final Map<String, java.lang.reflect.AccessibleObject> readers = new LinkedHashMap<>();
        /** Setters (or fields) by property name in lower case. */
        final Map<String, java.lang.reflect.AccessibleObject> writers = new HashMap<>();

        static Bean of(Class<?> c) {
            return CACHE.computeIfAbsent(c, Bean::new);
        }

        private Bean(Class<?> c) {
            type = c;
            event = Events.isEvent(c);
            List<Field> fields = new ArrayList<>();
            for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
                for (Field f : k.getDeclaredFields()) {
                    int m = f.getModifiers();
                    if (!Modifier.isStatic(m) && !Modifier.isTransient(m) && !f.isSynthetic()) {
                        fields.add(f);
                    }
                }
            }
            Map<String, Method> getters = new LinkedHashMap<>();
            Map<String, Method> setters = new HashMap<>();
            Method[] methods = c.getMethods();
            java.util.Arrays.sort(methods, java.util.Comparator.comparing(Method::getName));
            for (Method m : methods) {
                if (Modifier.isStatic(m.getModifiers()) || m.isBridge() || m.getDeclaringClass() == Object.class) {
                    continue;
                }
                String n = m.getName();
                int params = m.getParameterCount();
                if (params == 0 && n.length() > 3 && n.startsWith("get") && m.getReturnType() != void.class) {
                    getters.putIfAbsent(property(n, 3), m);
                } else if (params == 0 && n.length() > 2 && n.startsWith("is")
                        && (m.getReturnType() == boolean.class || m.getReturnType() == Boolean.class)) {
                    getters.putIfAbsent(property(n, 2), m);
                } else if (params == 1 && n.length() > 3 && n.startsWith("set")) {
                    setters.putIfAbsent(property(n, 3).toLowerCase(Locale.ROOT), m);
                }
            }
            if (c.isRecord()) {
                for (RecordComponent rc : c.getRecordComponents()) {
                    readers.put(rc.getName(), rc.getAccessor());
                }
                return;
            }
            // Declared fields first (their order), then the other getters.
            for (Field f : fields) {
                Method g = getters.remove(f.getName());
                if (g != null) {
                    readers.put(f.getName(), g);
                } else if (Modifier.isPublic(f.getModifiers())) {
                    readers.put(f.getName(), f);
                }
            }
            readers.putAll(getters);
            if (event) {
                Map<String, java.lang.reflect.AccessibleObject> named = new LinkedHashMap<>();
                readers.forEach((k, r) -> named.put(Events.jsonName(c, k), r));
                readers.clear();
                readers.putAll(named);
            }
            for (Field f : fields) {
                String key = f.getName().toLowerCase(Locale.ROOT);
                // A public field, or a private one a getter shows (Jackson's inferred mutator).
                if (!setters.containsKey(key) && !Modifier.isFinal(f.getModifiers())
                        && (Modifier.isPublic(f.getModifiers()) || readers.containsKey(f.getName()))) {
                    writers.put(key, f);
                }
            }
            writers.putAll(setters);
        }

        Map<String, Object> read(Object o) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<String, java.lang.reflect.AccessibleObject> e : readers.entrySet()) {
                java.lang.reflect.AccessibleObject a = e.getValue();
                try {
                    a.trySetAccessible();
                    Object x = a instanceof Method ? ((Method) a).invoke(o) : ((Field) a).get(o);
                    out.put(e.getKey(), event ? Events.eventOut(x) : x);
                } catch (ReflectiveOperationException x) {
                    Throwable cause = x.getCause() != null ? x.getCause() : x;
                    throw new MappingException("Cannot read " + type.getName() + "." + e.getKey() + ": " + cause);
                }
            }
            return out;
        }

        Object make(Map<String, Object> v) {
            if (type.isRecord()) {
                Map<String, Object> lower = new HashMap<>();
                v.forEach((k, x) -> lower.put(k.toLowerCase(Locale.ROOT), x));
                RecordComponent[] rcs = type.getRecordComponents();
                Class<?>[] types = new Class<?>[rcs.length];
                Object[] args = new Object[rcs.length];
                for (int k = 0; k < rcs.length; k++) {
                    types[k] = rcs[k].getType();
                    args[k] = convert(lower.get(rcs[k].getName().toLowerCase(Locale.ROOT)), rcs[k].getGenericType());
                }
                try {
                    Constructor<?> ctor = type.getDeclaredConstructor(types);
                    ctor.trySetAccessible();
                    return ctor.newInstance(args);
                } catch (ReflectiveOperationException x) {
                    Throwable cause = x.getCause() != null ? x.getCause() : x;
                    throw new MappingException("Cannot make a " + type.getName() + ": " + cause);
                }
            }
            Object o = instantiate(type);
            for (Map.Entry<String, Object> e : v.entrySet()) {
                java.lang.reflect.AccessibleObject w = writers.get(e.getKey().toLowerCase(Locale.ROOT));
                if (w == null) {
                    continue; // unknown properties are ignored, as AWS's runtime does
                }
                try {
                    w.trySetAccessible();
                    if (w instanceof Method) {
                        Method m = (Method) w;
                        Type pt = m.getGenericParameterTypes()[0];
                        m.invoke(o, convert(event ? Events.eventValue(e.getValue(), pt) : e.getValue(), pt));
                    } else {
                        Field f = (Field) w;
                        f.set(o, convert(event ? Events.eventValue(e.getValue(), f.getGenericType()) : e.getValue(),
                                f.getGenericType()));
                    }
                } catch (ReflectiveOperationException x) {
                    Throwable cause = x.getCause() != null ? x.getCause() : x;
                    throw new MappingException("Cannot set " + type.getName() + "." + e.getKey() + ": " + cause);
                }
            }
            return o;
        }
    }
}
