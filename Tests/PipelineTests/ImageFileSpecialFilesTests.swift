#if canImport(Glibc)
import Glibc
#endif
import Pipeline
import Testing
import VigilCore
import VigilTestSupport

/// Issue 16 item 7: `vigil detect` (and every command loading a photo) gives one clear error for a
/// FIFO, a device or a directory, before reading anything; a FIFO never blocks.
@Suite("Still images: files that are not photos at all")
struct ImageFileSpecialFilesTests {
    func reason(_ path: String) -> String {
        do { _ = try ImageFile.load(path); return "loaded" } catch { return error.reason }
    }

    @Test func fifoIsRefusedWithoutBlocking() {
        let dir = makeTempDirectory("img"); defer { removeTree(dir) }
        #expect(mkfifo(dir + "/camera.jpg", 0o600) == 0)
        #expect(reason(dir + "/camera.jpg").contains("a FIFO, not a regular file"))
    }

    @Test func devicesAndDirectoriesAreRefusedBeforeReading() {
        #expect(reason("/dev/zero").contains("a character device, not a regular file"))
        #expect(reason("/tmp").contains("a directory, not a regular file"))
    }
}
