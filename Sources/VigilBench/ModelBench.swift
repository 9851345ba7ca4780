// Model and pipeline entry points of the benchmark library (see VigilBench.swift): a Python
// script opens the same int8 ONNX file in Vigil's engine and in onnxruntime and times them
// alternately in one process.
import Faces
import FastKernels
import Imaging
import Inference
import Pipeline
import VigilCore

/// An open model session, handed to Python as an opaque pointer.
final class BenchModel {
    let session: InferenceSession
    let inputName: String
    let shape: [Int]
    init(path: String, size: Size?, backend: any Int8Backend = ReferenceBackend()) throws {
        session = try InferenceSession(model: try Model(contentsOf: path), backend: backend, inputSize: size)
        guard let input = session.inputs.first else { throw BenchFailure() }
        inputName = input.name
        var s = input.shape.map { $0 ?? 1 }
        if let size, s.count == 4 { s[2] = size.height; s[3] = size.width }
        shape = s
    }
}

struct BenchFailure: Error {}

/// Opens `path` (an ONNX model) on the reference backend; `w`/`h` > 0 fix a symbolic input size.
/// Returns nil on error (the error is printed).
@_cdecl("vigil_bench_model_open")
public func vigilBenchModelOpen(_ path: UnsafePointer<CChar>?, _ w: Int32, _ h: Int32) -> UnsafeMutableRawPointer? {
    vigilBenchModelOpenBackend(path, w, h, 0)
}

/// As `vigil_bench_model_open`, on a chosen backend: 0 reference, 1 fast (FastKernels, best ISA),
/// 2 fast scalar C, 3 fast AVX2, 4 fast AVX-512 VNNI.
@_cdecl("vigil_bench_model_open_backend")
public func vigilBenchModelOpenBackend(_ path: UnsafePointer<CChar>?, _ w: Int32, _ h: Int32, _ backend: Int32) -> UnsafeMutableRawPointer? {
    vigilBenchModelOpenThreads(path, w, h, backend, 1)
}

/// As `vigil_bench_model_open_backend`, with the fast backend's conv / fully connected kernels
/// split over `threads` threads (1: single-threaded; ignored by the reference backend).
@_cdecl("vigil_bench_model_open_threads")
public func vigilBenchModelOpenThreads(_ path: UnsafePointer<CChar>?, _ w: Int32, _ h: Int32, _ backend: Int32,
                                       _ threads: Int32) -> UnsafeMutableRawPointer? {
    guard let path else { return nil }
    let chosen: any Int8Backend = backend >= 1
        ? FastBackend(isa: FastBackend.ISA(rawValue: backend - 1) ?? .auto, threads: Int(max(threads, 1)))
        : ReferenceBackend()
    do {
        let m = try BenchModel(path: String(cString: path), size: w > 0 && h > 0 ? Size(width: Int(w), height: Int(h)) : nil, backend: chosen)
        return Unmanaged.passRetained(m).toOpaque()
    } catch {
        print("vigil_bench_model_open: \(error)")
        return nil
    }
}

/// Runs the model once on `count` float32 values (the input tensor, C order); copies the first
/// output's values (up to `out_capacity`) to `out`. Returns 0 on success.
@_cdecl("vigil_bench_model_run")
public func vigilBenchModelRun(
    _ handle: UnsafeMutableRawPointer?, _ input: UnsafePointer<Float>?, _ count: Int64,
    _ out: UnsafeMutablePointer<Float>?, _ outCapacity: Int64
) -> Int32 {
    guard let handle, let input, count > 0 else { return BenchStatus.invalidArgument.rawValue }
    let m = Unmanaged<BenchModel>.fromOpaque(handle).takeUnretainedValue()
    guard Int(count) == m.shape.reduce(1, *) else { return BenchStatus.invalidArgument.rawValue }
    // The in-place API (what the face models use): input written into the arena, the first
    // output copied out — the same two copies onnxruntime's Python binding makes.
    do {
        try m.session.run(fill: { _, buffer in
            buffer.baseAddress!.update(from: input, count: min(buffer.count, Int(count)))
        }, read: { i, values in
            guard i == 0, let out else { return }
            out.update(from: values.baseAddress!, count: min(values.count, Int(outCapacity)))
        })
    } catch { return BenchStatus.otherError.rawValue }
    return BenchStatus.ok.rawValue
}

