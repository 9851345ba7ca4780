// VigilFuzz: libFuzzer harnesses for every parser of outside bytes (see Tests/fuzz/README.md).
//
// One executable, the harness picked at run time by $VIGIL_FUZZ_TARGET. Two builds:
//   * fuzz build (-sanitize=fuzzer -DVIGIL_FUZZ -parse-as-library): libFuzzer provides `main` and
//     calls LLVMFuzzerTestOneInput below;
//   * normal build: the @main below replays files: `VIGIL_FUZZ_TARGET=x VigilFuzz FILE...` runs the
//     harness once per file and exits 0 (a crash kills the process).
// Either build writes the seed corpora with `VIGIL_FUZZ_MKSEEDS=DIR` (the only file writes here).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Inputs above this are ignored (each call must stay fast).
let maximumInput = 1 << 20

enum Harnesses {
    nonisolated(unsafe) static let all: [String: ([UInt8]) -> Void] = [
        "onnx": FuzzONNX.run,
        "watchlist-bundle": FuzzWatchlist.bundle,
        "watchlist-manifest": FuzzWatchlist.manifest,
        "hit-record": FuzzHits.run,
        "config-toml": FuzzConfig.run,
        "console": FuzzConsole.run,
        "mjpeg": FuzzMJPEG.run,
        "png": FuzzImages.png,
        "webp": FuzzImages.webp,
        "shape-predictor": FuzzShapePredictor.run,
        "audit-log": FuzzAudit.run,
    ]

    static func selected() -> ([UInt8]) -> Void {
        let name = getenv("VIGIL_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let h = all[name] else {
            let names = all.keys.sorted().joined(separator: ", ")
            warn("VigilFuzz: set VIGIL_FUZZ_TARGET to one of: \(names) (got '\(name)')\n")
            exit(2)
        }
        return h
    }

    /// `VIGIL_FUZZ_MKSEEDS=DIR`: writes DIR/<target>/* and exits.
    static func makeSeedsIfAsked() {
        guard let d = getenv("VIGIL_FUZZ_MKSEEDS") else { return }
        let dir = String(cString: d)
        do {
            try Seeds.writeAll(to: dir)
            exit(0)
        } catch {
            warn("VigilFuzz: writing seeds failed: \(error)\n")
            exit(1)
        }
    }
}

nonisolated(unsafe) var harness: (([UInt8]) -> Void)?

#if VIGIL_FUZZ
// SwiftPM links a Linux executable with `--defsym main=VigilFuzz_main` (so that tests can link
// executables), which takes `main` away from libFuzzer: this is that entry point, and it hands
// over to libFuzzer's driver (LLVMFuzzerRunDriver, LLVM >= 12) with the harness below.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("VigilFuzz_main")
public func vigilFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzOne(data, size) })
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    Harnesses.makeSeedsIfAsked()
    harness = Harnesses.selected()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size <= maximumInput else { return 0 }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    harness!(bytes)
    return 0
}
#else
@main
struct VigilFuzzReplay {
    static func main() {
        Harnesses.makeSeedsIfAsked()
        let h = Harnesses.selected()
        let files = CommandLine.arguments.dropFirst()
        if files.isEmpty {
            warn("usage: VIGIL_FUZZ_TARGET=NAME VigilFuzz FILE...   (or VIGIL_FUZZ_MKSEEDS=DIR VigilFuzz)\n")
            exit(2)
        }
        for f in files {
            guard let bytes = readWholeFile(f) else {
                warn("VigilFuzz: cannot read \(f)\n")
                exit(1)
            }
            if bytes.count <= maximumInput { h(bytes) }
            print("ok \(f)")
        }
    }
}
#endif

func readWholeFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, 65536, f) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

func writeWholeFile(_ path: String, _ bytes: [UInt8]) throws {
    guard let f = fopen(path, "wb") else { throw SeedError.cannotWrite(path) }
    defer { fclose(f) }
    let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
    guard n == bytes.count else { throw SeedError.cannotWrite(path) }
}

enum SeedError: Error { case cannotWrite(String), failed(String) }

func warn(_ s: String) {
    var s = s
    s.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// `VIGIL_FUZZ_VERBOSE=1`: say how deep each input got (to check that the seeds reach the end).
let verbose = getenv("VIGIL_FUZZ_VERBOSE") != nil
func note(_ s: @autoclosure () -> String) { if verbose { warn("  " + s() + "\n") } }
