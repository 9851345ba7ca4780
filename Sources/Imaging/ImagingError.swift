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

    public var description: String {
        switch self {
        case .corruptJPEG(let text): "corrupt JPEG: \(text)"
        case .notJPEG: "not a JPEG (no SOI marker)"
        case .imageTooLarge(let size): "image too large: \(size)"
        case .bufferTooSmall(let expected, let got): "buffer too small: need \(expected) bytes, got \(got)"
        case .unsupportedFormat(let format): "unsupported pixel format: \(format)"
        case .encodeFailed(let text): "JPEG encode failed: \(text)"
        }
    }
}
