package ema4j.core;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The version of ema4j, as the build wrote it from the POM into {@code ema4j/core/version.properties}: what the
 * command's {@code --version} prints and what checkpoint manifests record. Thread-safe.
 */
public final class Ema4jVersion {
    private static final String UNKNOWN = "unknown";
    private static final String VERSION = read();

    private Ema4jVersion() {}

    /**
     * The version, e.g. {@code 0.1.0}; {@code "unknown"} for classes compiled without Maven's resource filtering
     * (e.g. by an IDE alone).
     */
    public static String version() {
        return VERSION;
    }

    /** {@code "ema4j <version>"}, as checkpoint manifests and {@code ema4j --version} show it. */
    public static String label() {
        return "ema4j " + VERSION;
    }

    private static String read() {
        try (InputStream in = Ema4jVersion.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return UNKNOWN;
            }
            Properties properties = new Properties();
            properties.load(in);
            String version = properties.getProperty("version", UNKNOWN).strip();
            // an unfiltered copy still holds the placeholder
            return version.isEmpty() || version.startsWith("${") ? UNKNOWN : version;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read ema4j's version.properties", e);
        }
    }
}
