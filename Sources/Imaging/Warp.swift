import VigilCore

extension RGBImage {
    /// Resamples the image through an affine map, bilinearly.
    ///
    /// Convention: `t` maps OUTPUT pixel coordinates to SOURCE pixel coordinates (OpenCV's
    /// `WARP_INVERSE_MAP`), because that is what resampling needs per output pixel and it avoids
    /// an inversion that can fail. Pixel centres are at integer coordinates, so the identity
    /// reproduces the image exactly and an integer translation shifts it exactly. To warp with a
    /// source-to-output map `m` (e.g. `similarity(from: landmarks, to: template)`), pass
    /// `m.inverted()`; equivalently pass `similarity(from: template, to: landmarks)` directly.
    ///
    /// Samples are blended with `fill` where the 2x2 neighbourhood leaves the image (OpenCV's
    /// `BORDER_CONSTANT`), so edges are anti-aliased rather than stair-stepped; output pixels that
    /// map entirely outside get `fill`. A non-finite transform or malformed source yields an
    /// all-`fill` image.
    ///
    /// Fixed point: source coordinates are computed per pixel as a per-column plus a per-row term
    /// (each rounded once to 1/65536 px, so there is no drift across a row); interpolation
    /// weights use 11 bits and Int32 sums, as in `resized(to:)`.
    public func warpedAffine(
        _ t: AffineTransform, outputSize: Size, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)
    ) -> RGBImage {
        let ow = outputSize.width, oh = outputSize.height
        guard ow > 0, oh > 0 else { return .empty }
        var out = RGBImage(width: ow, height: oh)
        let fillPixel = [fill.0, fill.1, fill.2]
        guard isWellFormed, t.isFinite else {
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(ow * oh) { dst[3 * i] = fill.0; dst[3 * i + 1] = fill.1; dst[3 * i + 2] = fill.2 }
            }
            return out
        }

        // Per-column contributions a*x, c*x and per-row b*y + tx, d*y + ty, in 1/65536 px.
        let colX = (0..<ow).map { Warp.fixed(t.a * Double($0)) }
        let colY = (0..<ow).map { Warp.fixed(t.c * Double($0)) }
        let sw = width, sh = height

        pixels.withUnsafeBufferPointer { srcBuf in
            out.pixels.withUnsafeMutableBufferPointer { dstBuf in
                fillPixel.withUnsafeBufferPointer { fillBuf in
                    guard let src = srcBuf.baseAddress, let dst = dstBuf.baseAddress,
                          let fp = fillBuf.baseAddress else { return }
                    for oy in 0..<oh {
                        let rowX = Warp.fixed(t.b * Double(oy) + t.tx)
                        let rowY = Warp.fixed(t.d * Double(oy) + t.ty)
                        let o = dst + oy * ow * 3
                        for ox in 0..<ow {
                            let fxp = colX[ox] &+ rowX, fyp = colY[ox] &+ rowY
                            let x0 = Int(truncatingIfNeeded: fxp >> Warp.coordinateBits)
                            let y0 = Int(truncatingIfNeeded: fyp >> Warp.coordinateBits)
                            let px = o + ox * 3
                            if x0 < -1 || y0 < -1 || x0 >= sw || y0 >= sh {
                                px[0] = fp[0]; px[1] = fp[1]; px[2] = fp[2]
                                continue
                            }
                            let wx1 = Int32(truncatingIfNeeded: (fxp >> Warp.weightShift) & Int64(ResizeAxis.one - 1))
                            let wy1 = Int32(truncatingIfNeeded: (fyp >> Warp.weightShift) & Int64(ResizeAxis.one - 1))
                            let wx0 = ResizeAxis.one - wx1, wy0 = ResizeAxis.one - wy1
                            let p00: UnsafePointer<UInt8>, p01: UnsafePointer<UInt8>
                            let p10: UnsafePointer<UInt8>, p11: UnsafePointer<UInt8>
                            if x0 >= 0, y0 >= 0, x0 + 1 < sw, y0 + 1 < sh {
                                p00 = src + (y0 * sw + x0) * 3
                                p01 = p00 + 3
                                p10 = p00 + sw * 3
                                p11 = p10 + 3
                            } else {
                                // Border: neighbours outside the image read the fill colour.
                                func at(_ x: Int, _ y: Int) -> UnsafePointer<UInt8> {
                                    x >= 0 && y >= 0 && x < sw && y < sh ? src + (y * sw + x) * 3 : fp
                                }
                                p00 = at(x0, y0); p01 = at(x0 + 1, y0)
                                p10 = at(x0, y0 + 1); p11 = at(x0 + 1, y0 + 1)
                            }
                            let w00 = wx0 * wy0, w01 = wx1 * wy0, w10 = wx0 * wy1, w11 = wx1 * wy1
                            for ch in 0..<3 {
                                let v = Int32(p00[ch]) * w00 + Int32(p01[ch]) * w01
                                    + Int32(p10[ch]) * w10 + Int32(p11[ch]) * w11 + ResizeAxis.roundTwice
                                px[ch] = UInt8(truncatingIfNeeded: v >> (2 * ResizeAxis.bits))
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension RGBImage {
    /// Bilinear resampling as dlib's `interpolate_bilinear` + `extract_image_chip` compute it: in
    /// double, each channel truncated to 8 bits, and a pixel whose 2×2 neighbourhood is not wholly
    /// inside the image left black. Used where the chip must be dlib's own, pixel for pixel (the
    /// 5-point alignment dlib's ResNet was trained on); `warpedAffine` is the fast fixed-point
    /// path for everything else. `t` maps output pixels to source pixels.
    public func warpedAffineDlib(_ t: AffineTransform, outputSize: Size) -> RGBImage {
        let ow = outputSize.width, oh = outputSize.height
        guard ow > 0, oh > 0 else { return .empty }
        var out = RGBImage(width: ow, height: oh)
        guard isWellFormed, t.isFinite else { return out }
        let sw = width, sh = height
        pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let x = t.a * Double(ox) + t.b * Double(oy) + t.tx
                        let y = t.c * Double(ox) + t.d * Double(oy) + t.ty
                        guard x >= 0, y >= 0, x < Double(sw - 1), y < Double(sh - 1) else { continue }
                        let l = Int(x), tp = Int(y)
                        let fx = x - Double(l), fy = y - Double(tp)
                        let p00 = (tp * sw + l) * 3, p01 = p00 + 3, p10 = p00 + sw * 3, p11 = p10 + 3
                        let o = (oy * ow + ox) * 3
                        for ch in 0..<3 {
                            let top = (1 - fx) * Double(src[p00 + ch]) + fx * Double(src[p01 + ch])
                            let bottom = (1 - fx) * Double(src[p10 + ch]) + fx * Double(src[p11 + ch])
                            dst[o + ch] = UInt8((1 - fy) * top + fy * bottom)
                        }
                    }
                }
            }
        }
        return out
    }
}

/// Fixed-point helpers for `warpedAffine`.
enum Warp {
    /// Coordinates carry 16 fractional bits.
    static let coordinateBits: Int64 = 16
    /// Shift that turns a 16-bit fraction into an 11-bit interpolation weight.
    static let weightShift: Int64 = coordinateBits - Int64(ResizeAxis.bits)
    /// Far enough outside any image that clamping changes nothing, small enough that sums of two
    /// clamped values cannot overflow Int64.
    static let limit = Double(1 << 40)

    /// `v` in 1/65536 px, rounded, clamped to +-2^40 px so conversion can never trap.
    static func fixed(_ v: Double) -> Int64 {
        let scaled = (v * 65536).rounded()
        guard scaled.isFinite else { return scaled > 0 ? Int64(limit * 65536) : -Int64(limit * 65536) }
        return Int64(min(max(scaled, -limit * 65536), limit * 65536))
    }
}