/// The int8 multiply-accumulate peak of one core (MACs per second) on the fast backend's best
/// path, measured for about `seconds`.
@_cdecl("vigil_bench_int8_peak")
public func vigilBenchInt8Peak(_ seconds: Double) -> Double {
    FastBackend().measuredPeakMACsPerSecond(seconds: seconds)
}

/// The name of the fast backend's best path on this CPU (static storage, NUL-terminated).
@_cdecl("vigil_bench_isa")
public func vigilBenchISA() -> UnsafePointer<CChar>? {
    UnsafePointer(isaName)
}

nonisolated(unsafe) private let isaName: UnsafeMutablePointer<CChar> = {
    let s = Array("\(FastBackend.bestISA)".utf8CString)
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: s.count)
    p.initialize(from: s, count: s.count)
    return p
}()

@_cdecl("vigil_bench_model_close")
public func vigilBenchModelClose(_ handle: UnsafeMutableRawPointer?) {
    if let handle { Unmanaged<BenchModel>.fromOpaque(handle).release() }
}

/// The whole face path on one JPEG frame: scaled decode (long side ≤ 1280) → detection (whole
/// frame + tiles) → alignment → embedding of every face. Returns the number of faces embedded,
/// or -1 on error. The analyzer is built once per (detector, embedder) pair.
@_cdecl("vigil_bench_pipeline")
public func vigilBenchPipeline(
    _ jpeg: UnsafePointer<UInt8>?, _ length: Int64, _ detector: UnsafePointer<CChar>?, _ embedder: UnsafePointer<CChar>?
) -> Int32 {
    guard let jpeg, length > 0, let detector, let embedder else { return -1 }
    do {
        let analyzer = try pipelineAnalyzer(String(cString: detector), String(cString: embedder))
        let decoder = try JPEGDecoder()
        let img = try decoder.decode(UnsafeRawBufferPointer(start: jpeg, count: Int(length)), atLeast: Size(width: 1280, height: 720))
        return Int32(try analyzer.analyze(img, embed: true).filter { $0.embedding != nil }.count)
    } catch {
        print("vigil_bench_pipeline: \(error)")
        return -1
    }
}

/// Peak resident set size of this process in KiB (VmHWM), for the pipeline figure.
@_cdecl("vigil_bench_peak_rss_kib")
public func vigilBenchPeakRSS() -> Int64 {
    guard let s = try? readFile("/proc/self/status") else { return -1 }
    for line in String(decoding: s, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int64(line.split(separator: " ").dropFirst().first { Int64($0) != nil }.flatMap { Int64($0) } ?? -1)
    }
    return -1
}

nonisolated(unsafe) private var cachedAnalyzer: (String, String, FaceAnalyzer)?  // benchmark is single-threaded

private func pipelineAnalyzer(_ det: String, _ emb: String) throws -> FaceAnalyzer {
    if let c = cachedAnalyzer, c.0 == det, c.1 == emb { return c.2 }
    // The same work as the Python peer (scripts/models/blazeface.py detect_tiled): the whole
    // frame plus 2x2 overlapping tiles (731x412 at 1280x720), i.e. five detector runs per frame.
    let options = DetectionOptions(tileSize: Size(width: 731, height: 412), minOverlap: 100)
    let a = FaceAnalyzer(detector: try BlazeFaceModel(path: det), embedder: try DlibEmbedder(path: emb), options: options)
    cachedAnalyzer = (det, emb, a)
    return a
}
