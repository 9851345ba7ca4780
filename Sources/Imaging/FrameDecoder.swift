import VigilCore

/// Turns any captured `Frame` into RGB, whatever the camera's pixel format.
///
/// MJPEG frames go through `JPEGDecoder` with DCT scaling to at least `target` (the cheapest way
/// to shrink them); raw frames (YUYV, NV12, GREY) are converted at full size by
/// `ColorConversion` and NOT resized, because a raw frame carries no cheaper path to a smaller
/// size and the caller knows which final size and crop it needs (`RGBImage.resized(to:)`).
///
/// Owns a `JPEGDecoder`, so like it this is one-per-thread and not `Sendable`.
public final class FrameDecoder {
    private let jpeg: JPEGDecoder

    /// Largest frame accepted, for JPEG headers and raw frame sizes alike.
    public var maximumSize: Size {
        get { jpeg.maximumSize }
        set { jpeg.maximumSize = newValue }
    }

    public init() throws(ImagingError) {
        jpeg = try JPEGDecoder()
    }

    /// Decodes `frame`; `target` only affects MJPEG (see the type's notes).
    ///
    /// The frame is borrowed: its bytes are read in place (no copy) and it stays owned by the
    /// caller, who releases it to the driver afterwards.
    public func decode(_ frame: borrowing Frame, atLeast target: Size? = nil) throws(ImagingError) -> RGBImage {
        let info = frame.info
        switch info.format {
        case .mjpeg:
            return try jpeg.decode(frame.bytes, atLeast: target)
        case .yuyv:
            try checkRawSize(info.size)
            return try ColorConversion.yuyvToRGB(frame.bytes, size: info.size, bytesPerLine: info.bytesPerLine)
        case .nv12:
            try checkRawSize(info.size)
            return try ColorConversion.nv12ToRGB(frame.bytes, size: info.size, bytesPerLine: info.bytesPerLine)
        case .grey:
            try checkRawSize(info.size)
            return try ColorConversion.greyToRGB(frame.bytes, size: info.size, bytesPerLine: info.bytesPerLine)
        case .other:
            throw .unsupportedFormat(info.format)
        }
    }

    /// Applies `maximumSize` to raw frames too, so one cap bounds every allocation.
    private func checkRawSize(_ size: Size) throws(ImagingError) {
        guard size.width <= maximumSize.width, size.height <= maximumSize.height else {
            throw .imageTooLarge(size)
        }
    }
}
