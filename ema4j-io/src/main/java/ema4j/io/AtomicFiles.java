package ema4j.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Replaces a file so that readers see either the old content or the whole new content, never a half-written file,
 * even when the writer fails midway or the machine loses power.
 *
 * <p>The recipe: write a temporary sibling {@code <name>.tmp-<random>}, force it to disk, rename it over the target
 * with {@link StandardCopyOption#ATOMIC_MOVE}, then force the parent directory so the rename itself is durable.
 * The sibling lives in the target's directory because a rename is atomic only within one file system.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** What goes into the file: writes the whole content into a fresh, empty channel. */
    @FunctionalInterface
    public interface Content {
        /**
         * Writes the content, starting at position 0; any exception aborts the replacement.
         *
         * @param channel the temporary file, open for writing; do not close it
         * @throws IOException when writing fails
         */
        void writeTo(FileChannel channel) throws IOException;
    }

    /**
     * Writes {@code content} to {@code target} atomically, replacing any file there.
     *
     * <p>When {@code content} or any step after it throws, the exception propagates unchanged, the old target is
     * left as it was and the temporary sibling is deleted. Safe to call from several threads for different targets;
     * concurrent writers of one target each succeed in turn and the last rename wins.
     *
     * @param target the file to create or replace; its directory must exist
     * @param content writes the new bytes
     * @throws java.nio.file.FileSystemException naming {@code target} when it is a directory, before anything is
     *     written
     * @throws IOException when the file system fails
     */
    public static void write(Path target, Content content) throws IOException {
        if (Files.isDirectory(target)) {
            throw new java.nio.file.FileSystemException(target.toString(), null, "is a directory where a file is to"
                    + " be written; name a file in it");
        }
        Path absolute = target.toAbsolutePath();
        Path directory = absolute.getParent();
        Path temporary = directory.resolve(absolute.getFileName() + ".tmp-"
                + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36));
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                content.writeTo(channel);
                channel.force(true);
            }
            Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(temporary);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        forceDirectory(directory);
    }

    /**
     * Flushes a directory's entries (creations, renames) to disk, where the file system allows it.
     *
     * @param directory the directory
     * @throws IOException when the file system fails
     */
    public static void forceDirectory(Path directory) throws IOException {
        // Only POSIX file systems can open a directory to fsync it; elsewhere (Windows) the rename is all we get.
        if (!directory.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            return;
        }
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
