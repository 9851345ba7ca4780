import VigilCore

/// An 8-bit RGB image: the one pixel layout every detector in Vigil consumes.
///
/// Pixels are interleaved `R G B`, row-major, with no row padding (stride `width * 3`), because
/// that is what TurboJPEG writes directly (`TJPF_RGB`) and what ONNX/TFLite preprocessing expects,
/// so no repacking happens between decode and inference.
///
/// Invariant: `pixels.count == width * height * 3`, with `width, height >= 0`. The initialisers
/// establish it even for inconsistent arguments (see `init(width:height:pixels:)`); the stored
/// properties are public for speed, so every operation in this module still checks the invariant
/// and treats a broken image as empty instead of reading out of bounds.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// RGB interleaved, row-major, stride `width * 3`.
    public var pixels: [UInt8]

    /// Wraps `pixels` as a `width` x `height` image.
    ///
    /// Negative dimensions become 0, and an image without pixels is always 0 x 0 (so all empty
    /// images compare equal to `.empty`). A buffer of the wrong length is truncated or zero-padded to
    /// `width * height * 3` rather than trapping: images are built from camera data, and a
    /// mismatched buffer is a data problem that must not take the agent down. Callers holding
    /// untrusted buffers should check the length themselves if a mismatch matters to them.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        let (w, h, count) = Self.checkedDimensions(width: width, height: height)
        self.width = w
        self.height = h
        var p = pixels
        if p.count > count {
            p.removeLast(p.count - count)
        } else if p.count < count {
            p.append(contentsOf: [UInt8](repeating: 0, count: count - p.count))
        }
        self.pixels = p
    }

    /// A black (all-zero) `width` x `height` image.
    public init(width: Int, height: Int) {
        let (w, h, count) = Self.checkedDimensions(width: width, height: height)
        self.width = w
        self.height = h
        self.pixels = [UInt8](repeating: 0, count: count)
    }

    /// An empty (0 x 0) image: the result of operations with nothing to produce.
    public static let empty = RGBImage(width: 0, height: 0)

    public var size: Size { Size(width: width, height: height) }

    /// Bytes per row (`width * 3`; rows are never padded).
    public var bytesPerRow: Int { width * 3 }

    /// True when the image has pixels and its buffer matches its dimensions; operations use this
    /// to refuse (rather than trap on) images whose public fields were set inconsistently.
    public var isWellFormed: Bool {
        guard width > 0, height > 0 else { return false }
        let (wh, o1) = width.multipliedReportingOverflow(by: height)
        let (n, o2) = wh.multipliedReportingOverflow(by: 3)
        return !o1 && !o2 && pixels.count == n
    }

    /// The pixel at (`x`, `y`), or black outside the image (so that probing code needs no
    /// bounds logic of its own).
    public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        guard x >= 0, y >= 0, x < width, y < height, isWellFormed else { return (0, 0, 0) }
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Clamps dimensions to be positive (else 0 x 0) and their byte count to be representable.
    private static func checkedDimensions(width: Int, height: Int) -> (Int, Int, Int) {
        guard width > 0, height > 0 else { return (0, 0, 0) }
        let w = width, h = height
        let (wh, o1) = w.multipliedReportingOverflow(by: h)
        let (n, o2) = wh.multipliedReportingOverflow(by: 3)
        if o1 || o2 { return (0, 0, 0) }
        return (w, h, n)
    }
}

extension RGBImage {
    /// Sets the dimensions and makes `pixels` exactly the right length, keeping the existing
    /// allocation when it is big enough: the decode-into path calls this every frame, and with an
    /// unchanged size it neither allocates nor touches the bytes.
    mutating func reshape(width: Int, height: Int) {
        let count = width * height * 3
        self.width = width
        self.height = height
        if pixels.count > count {
            pixels.removeLast(pixels.count - count)
        } else if pixels.count < count {
            // Contents are about to be overwritten, so growing past the capacity just allocates
            // afresh instead of copying the old frame. (Concrete arrays, not `repeatElement`,
            // so unoptimised debug builds stay fast too.)
            if pixels.capacity >= count {
                pixels.append(contentsOf: [UInt8](repeating: 0, count: count - pixels.count))
            } else {
                pixels = [UInt8](repeating: 0, count: count)
            }
        }
    }
}
