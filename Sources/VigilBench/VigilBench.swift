// VigilBench: a C ABI over Vigil's hot paths, so a benchmark script can load the library with
// ctypes and time Vigil and its Python peer alternately in one process (same CPU state, same
// caches, same input bytes). Not used by the agent itself.
import Imaging
import Synchronization
import VigilCore

/// Status codes returned by the exported functions.
enum BenchStatus: Int32 {
    case ok = 0
    case invalidArgument = 1
    case notJPEG = 2
    case corruptJPEG = 3
    case imageTooLarge = 4
    /// `out_capacity` is smaller than the decoded image; `out_w`/`out_h` say what was needed.
    case outputTooSmall = 5
    case otherError = 6
}

/// The decoder and output image reused across calls, as the agent's capture loop reuses them:
/// the benchmark measures steady-state frames, not setup. Behind a mutex because ctypes callers
/// may use threads; uncontended locking costs nanoseconds.
/// @unchecked: `JPEGDecoder` is not thread-safe, but this state is only touched inside
/// `benchState.withLock`, one thread at a time.
private struct BenchState: @unchecked Sendable {
    var decoder: JPEGDecoder
    var image: RGBImage
}

private let benchState = Mutex<BenchState?>(nil)

/// Decodes the JPEG at `jpeg` (`length` bytes) with DCT scaling to at least
/// `target_w` x `target_h` (0 x 0: full size), copies the RGB pixels to `out_rgb` and stores the
/// decoded size in `out_w`/`out_h`. Returns a `BenchStatus` code (0 = ok).
@_cdecl("vigil_bench_decode_scaled")
public func vigilBenchDecodeScaled(
    _ jpeg: UnsafePointer<UInt8>?, _ length: Int64, _ targetW: Int32, _ targetH: Int32,
    _ outRGB: UnsafeMutablePointer<UInt8>?, _ outCapacity: Int64,
    _ outW: UnsafeMutablePointer<Int32>?, _ outH: UnsafeMutablePointer<Int32>?
) -> Int32 {
    guard let jpeg, length > 0, length <= Int64(Int.max), let outRGB, outCapacity >= 0,
          let outW, let outH, targetW >= 0, targetH >= 0 else {
        return BenchStatus.invalidArgument.rawValue
    }
    let input = UnsafeRawBufferPointer(start: jpeg, count: Int(length))
    let target: Size? = targetW == 0 && targetH == 0 ? nil : Size(width: Int(targetW), height: Int(targetH))
    let status: BenchStatus = benchState.withLock { state in
        if state == nil {
            guard let decoder = try? JPEGDecoder() else { return .otherError }
            state = BenchState(decoder: decoder, image: .empty)
        }
        guard var current = state.take() else { return .otherError }
        defer { state = current }
        do throws(ImagingError) {
            try current.decoder.decode(input, atLeast: target, into: &current.image)
        } catch {
            switch error {
            case .notJPEG: return .notJPEG
            case .corruptJPEG: return .corruptJPEG
            case .imageTooLarge: return .imageTooLarge
            default: return .otherError
            }
        }
        let image = current.image
        outW.pointee = Int32(image.width)
        outH.pointee = Int32(image.height)
        guard Int64(image.pixels.count) <= outCapacity else { return .outputTooSmall }
        image.pixels.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { outRGB.update(from: base, count: src.count) }
        }
        return .ok
    }
    return status.rawValue
}
