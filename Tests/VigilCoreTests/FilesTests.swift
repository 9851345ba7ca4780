#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import VigilCore
import VigilTestSupport

/// Issue 16 items 6 and 7: every whole-file read is bounded before it reads, refuses what is not
/// a regular file (without blocking on a FIFO), and refuses symbolic links in Vigil's own
/// directories; the atomic writer never writes through a link.
@Suite("Bounded, regular-file-only reads")
struct FilesTests {
    func expectRefused(_ errno: Errno, _ mentions: String, _ body: () throws(FileError) -> [UInt8],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let bytes = try body()
            Issue.record("read \(bytes.count) bytes, expected \(errno.name)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.errno == errno, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(mentions), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func regularFileWithinItsLimitIsRead() throws {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        try writeFileAtomically(dir + "/f", Array("hello".utf8))
        #expect(try readFile(dir + "/f", maximumBytes: 5) == Array("hello".utf8))
        #expect(try readFile(dir + "/f", maximumBytes: 5, symlinks: .refuse) == Array("hello".utf8))
        try writeFileAtomically(dir + "/empty", [])
        #expect(try readFile(dir + "/empty", maximumBytes: 0) == [])
        // a file of several read(2) calls' worth, and one of exactly the limit
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try writeFileAtomically(dir + "/big", big)
        #expect(try readFile(dir + "/big", maximumBytes: big.count) == big)
    }

    @Test func oversizeFileIsRefusedBeforeReading() throws {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        try writeFileAtomically(dir + "/f", [UInt8](repeating: 7, count: 2049))
        expectRefused(.fileTooLarge, "more than 2 KiB") { () throws(FileError) in try readFile(dir + "/f", maximumBytes: 2048) }
        // sparse: 1 TiB on paper, no blocks; refused from fstat, never allocated
        let fd = open(dir + "/sparse", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        #expect(ftruncate(fd, 1 << 40) == 0)
        close(fd)
        expectRefused(.fileTooLarge, "more than 1 MiB") { () throws(FileError) in try readFile(dir + "/sparse", maximumBytes: ReadLimit.config) }
        expectRefused(.fileTooLarge, "more than 512 MiB") { () throws(FileError) in try readFile(dir + "/sparse") }
    }

    /// A file that grows after its size was taken is stopped at the limit, not read to EOF.
    @Test func fileGrowingWhileReadStopsAtTheLimit() throws {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        let path = dir + "/log"
        try writeFileAtomically(path, [UInt8](repeating: 1, count: 10))
        let file = try ReadableFile(path)
        #expect(file.size == 10)
        let fd = open(path, O_WRONLY | O_APPEND)
        #expect(fd >= 0)
        let more = [UInt8](repeating: 2, count: 100_000)
        #expect(more.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) } == more.count)
        close(fd)
        do {
            let bytes = try file.readAll(maximumBytes: 1000)
            Issue.record("read \(bytes.count) bytes of a file grown past the limit")
        } catch {
            #expect(error.errno == .fileTooLarge, "\(error)")
        }
    }

    /// /proc files are regular but fstat says 0 bytes: the limit holds while reading.
    @Test func fileLargerThanFstatSaysStopsAtTheLimit() throws {
        expectRefused(.fileTooLarge, "more than 16 bytes") { () throws(FileError) in try readFile("/proc/self/maps", maximumBytes: 16) }
        #expect(try !readFile("/proc/self/maps", maximumBytes: 1 << 20).isEmpty)
    }

    @Test func devZeroIsRefusedAtOnce() {
        expectRefused(.invalidArgument, "a character device, not a regular file") { () throws(FileError) in try readFile("/dev/zero", maximumBytes: ReadLimit.bundle) }
        // the transitional overload, used by the call sites that do not name a limit yet
        expectRefused(.invalidArgument, "a character device") { () throws(FileError) in try readFile("/dev/zero") }
    }

    /// A FIFO with no writer: refused at once (before the fix the open blocked forever).
    @Test func fifoIsRefusedWithoutBlocking() {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        expectRefused(.invalidArgument, "a FIFO, not a regular file") { () throws(FileError) in try readFile(dir + "/fifo", maximumBytes: ReadLimit.config) }
        expectRefused(.invalidArgument, "a FIFO") { () throws(FileError) in try readFile(dir + "/fifo") }
    }

    @Test func directoryIsRefused() {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        expectRefused(.isADirectory, "a directory, not a regular file") { () throws(FileError) in try readFile(dir, maximumBytes: ReadLimit.config) }
    }

    /// In Vigil's own directories a link to another file (say, a root-only one) is never read.
    @Test func symlinkIsRefusedWhereAskedAndFollowedElsewhere() throws {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        try writeFileAtomically(dir + "/secret", Array("root only".utf8), mode: 0o600)
        #expect(symlink(dir + "/secret", dir + "/entry.hit") == 0)
        expectRefused(.tooManySymlinks, "a symbolic link, refused") { () throws(FileError) in
            try readFile(dir + "/entry.hit", maximumBytes: ReadLimit.hitRecord, symlinks: .refuse)
        }
        // an operator's own path on the command line may be a link
        #expect(try readFile(dir + "/entry.hit", maximumBytes: ReadLimit.hitRecord) == Array("root only".utf8))
        // a link to /dev/zero is refused either way
        #expect(symlink("/dev/zero", dir + "/zero") == 0)
        expectRefused(.invalidArgument, "a character device") { () throws(FileError) in try readFile(dir + "/zero", maximumBytes: ReadLimit.config) }
    }

    /// A link planted under the atomic writer's temporary name is not written through.
    @Test func atomicWriteNeverWritesThroughALink() throws {
        let dir = makeTempDirectory("files"); defer { removeTree(dir) }
        try writeFileAtomically(dir + "/victim", Array("keep".utf8))
        #expect(symlink(dir + "/victim", dir + "/state") == 0)
        try writeFileAtomically(dir + "/state", Array("new".utf8))
        #expect(try readFile(dir + "/victim", maximumBytes: 64) == Array("keep".utf8))
        #expect(try readFile(dir + "/state", maximumBytes: 64, symlinks: .refuse) == Array("new".utf8))
    }

    @Test func limitsAreNamedInMessages() {
        let e = FileError(path: "/x", operation: "read", errno: .fileTooLarge)
        #expect(e.description == "/x: cannot read: EFBIG: File too large")
        #expect(Errno.tooManySymlinks.name == "ELOOP" && Errno.isADirectory.name == "EISDIR")
    }
}
