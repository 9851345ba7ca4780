import CTurboJPEG
import VigilCore

/// Encodes RGB images to baseline JPEG with standard Huffman tables (snapshots, event clips,
/// test fixtures).
///
/// Why a class: it owns a TurboJPEG compressor handle (`tjInitCompress`), reused across calls and
/// freed in `deinit`. Not thread-safe, so not `Sendable`: one encoder per thread.
public final class JPEGEncoder {
    private let handle: tjhandle

    public init() throws(ImagingError) {
        guard let h = tjInitCompress() else {
            throw .encodeFailed("tjInitCompress failed: \(JPEGDecoder.text(tjGetErrorStr2(nil)))")
        }
        handle = h
    }

    deinit { tjDestroy(handle) }

    /// Encodes `image` at `quality` (1...100) with the given chroma layout.
    ///
    /// TurboJPEG allocates the output itself (`tjCompress2` with a null buffer); it is copied into
    /// a Swift array and released with `tjFree` on every path.
    public func encode(_ image: RGBImage, quality: Int = 85, subsampling: ChromaSubsampling = .s420) throws(ImagingError) -> [UInt8] {
        guard image.isWellFormed else {
            throw .encodeFailed("invalid image \(image.width)x\(image.height) with \(image.pixels.count) bytes")
        }
        guard (1...100).contains(quality) else { throw .encodeFailed("quality \(quality) outside 1...100") }
        guard image.width <= 65_500, image.height <= 65_500 else {
            throw .encodeFailed("image \(image.size) exceeds the JPEG limit of 65500")
        }
        var output: UnsafeMutablePointer<UInt8>? = nil
        var length: UInt = 0
        defer { if let output { tjFree(output) } }
        let rc = image.pixels.withUnsafeBufferPointer { src -> Int32 in
            guard let base = src.baseAddress else { return -1 }
            return tjCompress2(
                handle, base, Int32(image.width), Int32(image.width * 3), Int32(image.height),
                // Accurate DCT: encoding is off the per-frame path (snapshots, fixtures), so the
                // few percent it costs buy output that does not depend on the SIMD flavour.
                Int32(TJPF_RGB.rawValue), &output, &length, subsampling.turboJPEG, Int32(quality),
                CTJ_FLAG_ACCURATEDCT)
        }
        guard rc == 0, let output, length > 0 else {
            throw .encodeFailed(JPEGDecoder.text(tjGetErrorStr2(handle)))
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(length)))
    }
}
