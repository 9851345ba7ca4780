import CPNG
import VigilCore

/// Decodes PNG files (still photos for the offline commands) to RGB, through libpng's simplified
/// API (`png_image_*`).
///
/// Why the simplified API: it reports every error as a return value plus a message in the
/// `png_image` (the classic API longjmps, which Swift cannot survive), and it does all format
/// conversion itself: palette, grey, grey+alpha, 1/2/4/16-bit samples, tRNS, interlacing and gAMA
/// all come out as 8-bit sRGB RGB.
///
/// Decisions, so every caller sees the same pixels:
/// - **Alpha is composited onto black**, in sRGB values (`c * a / 255`, rounded: what a browser
///   shows on a black page), by our code after an RGBA decode, exactly as `WebPDecoder` does, so a
///   cut-out face gives the same pixels in either format. A transparent pixel's stored colour is
///   arbitrary (often left over from editing), so dropping alpha would show it. (libpng's own
///   compositing works in linear light and would differ from WebP's.)
/// - **16-bit files without gAMA/sRGB are read as sRGB** (`PNG_IMAGE_FLAG_16BIT_sRGB`). libpng's
///   default assumes linear samples, which brightens an ordinary 16-bit photo export (PIL,
///   ImageMagick without gamma chunks) to a washed-out image; files that say their gamma are
///   converted as they say.
/// - **A file must reach its IEND chunk** (`checkComplete`): a cut-short file is refused whole.
/// - **Warnings are accepted** (e.g. "iCCP: known incorrect sRGB profile", common in real files);
///   only errors fail.
///
/// Memory: the header is read first and a size above `maximumPixels` is refused before any pixel
/// buffer exists. There is no decode-time downscaling in PNG; `ImageFile.load` resizes after.
/// Stateless (no handle worth reusing), hence static functions; thread-safe.
public enum PNGDecoder {
    /// The 8 bytes every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public static func hasSignature(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 8 && zip(bytes.prefix(8), signature).allSatisfy { $0 == $1 }
    }

    /// The image size from the header (IHDR), without decoding pixels or applying any limit.
    public static func size(_ png: UnsafeRawBufferPointer) throws(ImagingError) -> Size {
        var image = png_image()
        defer { png_image_free(&image) }
        return try begin(png, &image)
    }

    /// Decodes to 8-bit RGB (see the type's notes for alpha and 16-bit). Throws `notPNG`,
    /// `imageTooLarge` (checked before allocation) or `corrupt(format: .png, ...)`.
    public static func decode(_ png: UnsafeRawBufferPointer,
                              maximumPixels: Int = StillImageLimits.defaultMaximumPixels) throws(ImagingError) -> RGBImage {
        try checkComplete(png)
        var image = png_image()
        // On its own errors libpng frees the control structure itself; a second free is a no-op.
        defer { png_image_free(&image) }
        let size = try begin(png, &image)
        try StillImageLimits.check(size, maximumPixels: maximumPixels)
        // The output row must fit libpng's signed 32-bit stride (it does under any sane cap).
        guard size.width <= Int(Int32.max) / 4 else { throw .imageTooLarge(size) }
        // Alpha (an alpha channel or tRNS) as reported by the header: decode RGBA and composite.
        let hasAlpha = image.format & CPNG_FORMAT_FLAG_ALPHA != 0
        let channels = hasAlpha ? 4 : 3
        image.format = hasAlpha ? CPNG_FORMAT_RGBA : CPNG_FORMAT_RGB
        image.flags |= CPNG_IMAGE_FLAG_16BIT_sRGB
        var pixels = [UInt8](repeating: 0, count: size.width * size.height * channels)
        let ok = pixels.withUnsafeMutableBytes { dst in
            png_image_finish_read(&image, nil, dst.baseAddress, Int32(size.width * channels), nil)
        }
        guard ok != 0, cpng_failed(&image) == 0 else { throw .corrupt(format: .png, reason: message(image)) }
        return hasAlpha ? RGBImage(compositingOntoBlack: pixels, width: size.width, height: size.height)
                        : RGBImage(width: size.width, height: size.height, pixels: pixels)
    }

    /// Throws unless the chunk list reaches IEND within the data. libpng's simplified reader
    /// stops after the last IDAT, so a file cut inside its final chunks would otherwise pass;
    /// like a JPEG without EOI, it is refused as truncated (data after IEND is allowed, as
    /// everywhere). Walks chunk headers only: at most count / 12 steps.
    static func checkComplete(_ png: UnsafeRawBufferPointer) throws(ImagingError) {
        guard hasSignature(png) else { throw .notPNG }
        var i = 8
        while i + 12 <= png.count {
            let length = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            guard length <= Int(Int32.max) else { throw .corrupt(format: .png, reason: "chunk length \(length) at byte \(i)") }
            if png[i + 4] == 0x49, png[i + 5] == 0x45, png[i + 6] == 0x4E, png[i + 7] == 0x44 { return }  // "IEND"
            i += 12 + length
        }
        throw .corrupt(format: .png, reason: "truncated: \(png.count) bytes end before the IEND chunk")
    }

    /// Reads the header into `image` (which the caller frees); returns its size.
    private static func begin(_ png: UnsafeRawBufferPointer, _ image: inout png_image) throws(ImagingError) -> Size {
        guard hasSignature(png), let base = png.baseAddress else { throw .notPNG }
        image.version = CPNG_IMAGE_VERSION
        guard png_image_begin_read_from_memory(&image, base, png.count) != 0, cpng_failed(&image) == 0 else {
            throw .corrupt(format: .png, reason: message(image))
        }
        return Size(width: Int(image.width), height: Int(image.height))
    }

    /// libpng's message (a NUL-terminated char[64] in the png_image).
    static func message(_ image: png_image) -> String {
        let text = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return text.isEmpty ? "unknown libpng error" : text
    }
}

