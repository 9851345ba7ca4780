// Issue 16, items 7 and 9: the configuration file is read bounded, never blocks, and is refused
// when others could rewrite it. Before the fix a 0666 config loaded, /dev/zero was read until
// memory ran out and a FIFO blocked `config check` for ever.
#if canImport(Glibc)
import Glibc
#endif
import Config
import Testing
import VigilCore
import VigilTestSupport

@Suite("Configuration file: modes, special files, size (issue 16)")
struct ConfigFileTests {
    let dir = makeTempDirectory("configfile")
    let text = "[device]\nid = \"cam-1\"\n"

    func write(_ name: String, _ bytes: [UInt8], mode: mode_t) -> String {
        let p = dir + "/" + name
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        bytes.withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        chmod(p, mode)
        return p
    }

    func reason(_ path: String) -> String? {
        do { _ = try ConfigStore.load(path); return nil } catch { return "\(error)" }
    }

    @Test(arguments: [0o666, 0o646, 0o664] as [mode_t])
    func othersMayNotRewriteIt(_ mode: mode_t) {
        let p = write("vigil.toml", Array(text.utf8), mode: mode)
        let r = reason(p)
        #expect(r?.contains("permissions \(String(mode, radix: 8)) let others rewrite the configuration") == true, "\(r ?? "loaded")")
    }

    @Test(arguments: [0o600, 0o640, 0o644] as [mode_t])
    func ownerWritableLoads(_ mode: mode_t) {
        #expect(reason(write("vigil.toml", Array(text.utf8), mode: mode)) == nil)
    }

    @Test func devZeroIsRefusedBeforeReading() {
        let r = reason("/dev/zero")
        #expect(r?.contains("a character device, not a regular file") == true, "\(r ?? "loaded")")
    }

    @Test func aFIFOIsRefusedWithoutBlocking() {
        let p = dir + "/fifo.toml"
        #expect(mkfifo(p, 0o600) == 0)
        let r = reason(p)  // would block for ever on an open without O_NONBLOCK
        #expect(r?.contains("not a regular file") == true, "\(r ?? "loaded")")
    }

    @Test func aFileOverOneMiBIsRefused() {
        let p = write("big.toml", [UInt8](repeating: 0x23, count: (1 << 20) + 1), mode: 0o600)
        #expect(reason(p)?.contains("larger than 1 MiB") == true)
    }
}
