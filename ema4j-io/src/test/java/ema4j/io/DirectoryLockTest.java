package ema4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DirectoryLockTest {
    @TempDir
    Path directory;

    @Test
    void aSecondWriterIsRefusedUntilTheFirstReleasesTheLock() throws Exception {
        Path out = directory.resolve("run");
        try (DirectoryLock first = DirectoryLock.acquire(out, "a training")) {
            assertThat(out.resolve(DirectoryLock.FILE)).exists();
            assertThatThrownBy(() -> DirectoryLock.acquire(out, "a training"))
                    .isInstanceOf(DirectoryLock.InUseException.class)
                    .hasMessage(out + " is in use by a training that is still running (pid "
                            + ProcessHandle.current().pid() + ", holding " + out.resolve(DirectoryLock.FILE)
                            + "); wait for it to end or choose another directory");
        }
        try (DirectoryLock again = DirectoryLock.acquire(out, "a training")) {
            assertThat(again).isNotNull();
        }
    }
}
