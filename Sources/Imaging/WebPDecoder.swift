import CWebP
import VigilCore

/// Decodes WebP files (lossy VP8, lossless VP8L, extended VP8X with alpha) to RGB, with libwebp.
///
/// Decisions, shared with `PNGDecoder` so both formats give the same pixels:
/// - **Alpha is composited onto black** (`c * a / 255`, rounded, as in `PNGDecoder`). Decoding straight to RGB would
///   drop alpha and show the stored colour of transparent pixels, which WebP encoders
///   deliberately rewrite to whatever compresses best.
/// - **Animated WebP is refused** (`unsupported`): libwebp's still decoder cannot read it, and
///   picking a frame needs libwebpdemux for one rare case; the error says how to get a still.
/// - **Truncation is an error**: the RIFF size must fit in the data, so a cut-short file is
///   refused whole rather than decoded with its last rows missing.
///
/// Memory: the size comes from the headers first (WebPGetFeatures) and anything above
/// `maximumPixels` is refused before allocation; libwebp then decodes into a buffer we own (no
/// WebPFree of library memory). Stateless, hence static functions; thread-safe.
public enum WebPDecoder {
    /// "RIFF" <little-endian size> "WEBP".
    public static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 12 && bytes[0] == 0x52 && bytes[1] == 0x49 && bytes[2] == 0x46 && bytes[3] == 0x46
            && bytes[8] == 0x57 && bytes[9] == 0x45 && bytes[10] == 0x42 && bytes[11] == 0x50
    }

    /// Size, alpha and animation flags from the headers, without decoding pixels or applying any
    /// limit.
    public static func features(_ webp: UnsafeRawBufferPointer) throws(ImagingError) -> (size: Size, hasAlpha: Bool, isAnimated: Bool) {
        var f = WebPBitstreamFeatures()
        try readFeatures(webp, &f)
        return (Size(width: Int(f.width), height: Int(f.height)), f.has_alpha != 0, f.has_animation != 0)
    }

    /// Decodes to 8-bit RGB (alpha composited onto black). Throws `notWebP`, `imageTooLarge`
    /// (checked before allocation), `unsupported` (animation) or `corrupt(format: .webp, ...)`.
    public static func decode(_ webp: UnsafeRawBufferPointer,
                              maximumPixels: Int = StillImageLimits.defaultMaximumPixels) throws(ImagingError) -> RGBImage {
        var config = WebPDecoderConfig()
        guard WebPInitDecoderConfig(&config) != 0 else { throw .corrupt(format: .webp, reason: "libwebp decoder version mismatch") }
        try readFeatures(webp, &config.input)
        let size = Size(width: Int(config.input.width), height: Int(config.input.height))
        guard config.input.has_animation == 0 else {
            throw .unsupported(format: .webp, reason: "animated WebP (\(size)); save one frame as a still image (e.g. `anim_dump -png`)")
        }
        try StillImageLimits.check(size, maximumPixels: maximumPixels)
        let hasAlpha = config.input.has_alpha != 0
        let channels = hasAlpha ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: size.width * size.height * channels)
        config.output.colorspace = hasAlpha ? MODE_RGBA : MODE_RGB
        config.output.is_external_memory = 1
        let status = pixels.withUnsafeMutableBufferPointer { dst -> VP8StatusCode in
            config.output.u.RGBA.rgba = dst.baseAddress
            config.output.u.RGBA.stride = Int32(size.width * channels)
            config.output.u.RGBA.size = dst.count
            let s = WebPDecode(webp.baseAddress?.assumingMemoryBound(to: UInt8.self), webp.count, &config)
            WebPFreeDecBuffer(&config.output)  // frees nothing of ours (external memory); releases libwebp's state
            return s
        }
        guard status == VP8_STATUS_OK else { throw .corrupt(format: .webp, reason: text(status)) }
        return hasAlpha ? RGBImage(compositingOntoBlack: pixels, width: size.width, height: size.height)
                        : RGBImage(width: size.width, height: size.height, pixels: pixels)
    }

    private static func readFeatures(_ webp: UnsafeRawBufferPointer, _ features: inout WebPBitstreamFeatures) throws(ImagingError) {
        guard hasSignature(webp), let base = webp.baseAddress else { throw .notWebP }
        let riffSize = Int(webp[4]) | Int(webp[5]) << 8 | Int(webp[6]) << 16 | Int(webp[7]) << 24
        guard riffSize + 8 <= webp.count else {
            throw .corrupt(format: .webp, reason: "truncated: RIFF header says \(riffSize + 8) bytes, file has \(webp.count)")
        }
        let status = WebPGetFeatures(base.assumingMemoryBound(to: UInt8.self), webp.count, &features)
        guard status == VP8_STATUS_OK else { throw .corrupt(format: .webp, reason: text(status)) }
    }

    static func text(_ status: VP8StatusCode) -> String {
        switch status {
        case VP8_STATUS_OUT_OF_MEMORY: "out of memory"
        case VP8_STATUS_INVALID_PARAM: "invalid parameter"
        case VP8_STATUS_BITSTREAM_ERROR: "bitstream error"
        case VP8_STATUS_UNSUPPORTED_FEATURE: "unsupported feature"
        case VP8_STATUS_SUSPENDED: "decoding suspended"
        case VP8_STATUS_USER_ABORT: "aborted"
        case VP8_STATUS_NOT_ENOUGH_DATA: "not enough data (truncated)"
        default: "libwebp status \(status.rawValue)"
        }
    }
}

/// WebP writing with libwebp's simple encoder API, for test fixtures and fuzz seeds only.
package enum WebPEncoder {
    /// Encodes `image`; `quality` nil = lossless, else lossy at 0...100.
    package static func encode(_ image: RGBImage, quality: Float? = nil) throws(ImagingError) -> [UInt8] {
        try encode(width: image.width, height: image.height, bytes: image.pixels, alpha: false, quality: quality)
    }

    /// Encodes RGB (`alpha` false) or RGBA (`alpha` true) bytes, row-major without padding.
    package static func encode(width: Int, height: Int, bytes: [UInt8], alpha: Bool, quality: Float? = nil) throws(ImagingError) -> [UInt8] {
        let channels = alpha ? 4 : 3
        guard width > 0, height > 0, bytes.count == width * height * channels else {
            throw .encodeFailed("WebP: \(width)x\(height) needs \(width * height * channels) bytes, got \(bytes.count)")
        }
        var output: UnsafeMutablePointer<UInt8>?
        let w = Int32(width), h = Int32(height), stride = Int32(width * channels)
        let n = bytes.withUnsafeBufferPointer { b -> Int in
            guard let src = b.baseAddress else { return 0 }
            switch (alpha, quality) {
            case (false, nil): return WebPEncodeLosslessRGB(src, w, h, stride, &output)
            case (true, nil): return WebPEncodeLosslessRGBA(src, w, h, stride, &output)
            case (false, let q?): return WebPEncodeRGB(src, w, h, stride, q, &output)
            case (true, let q?): return WebPEncodeRGBA(src, w, h, stride, q, &output)
            }
        }
        defer { WebPFree(output) }
        guard n > 0, let output else { throw .encodeFailed("WebP: libwebp could not encode \(width)x\(height)") }
        return Array(UnsafeBufferPointer(start: output, count: n))
    }
}
