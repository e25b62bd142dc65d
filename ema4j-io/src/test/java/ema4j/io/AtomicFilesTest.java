package ema4j.io;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path directory;

    @Test
    void writesANewFile() throws IOException {
        Path target = directory.resolve("state.bin");

        AtomicFiles.write(target, channel -> channel.write(ByteBuffer.wrap("new".getBytes(UTF_8))));

        assertThat(target).hasContent("new");
        assertThat(listing()).containsExactly("state.bin");
    }

    @Test
    void replacesAnExistingFileWhole() throws IOException {
        Path target = Files.writeString(directory.resolve("state.bin"), "old content that is longer");

        AtomicFiles.write(target, channel -> channel.write(ByteBuffer.wrap("new".getBytes(UTF_8))));

        assertThat(target).hasContent("new");
        assertThat(listing()).containsExactly("state.bin");
    }

    @Test
    void theContentGoesToATemporarySiblingUntilItIsComplete() throws IOException {
        Path target = Files.writeString(directory.resolve("state.bin"), "old");

        AtomicFiles.write(target, channel -> {
            channel.write(ByteBuffer.wrap("new".getBytes(UTF_8)));
            assertThat(target).hasContent("old");
            assertThat(listing()).hasSize(2).contains("state.bin")
                    .anySatisfy(name -> assertThat(name).startsWith("state.bin.tmp-"));
        });

        assertThat(target).hasContent("new");
    }

    @Test
    void aWriterFailingMidwayLeavesTheOldFileIntactAndNoTemporaryFile() throws IOException {
        Path target = Files.writeString(directory.resolve("state.bin"), "old");
        IOException failure = new IOException("disk full");

        assertThatThrownBy(() -> AtomicFiles.write(target, channel -> {
            channel.write(ByteBuffer.wrap("half of the new con".getBytes(UTF_8)));
            throw failure;
        })).isSameAs(failure);

        assertThat(target).hasContent("old");
        assertThat(listing()).containsExactly("state.bin");
    }

    @Test
    void anUncheckedFailureAlsoLeavesNoTrace() throws IOException {
        Path target = directory.resolve("state.bin");

        assertThatThrownBy(() -> AtomicFiles.write(target, channel -> {
            channel.write(ByteBuffer.wrap("partial".getBytes(UTF_8)));
            throw new IllegalStateException("callback broke");
        })).isInstanceOf(IllegalStateException.class).hasMessage("callback broke");

        assertThat(listing()).isEmpty();
    }

    @Test
    void aMissingDirectoryIsAnIoError() {
        Path target = directory.resolve("missing").resolve("state.bin");

        assertThatThrownBy(() -> AtomicFiles.write(target, channel -> {})).isInstanceOf(NoSuchFileException.class);
    }

    private List<String> listing() throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.map(path -> path.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aTargetThatIsADirectoryIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path folder = Files.createDirectory(directory.resolve("plots"));
        assertThatThrownBy(() -> AtomicFiles.write(folder, channel -> channel.write(ByteBuffer.wrap(new byte[1]))))
                .isInstanceOf(java.nio.file.FileSystemException.class)
                .hasMessage(folder + ": is a directory where a file is to be written; name a file in it");
        assertThat(listing()).containsExactly("plots");
    }
}
