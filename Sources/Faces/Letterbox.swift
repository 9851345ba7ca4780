import Imaging
import VigilCore

/// Fitting a frame into a detector's fixed input without distorting faces: scale to fit, centre,
/// pad the rest with black — and map detections back to frame pixels exactly.
public struct Letterbox: Hashable, Sendable {
    public let source: Size
    public let target: Size
    /// Where the scaled frame sits inside the target.
    public let content: Rect

    /// `fill` < 1 shrinks the frame further, to that share of the fitted size, with more padding
    /// around it: the zoomed-out pass that lets a detector trained on faces at a distance see a
    /// face that fills the whole frame (see `DetectionOptions.closeUpZoom`).
    public init(source: Size, target: Size, fill: Double = 1) {
        self.source = source
        self.target = target
        let f = fill.isFinite ? min(1, max(0.05, fill)) : 1
        let s = f * min(Double(target.width) / Double(max(source.width, 1)), Double(target.height) / Double(max(source.height, 1)))
        let w = max(1, min(target.width, Int((Double(source.width) * s).rounded())))
        let h = max(1, min(target.height, Int((Double(source.height) * s).rounded())))
        content = Rect(x: (target.width - w) / 2, y: (target.height - h) / 2, width: w, height: h)
    }

    /// Horizontal and vertical scale from source to target pixels (they differ by the rounding
    /// of the content size; using both keeps the un-mapping exact).
    public var scaleX: Double { Double(content.width) / Double(max(source.width, 1)) }
    public var scaleY: Double { Double(content.height) / Double(max(source.height, 1)) }

    /// The detector input: `image` (of size `source`) resized into `content`, black around it.
    public func apply(_ image: RGBImage) -> RGBImage {
        let scaled = image.size == content.size ? image : image.resized(to: content.size)
        if content.size == target { return scaled }
        var out = RGBImage(width: target.width, height: target.height)
        let rowBytes = content.width * 3
        out.pixels.withUnsafeMutableBufferPointer { dst in
            scaled.pixels.withUnsafeBufferPointer { src in
                for y in 0..<content.height {
                    let d = ((content.y + y) * target.width + content.x) * 3
                    for i in 0..<rowBytes { dst[d + i] = src[y * rowBytes + i] }
                }
            }
        }
        return out
    }

    /// A detection in target pixels → source pixels.
    public func unmap(pixels d: Detection) -> Detection {
        d.mapped(scaleX: 1 / scaleX, scaleY: 1 / scaleY,
                 dx: -Double(content.x) / scaleX, dy: -Double(content.y) / scaleY)
    }

    /// A detection in normalised target coordinates (0...1) → source pixels.
    public func unmap(normalized d: Detection) -> Detection {
        unmap(pixels: d.mapped(scaleX: Double(target.width), scaleY: Double(target.height), dx: 0, dy: 0))
    }
}
