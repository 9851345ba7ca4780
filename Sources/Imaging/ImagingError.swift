import VigilCore

/// Why an imaging operation could not produce pixels.
///
/// Every failure caused by input data (a corrupt MJPEG frame, a short raw buffer, a huge header)
/// is a value of this type, so the capture loop can count it, skip the frame and carry on; none
/// of them traps.
public enum ImagingError: Error, Equatable, CustomStringConvertible {
    /// libjpeg/TurboJPEG rejected the data; the payload is its error text. TurboJPEG *warnings*
    /// (e.g. "Premature end of JPEG file" on a truncated frame) also land here: a frame that only
    /// decodes with warnings has grey or garbage blocks, which detectors must not see.
    case corruptJPEG(String)
    /// The data does not start with a JPEG SOI marker (FF D8).
    case notJPEG
    /// The header announces an image above the decoder's cap; refused before any allocation so
    /// a hostile or corrupt header cannot exhaust memory.
    case imageTooLarge(Size)
    /// A raw (YUYV/NV12/GREY) frame is shorter than its size and stride require, in bytes. When
    /// `bytesPerLine` itself is shorter than one row of pixels, the values are per row.
    case bufferTooSmall(expected: Int, got: Int)
    /// The pixel format has no decoder in Vigil.
    case unsupportedFormat(PixelFormat)
    /// The JPEG encoder failed or was given an invalid image or parameter; the payload says which.
    case encodeFailed(String)
    /// The data does not start with the 8-byte PNG signature (89 50 4E 47 0D 0A 1A 0A).
    case notPNG
    /// The data is not a RIFF container of form type "WEBP".
    case notWebP
    /// A PNG or WebP file that its library rejected (bad CRC, truncated stream, bad chunk...);
    /// `reason` is the library's text (libpng's message, libwebp's status). JPEG keeps
    /// `corruptJPEG` so existing callers' switches stay as they are.
    case corrupt(format: StillImageFormat, reason: String)
    /// A well-formed file using a feature Vigil does not decode (an animated WebP); `reason` says
    /// which and what to do instead.
    case unsupported(format: StillImageFormat, reason: String)

    public var description: String {
        switch self {
        case .corruptJPEG(let text): "corrupt JPEG: \(text)"
        case .notJPEG: "not a JPEG (no SOI marker)"
        case .imageTooLarge(let size): "image too large: \(size)"
        case .bufferTooSmall(let expected, let got): "buffer too small: need \(expected) bytes, got \(got)"
        case .unsupportedFormat(let format): "unsupported pixel format: \(format)"
        case .encodeFailed(let text): "JPEG encode failed: \(text)"
        case .notPNG: "not a PNG (no PNG signature)"
        case .notWebP: "not a WebP (no RIFF/WEBP header)"
        case .corrupt(let format, let reason): "corrupt \(format): \(reason)"
        case .unsupported(let format, let reason): "unsupported \(format): \(reason)"
        }
    }
}

/// The still-image file formats the offline commands read (`ImageFile.load`), recognised by their
/// first bytes, never by the file name: photos arrive renamed (a WebP saved as `.jpg` is common
/// in scraped sets), and the bytes are what the decoder will actually see.
public enum StillImageFormat: String, Sendable, Equatable, CustomStringConvertible {
    case jpeg = "JPEG"
    case png = "PNG"
    case webp = "WebP"

    public var description: String { rawValue }

    /// The format whose signature starts `bytes`: JPEG FF D8 FF, PNG 89 50 4E 47 0D 0A 1A 0A,
    /// WebP "RIFF" <4-byte size> "WEBP". Nil for anything else (including too-short data).
    public init?(sniffing bytes: UnsafeRawBufferPointer) {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
            self = .jpeg
        } else if PNGDecoder.hasSignature(bytes) {
            self = .png
        } else if WebPDecoder.hasSignature(bytes) {
            self = .webp
        } else {
            return nil
        }
    }
}

/// The pixel budget of the decoders that cannot downscale while decoding (PNG, WebP).
///
/// Why 64 Mpx (2^26 pixels): it admits every camera photo in use (a 61 Mpx full-frame sensor is
/// 9504 × 6336) while bounding one decode at 192 MiB of RGB (256 MiB while a WebP with alpha is
/// decoded as RGBA). The header is checked against it before any pixel allocation, so a
/// 100000 × 100000 header costs nothing.
public enum StillImageLimits {
    public static let defaultMaximumPixels = 1 << 26

    /// Throws `imageTooLarge` unless `size` is positive and has at most `maximumPixels` pixels.
    static func check(_ size: Size, maximumPixels: Int) throws(ImagingError) {
        let (n, overflow) = size.width.multipliedReportingOverflow(by: size.height)
        guard size.width > 0, size.height > 0, !overflow, n <= maximumPixels else { throw .imageTooLarge(size) }
    }
}
