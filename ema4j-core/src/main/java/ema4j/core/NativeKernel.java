package ema4j.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Objects;

/**
 * The float32 update as a compiled loop ({@code src/main/c/ema4j_kernel.c}) called through JNI: the arithmetic of
 * {@link FloatShadow#averageScalar} ({@code fma(a, w - e, e)} per element), so the same bits, and the same stop at
 * the first non-finite weight. It runs at the speed of a C loop over plain arrays, where the JIT's code for the
 * Vector API loop over off-heap weights stays a few percent below it (docs/PERFORMANCE.md).
 *
 * <p>The jar carries the library for the platform it was built on, under {@code ema4j/core/native/<os>-<arch>/}
 * (Linux x86-64 when the build found gcc). The first use copies it to a temporary file, loads it and deletes the
 * file. Where the jar has none for this platform, or it does not load, {@link #AVAILABLE} is false, {@link #status()}
 * says why, and the Vector API or scalar kernel runs: the same bits, a little slower. {@code -Dema4j.native=false}
 * turns it off; {@code -Dema4j.nativeLibrary=/path/to/libema4j_kernel.so} loads a library built elsewhere from the
 * same source (for another platform: {@code gcc -O3 -ffp-contract=off -fPIC -shared -DEMA4J_SINGLE_TARGET
 * -I$JAVA_HOME/include -I$JAVA_HOME/include/<os> ...}). JDK 24 and later warn once about the loading unless the JVM
 * runs with {@code --enable-native-access=ALL-UNNAMED}, as for any JNI library.
 */
final class NativeKernel {
    /** Weights per native call: the JVM may hold off its garbage collector for the length of one. */
    private static final int CHUNK = 1 << 20;
    private static final String LIBRARY = "libema4j_kernel.so";
    private static final Loading LOADING = load();

    /** Whether the compiled kernel is loaded and turned on. */
    static final boolean AVAILABLE = LOADING.loaded();

    private NativeKernel() {}

    /** What became of the library: loaded, and one line for a person saying which, or why there is none. */
    private record Loading(boolean loaded, String status) {}

    /** One line for a person: the library loaded, or why there is none. */
    static String status() {
        return LOADING.status();
    }

    /** This platform's resource folder, such as {@code ema4j/core/native/linux-x86_64}. */
    static String platformFolder() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "");
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return "ema4j/core/native/" + os + "-" + (arch.equals("amd64") ? "x86_64" : arch);
    }

    private static Loading load() {
        if ("false".equals(System.getProperty("ema4j.native"))) {
            return new Loading(false, "turned off by -Dema4j.native=false");
        }
        String path = System.getProperty("ema4j.nativeLibrary");
        if (path != null) {
            try {
                System.load(Path.of(path).toAbsolutePath().toString());
                return new Loading(true, "loaded " + path + " (-Dema4j.nativeLibrary)");
            } catch (LinkageError | SecurityException | InvalidPathException e) {
                return new Loading(false, "-Dema4j.nativeLibrary=" + path + " did not load: " + e);
            }
        }
        String resource = platformFolder() + "/" + LIBRARY;
        try (InputStream in = NativeKernel.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                return new Loading(false, "none in this jar for this platform (" + resource + ")");
            }
            Path file = Files.createTempFile("ema4j_kernel", ".so");
            try {
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                System.load(file.toAbsolutePath().toString());
            } finally {
                Files.deleteIfExists(file);
            }
            return new Loading(true, "loaded " + resource);
        } catch (IOException | LinkageError | SecurityException e) {
            return new Loading(false, resource + " did not load: " + e);
        }
    }

    /**
     * Averages {@code e[from, to)} towards the float32 weights in {@code live} (direct, native byte order, weight 0 at
     * its position) with weight {@code a}, up to the first non-finite weight, which is left untouched; returns that
     * weight's index, or -1 when all were averaged. Only when {@link #AVAILABLE}.
     *
     * @throws IndexOutOfBoundsException when the range lies outside the shadow or the buffer
     */
    static int average(float[] e, ByteBuffer live, float a, int from, int to) {
        Preconditions.requireArgument(live.isDirect() && live.order() == ByteOrder.nativeOrder(),
                "live", "a direct buffer in native byte order", live);
        Objects.checkFromToIndex(from, to, Math.min(e.length, live.remaining() / Float.BYTES));
        // end never passes to, so no index overflows even for an array near Integer.MAX_VALUE floats
        for (int start = from, end; start < to; start = end) {
            end = to - start > CHUNK ? start + CHUNK : to;
            int bad = average0(e, live, live.position(), a, start, end);
            if (bad == -2) {
                throw new OutOfMemoryError("the JVM could not give the native kernel a shadow of " + e.length
                        + " floats");
            }
            if (bad >= 0) {
                return bad;
            }
        }
        return -1;
    }

    private static native int average0(float[] e, ByteBuffer live, long offset, float a, int from, int to);
}
