import VigilCore

extension RGBImage {
    /// The part of the image inside `rect`, clamped to the image bounds.
    ///
    /// Clamping rather than failing because crop rectangles come from detector boxes, which
    /// routinely stick out of the frame; an empty intersection (or a malformed image) gives a 0x0
    /// image, which callers treat as "nothing to look at".
    public func cropped(to rect: Rect) -> RGBImage {
        guard isWellFormed else { return .empty }
        // Intersect with saturating arithmetic: boxes from a misbehaving detector may hold
        // extreme values, and `x + width` must not trap.
        guard rect.width > 0, rect.height > 0 else { return .empty }
        let x0 = max(rect.x, 0), y0 = max(rect.y, 0)
        let (right, o1) = rect.x.addingReportingOverflow(rect.width)   // width > 0: only upward
        let (bottom, o2) = rect.y.addingReportingOverflow(rect.height)
        let x1 = o1 ? width : min(right, width), y1 = o2 ? height : min(bottom, height)
        guard x1 > x0, y1 > y0 else { return .empty }
        let r = Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        if r.width == width && r.height == height { return self }
        var out = RGBImage(width: r.width, height: r.height)
        let rowBytes = r.width * 3
        pixels.withUnsafeBufferPointer { srcBuf in
            out.pixels.withUnsafeMutableBufferPointer { dstBuf in
                guard let src = srcBuf.baseAddress, let dst = dstBuf.baseAddress else { return }
                for row in 0..<r.height {
                    let from = src + ((r.y + row) * width + r.x) * 3
                    (dst + row * rowBytes).update(from: from, count: rowBytes)
                }
            }
        }
        return out
    }
}
