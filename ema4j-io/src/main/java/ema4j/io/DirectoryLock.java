package ema4j.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive lock on a directory for one writer, held on a {@code .lock} file in it (which names the holder's process
 * id) until {@link #close()} or the end of the process (the operating system releases it when the process dies, even killed), so that two processes,
 * or two writers in one, never write into one directory at once.
 */
public final class DirectoryLock implements AutoCloseable {
    /** The file in the directory that carries the lock. */
    public static final String FILE = ".lock";

    private final FileChannel channel;
    private final FileLock lock;

    private DirectoryLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Locks {@code directory}, creating it if missing.
     *
     * @param what what the writer does there, for the message when another holds the lock (e.g. "a training")
     * @throws InUseException when another writer holds the lock, saying so
     * @throws NotDirectoryException when {@code directory} is a file
     * @throws IOException when the file system fails
     */
    public static DirectoryLock acquire(Path directory, String what) throws IOException {
        if (Files.exists(directory) && !Files.isDirectory(directory)) {
            throw new NotDirectoryException(directory.toString());
        }
        Files.createDirectories(directory);
        FileChannel channel = FileChannel.open(directory.resolve(FILE), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException heldHere) {
            lock = null;
        }
        if (lock == null) {
            channel.close();
            String owner = Files.readString(directory.resolve(FILE), StandardCharsets.UTF_8).strip();
            throw new InUseException(directory + " is in use by " + what + " that is still running ("
                    + (owner.isEmpty() ? "" : "pid " + owner + ", ") + "holding " + directory.resolve(FILE)
                    + "); wait for it to end or choose another directory");
        }
        channel.truncate(0);
        channel.write(ByteBuffer.wrap(Long.toString(ProcessHandle.current().pid()).getBytes(StandardCharsets.UTF_8)),
                0);
        channel.force(false);
        return new DirectoryLock(channel, lock);
    }

    /** Another writer holds the lock on the directory: the message names it and what to do. */
    public static final class InUseException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        InUseException(String message) {
            super(message);
        }
    }

    /** Releases the lock; the lock file stays. */
    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