extension RGBImage {
    /// The RGB image of non-premultiplied RGBA `rgba` composited onto black in sRGB values
    /// (`(c * a + 127) / 255`: exact for opaque pixels, black for transparent ones). Converts in
    /// place (RGB pixel i lands at 3i, never ahead of RGBA pixel i at 4i), so the only buffer is
    /// the caller's.
    init(compositingOntoBlack rgba: consuming [UInt8], width: Int, height: Int) {
        var p = rgba
        let count = min(width * height, p.count / 4)
        p.withUnsafeMutableBufferPointer { b in
            for i in 0..<count {
                let a = UInt32(b[4 * i + 3])
                b[3 * i] = UInt8((UInt32(b[4 * i]) * a + 127) / 255)
                b[3 * i + 1] = UInt8((UInt32(b[4 * i + 1]) * a + 127) / 255)
                b[3 * i + 2] = UInt8((UInt32(b[4 * i + 2]) * a + 127) / 255)
            }
        }
        p.removeLast(p.count - 3 * count)
        self.init(width: width, height: height, pixels: p)
    }
}

/// PNG writing through libpng's simplified write API, for test fixtures and fuzz seeds only
/// (Vigil never writes PNG in production; snapshots are JPEG).
package enum PNGEncoder {
    /// The in-memory sample layouts the tests need; `linear*` are 16-bit samples, written by
    /// libpng as a 16-bit file with gAMA 1.0; `*Palette` take one index byte per pixel and a
    /// colour map of RGB or RGBA bytes.
    package enum Layout: Sendable {
        case rgb, rgba, grey, greyAlpha, linearRGB, linearRGBA, linearGrey, rgbPalette, rgbaPalette

        var format: UInt32 {
            switch self {
            case .rgb: CPNG_FORMAT_RGB
            case .rgba: CPNG_FORMAT_RGBA
            case .grey: CPNG_FORMAT_GRAY
            case .greyAlpha: CPNG_FORMAT_GA
            case .linearRGB: CPNG_FORMAT_LINEAR_RGB
            case .linearRGBA: CPNG_FORMAT_LINEAR_RGB_ALPHA
            case .linearGrey: CPNG_FORMAT_LINEAR_Y
            case .rgbPalette: CPNG_FORMAT_RGB_COLORMAP
            case .rgbaPalette: CPNG_FORMAT_RGBA_COLORMAP
            }
        }
    }

    /// Encodes an RGB image (8-bit, lossless).
    package static func encode(_ image: RGBImage) throws(ImagingError) -> [UInt8] {
        try encode(width: image.width, height: image.height, layout: .rgb, bytes: image.pixels)
    }

    /// Encodes raw samples: `bytes` holds 8-bit samples, or for the `linear*` layouts native-endian
    /// UInt16 samples; `colormap` the palette entries for the `*Palette` layouts.
    package static func encode(width: Int, height: Int, layout: Layout, bytes: [UInt8], colormap: [UInt8] = []) throws(ImagingError) -> [UInt8] {
        var image = png_image()
        image.version = CPNG_IMAGE_VERSION
        image.width = UInt32(clamping: width)
        image.height = UInt32(clamping: height)
        image.format = layout.format
        if layout == .rgbPalette || layout == .rgbaPalette {
            image.colormap_entries = UInt32(colormap.count / (layout == .rgbPalette ? 3 : 4))
        }
        defer { png_image_free(&image) }
        var size: png_alloc_size_t = 0
        let measured = bytes.withUnsafeBytes { b in colormap.withUnsafeBytes { c in
            png_image_write_to_memory(&image, nil, &size, 0, b.baseAddress, 0, c.baseAddress)
        } }
        guard measured != 0, size > 0 else { throw .encodeFailed("PNG: \(PNGDecoder.message(image))") }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = out.withUnsafeMutableBytes { o in bytes.withUnsafeBytes { b in colormap.withUnsafeBytes { c in
            png_image_write_to_memory(&image, o.baseAddress, &size, 0, b.baseAddress, 0, c.baseAddress)
        } } }
        guard written != 0 else { throw .encodeFailed("PNG: \(PNGDecoder.message(image))") }
        out.removeLast(out.count - Int(size))
        return out
    }

    /// `png` without its chunks of the given types (e.g. "gAMA"), for fixtures libpng's writer
    /// cannot make (a 16-bit file without gamma information).
    package static func removingChunks(_ png: [UInt8], types: Set<String>) -> [UInt8] {
        var out = Array(png.prefix(8))
        var i = 8
        while i + 12 <= png.count {
            let length = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            let end = min(png.count, i + 12 + length)
            let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
            if !types.contains(type) { out += png[i..<end] }
            i = end
        }
        return out + png[min(i, png.count)...]
    }

    /// `png` with IHDR claiming `width` × `height` (CRC recomputed so libpng accepts the header):
    /// a hostile-size fixture whose pixel data no longer matches.
    package static func claimingSize(_ png: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
        var out = png
        guard out.count >= 33 else { return out }
        for (k, v) in [width, height].enumerated() {
            for b in 0..<4 { out[16 + 4 * k + b] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(b))) }
        }
        let crc = crc32(out[12..<29])
        for b in 0..<4 { out[29 + b] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(b))) }
        return out
    }

    /// CRC-32 (ISO 3309, as in PNG chunks).
    package static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
}
