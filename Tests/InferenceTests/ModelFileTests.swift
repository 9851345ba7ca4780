#if canImport(Glibc)
import Glibc
#endif
import Inference
import Testing
import VigilCore
import VigilTestSupport

/// Issue 16 item 7: a model path that is not a model file gives one clear error before anything
/// is read — a FIFO does not block, a file over the model limit is not loaded.
@Suite("Model files: bounded, regular files only")
struct ModelFileTests {
    func error(_ path: String) -> ModelError? {
        do { _ = try Model(contentsOf: path); return nil } catch { return error as? ModelError }
    }

    @Test func fifoDeviceAndOversizeAreRefused() {
        let dir = makeTempDirectory("model"); defer { removeTree(dir) }
        #expect(mkfifo(dir + "/m.onnx", 0o600) == 0)
        guard case .unreadable(let fifo) = error(dir + "/m.onnx") else { Issue.record("FIFO accepted"); return }
        #expect(fifo.contains("a FIFO"))
        guard case .unreadable(let zero) = error("/dev/zero") else { Issue.record("/dev/zero accepted"); return }
        #expect(zero.contains("a character device"))
        // sparse, one byte over the limit: refused by its size, never read
        let fd = open(dir + "/big.onnx", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0 && ftruncate(fd, off_t(Model.maximumFileSize + 1)) == 0)
        close(fd)
        guard case .tooLarge(let big) = error(dir + "/big.onnx") else { Issue.record("oversize model accepted"); return }
        #expect(big.contains("more than 64 MiB"))
    }
}
