import VigilCore

extension RGBImage {
    /// Bilinear resize with half-pixel centres, the same sampling as OpenCV's `INTER_LINEAR`
    /// (so models trained on OpenCV-preprocessed images see the same pixels).
    ///
    /// Destination pixel `dx` samples source position `(dx + 0.5) * srcW / dstW - 0.5`, clamped to
    /// the edge pixels; rows likewise. Like OpenCV it does not low-pass filter, so large
    /// reductions alias: that is why MJPEG frames are first DCT-scaled to just above the target
    /// (`JPEGDecoder.decode(_:atLeast:)`) and this resize only finishes the last factor < 2.
    ///
    /// Fixed point: weights are quantised to 1/2048 (11 bits, as in OpenCV); a horizontal pass
    /// keeps rows at x2048 precision in Int32 and the vertical pass rounds once at the end, so the
    /// result is within 1 of the exact real-valued interpolation. Source rows are interpolated
    /// horizontally once and reused by consecutive output rows.
    ///
    /// Same size returns a copy; a non-positive target gives an empty image; a malformed or empty
    /// source gives a black image of the target size.
    public func resized(to size: Size) -> RGBImage {
        let dw = size.width, dh = size.height
        guard dw > 0, dh > 0 else { return .empty }
        guard isWellFormed else { return RGBImage(width: dw, height: dh) }
        if dw == width && dh == height { return self }

        let xs = ResizeAxis(source: width, destination: dw, stride: 3)
        let ys = ResizeAxis(source: height, destination: dh, stride: 1)
        let sw = width
        var out = RGBImage(width: dw, height: dh)
        // Two cached horizontally-interpolated rows, `rowLength` Int32 each.
        let rowLength = dw * 3
        var rows = [Int32](repeating: 0, count: 2 * rowLength)

        pixels.withUnsafeBufferPointer { srcBuf in
            out.pixels.withUnsafeMutableBufferPointer { dstBuf in
                rows.withUnsafeMutableBufferPointer { rowBuf in
                    xs.table.withUnsafeBufferPointer { xBuf in
                        guard let src = srcBuf.baseAddress, let dst = dstBuf.baseAddress,
                              let rowBase = rowBuf.baseAddress, let xt = xBuf.baseAddress
                        else { return }

                        /// Horizontal pass of source row `sy` into cache slot `slot`.
                        func interpolateRow(_ sy: Int, into slot: Int) {
                            let s = src + sy * sw * 3
                            let r = rowBase + slot * rowLength
                            for dx in 0..<dw {
                                let e = xt + 3 * dx
                                let p0 = s + Int(e[0]), p1 = s + Int(e[1])
                                let w1 = e[2], w0 = ResizeAxis.one - w1
                                let o = r + dx * 3
                                o[0] = Int32(p0[0]) * w0 + Int32(p1[0]) * w1
                                o[1] = Int32(p0[1]) * w0 + Int32(p1[1]) * w1
                                o[2] = Int32(p0[2]) * w0 + Int32(p1[2]) * w1
                            }
                        }

                        var cached = (-1, -1)  // source row held by slot 0, slot 1
                        for dy in 0..<dh {
                            let y0 = Int(ys.table[3 * dy]), y1 = Int(ys.table[3 * dy + 1])
                            let wy1 = ys.table[3 * dy + 2], wy0 = ResizeAxis.one - wy1
                            let s0: Int
                            if cached.0 == y0 { s0 = 0 } else if cached.1 == y0 { s0 = 1 } else {
                                s0 = cached.1 == y1 ? 0 : 1
                                interpolateRow(y0, into: s0)
                                if s0 == 0 { cached.0 = y0 } else { cached.1 = y0 }
                            }
                            let s1: Int
                            if cached.0 == y1 { s1 = 0 } else if cached.1 == y1 { s1 = 1 } else {
                                s1 = 1 - s0
                                interpolateRow(y1, into: s1)
                                if s1 == 0 { cached.0 = y1 } else { cached.1 = y1 }
                            }
                            let r0 = rowBase + s0 * rowLength, r1 = rowBase + s1 * rowLength
                            let o = dst + dy * rowLength
                            for i in 0..<rowLength {
                                let v = (r0[i] &* wy0 &+ r1[i] &* wy1 &+ ResizeAxis.roundTwice) >> (2 * ResizeAxis.bits)
                                o[i] = UInt8(truncatingIfNeeded: v)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Precomputed source indices and weights along one axis of a resize (OpenCV INTER_LINEAR
/// convention), computed once per call instead of per pixel.
struct ResizeAxis {
    static let bits: Int32 = 11
    static let one: Int32 = 1 << bits
    /// Rounding constant for the product of two weights.
    static let roundTwice: Int32 = 1 << (2 * bits - 1)

    /// Per destination index: first source sample, second source sample (both multiplied by
    /// `stride`), weight of the second sample (0...one).
    var table: [Int32]

    /// `stride` multiplies the indices (3 for interleaved RGB columns, 1 for rows).
    init(source: Int, destination: Int, stride: Int) {
        table = [Int32](repeating: 0, count: 3 * destination)
        let scale = Double(source) / Double(destination)
        for d in 0..<destination {
            let f = (Double(d) + 0.5) * scale - 0.5
            var s = Int(f.rounded(.down))
            var frac = f - Double(s)
            if s < 0 { s = 0; frac = 0 }
            if s >= source - 1 { s = source - 1; frac = 0 }
            let s1 = min(s + 1, source - 1)
            table[3 * d] = Int32(s * stride)
            table[3 * d + 1] = Int32(s1 * stride)
            table[3 * d + 2] = Int32((frac * Double(Self.one)).rounded())
        }
    }
}
