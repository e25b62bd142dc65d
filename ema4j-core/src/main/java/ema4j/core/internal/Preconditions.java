package ema4j.core.internal;

/**
 * The two argument checks of the whole project, in one message form: {@code "<name> must be <rule>, was <value>"}.
 *
 * <p>Callers write the condition so that NaN fails it ({@code x > 0}, never {@code !(x <= 0)}).
 */
public final class Preconditions {
    private Preconditions() {}

    /**
     * Fails with {@link IllegalArgumentException} unless {@code condition} holds.
     *
     * @param condition the rule, already evaluated
     * @param name the argument's name as the user wrote it (a builder method or a CLI option)
     * @param rule what the value must be, e.g. {@code "> 0"} or {@code "in [0, 1]"}
     * @param value the value that was given
     */
    public static void requireArgument(boolean condition, String name, String rule, Object value) {
        if (!condition) {
            throw new IllegalArgumentException(name + " must be " + rule + ", was " + value);
        }
    }

    /**
     * Fails with {@link IllegalStateException} unless {@code condition} holds: the object is in the wrong phase
     * of its life for this call.
     *
     * @param condition the rule, already evaluated
     * @param message what is wrong and how to get out of it
     */
    public static void requireState(boolean condition, String message) {
        if (!condition) {
            throw new IllegalStateException(message);
        }
    }

}
