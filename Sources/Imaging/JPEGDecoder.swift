import CTurboJPEG
import VigilCore

/// Decodes JPEG/MJPEG frames to RGB, downscaling inside the inverse DCT when the caller only
/// needs a smaller image.
///
/// Why a class: it owns a TurboJPEG decompressor handle (`tjInitDecompress`), which keeps its
/// libjpeg state and buffers between frames; reusing it avoids per-frame setup. The handle is not
/// thread-safe, so the type is deliberately not `Sendable`: keep one decoder per thread.
///
/// Robustness: corrupt data never traps. libjpeg's errors are caught by TurboJPEG (setjmp) and
/// come back as `ImagingError.corruptJPEG`; warnings are promoted to errors with
/// `TJFLAG_STOPONWARNING`, so a truncated frame is skipped instead of delivered half grey.
/// UVC cameras omit the Huffman tables (DHT) from MJPEG frames; libjpeg-turbo substitutes the
/// standard tables (JPEG Annex K.3) in that case, which the test suite verifies.
public final class JPEGDecoder {
    /// Frames whose header announces more than this are refused before any pixel memory is
    /// allocated (a corrupt SOF can claim 65500x65500 = 12 GB of RGB).
    public var maximumSize: Size = JPEGDecoder.defaultMaximumSize

    public static let defaultMaximumSize = Size(width: 8192, height: 8192)

    /// Replaced after every failed call (see `recover()`), hence `var`.
    private var handle: tjhandle

    /// TurboJPEG flags for every decode: warnings are errors; progressive files with absurd scan
    /// counts (a known CPU-exhaustion trick) are refused.
    private static let flags: Int32 = CTJ_FLAG_STOPONWARNING | CTJ_FLAG_LIMITSCANS

    /// Fails only if TurboJPEG cannot allocate a decompressor (reported as `corruptJPEG` with
    /// TurboJPEG's message, the contract having no allocation-failure case).
    public init() throws(ImagingError) {
        guard let h = tjInitDecompress() else {
            throw .corruptJPEG("tjInitDecompress failed: \(Self.text(tjGetErrorStr2(nil)))")
        }
        handle = h
    }

    deinit { tjDestroy(handle) }

    /// Reads size and chroma layout from the header without decoding pixels.
    ///
    /// Does not apply `maximumSize` (describing a huge file is harmless); `decode` does.
    public func header(_ jpeg: UnsafeRawBufferPointer) throws(ImagingError) -> JPEGHeader {
        guard jpeg.count >= 2, jpeg[0] == 0xFF, jpeg[1] == 0xD8, let base = jpeg.baseAddress else {
            throw .notJPEG
        }
        var width: Int32 = 0, height: Int32 = 0, subsamp: Int32 = -1, colorspace: Int32 = -1
        let rc = tjDecompressHeader3(
            handle, base.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count),
            &width, &height, &subsamp, &colorspace)
        guard rc == 0 else { throw .corruptJPEG(failureText()) }
        // A tables-only stream "succeeds" without dimensions (and primes the handle with its
        // tables, which would then silently apply to later DHT-less frames): corrupt, and reset.
        guard width > 0, height > 0 else {
            recover()
            throw .corruptJPEG("no image dimensions in header")
        }
        guard let subsampling = ChromaSubsampling(turboJPEG: subsamp) else {
            recover()
            throw .corruptJPEG("unknown chroma subsampling \(subsamp)")
        }
        return JPEGHeader(size: Size(width: Int(width), height: Int(height)), subsampling: subsampling)
    }

    /// The output size of a decode of a `size` image asked for `atLeast: target`: the smallest
    /// TurboJPEG reduction (1/8 ... 1, from `tjGetScalingFactors`) whose scaled size covers
    /// `target` in both dimensions, or `size` itself when no reduction does.
    ///
    /// "Covers", not "fits": detectors need at least their input size, and the caller finishes
    /// with a cheap bilinear resize from slightly above it.
    public static func scaledSize(of size: Size, atLeast target: Size) -> Size {
        let f = TurboJPEGScaling.factor(for: size, atLeast: target)
        return Size(width: f.scale(size.width), height: f.scale(size.height))
    }

    /// Decodes to a new image, DCT-scaled to `scaledSize(of:atLeast:)` (full size when `target`
    /// is nil).
    public func decode(_ jpeg: UnsafeRawBufferPointer, atLeast target: Size? = nil) throws(ImagingError) -> RGBImage {
        var image = RGBImage.empty
        try decode(jpeg, atLeast: target, into: &image)
        return image
    }

    /// Decodes into `image`, reusing its pixel buffer: with an unchanged output size (the normal
    /// case for a video stream) nothing is allocated.
    ///
    /// On error `image` may already have the new size, with unspecified pixels; drop the frame.
    public func decode(_ jpeg: UnsafeRawBufferPointer, atLeast target: Size?, into image: inout RGBImage) throws(ImagingError) {
        let header = try header(jpeg)
        let full = header.size
        guard full.width <= maximumSize.width, full.height <= maximumSize.height else {
            throw .imageTooLarge(full)
        }
        let factor = TurboJPEGScaling.factor(for: full, atLeast: target)
        let width = factor.scale(full.width), height = factor.scale(full.height)
        image.reshape(width: width, height: height)
        // Asking for exactly the chosen factor's size makes TurboJPEG pick that factor (it takes
        // the largest one that fits), so the output fills `image.pixels` exactly.
        let rc = image.pixels.withUnsafeMutableBufferPointer { dst -> Int32 in
            guard let src = jpeg.baseAddress, let out = dst.baseAddress else { return -1 }
            return tjDecompress2(
                handle, src.assumingMemoryBound(to: UInt8.self), UInt(jpeg.count), out,
                Int32(width), Int32(width * 3), Int32(height), Int32(TJPF_RGB.rawValue), Self.flags)
        }
        guard rc == 0 else { throw .corruptJPEG(failureText()) }
    }

    /// The handle's last error message (libjpeg's text for corrupt data), after which the handle
    /// is replaced by a fresh one.
    ///
    /// Why replace it: in TurboJPEG 2.1, `tjDecompressHeader3` returns from libjpeg's error
    /// longjmp without aborting the decompressor, so a header cut short (e.g. inside DQT) leaves
    /// libjpeg mid-marker and every later call on that handle fails the same way ("Bogus DQT
    /// index"), even for good frames. A new handle costs a few kilobytes and only happens on bad
    /// frames; it guarantees that one corrupt frame never poisons the stream.
    private func failureText() -> String {
        var text = Self.text(tjGetErrorStr2(handle))
        // With TJFLAG_STOPONWARNING a libjpeg warning (e.g. "Premature end of JPEG file") also
        // fails the call; say so, since the same text without the flag would be a soft warning.
        if tjGetErrorCode(handle) == CTJ_ERR_WARNING { text += " (warning treated as error)" }
        recover()
        return text
    }

    /// Swaps in a fresh decompressor; keeps the old one if allocation fails (best effort).
    private func recover() {
        guard let fresh = tjInitDecompress() else { return }
        tjDestroy(handle)
        handle = fresh
    }

    static func text(_ message: UnsafeMutablePointer<CChar>?) -> String {
        guard let message else { return "unknown TurboJPEG error" }
        var s = String(cString: message)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s.isEmpty ? "unknown TurboJPEG error" : s
    }
}
