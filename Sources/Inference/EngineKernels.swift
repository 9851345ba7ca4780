#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The engine's own kernels: data movement (generic over int8 and float elements), table lookups,
// quantize/dequantize, and the float ops at a model's edges. Not part of the backend seam: they
// are memory-bound or rare, and every backend shares them.

enum Movement {
    static func transpose<T>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, perm: [Int], inShape: [Int]) {
        let rank = inShape.count
        var inStrides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * inShape[d + 1] }
        let outShape = perm.map { inShape[$0] }
        let strides = perm.map { inStrides[$0] }  // input stride of each output axis
        let count = outShape.reduce(1, *)
        guard count > 0 else { return }
        var index = [Int](repeating: 0, count: rank)
        var src = 0
        let innerLen = outShape[rank - 1], innerStride = strides[rank - 1]
        var o = 0
        while o < count {
            for i in 0..<innerLen { y[o + i] = x[src + i * innerStride] }
            o += innerLen
            // advance the counter over the outer axes
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                src += strides[d]
                if index[d] < outShape[d] { break }
                src -= strides[d] * outShape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    static func pad<T>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, begins: [Int], inShape: [Int], outShape: [Int], fill: T) {
        let rank = inShape.count
        y.update(repeating: fill, count: outShape.reduce(1, *))
        let count = inShape.reduce(1, *)
        guard count > 0 else { return }
        var outStrides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { outStrides[d] = outStrides[d + 1] * outShape[d + 1] }
        var base = 0
        for d in 0..<rank { base += begins[d] * outStrides[d] }
        // Copy innermost rows; the counter walks the outer axes. Trailing axes without padding
        // are one contiguous block (a channel pad of NCHW copies each image in one go).
        var index = [Int](repeating: 0, count: rank)
        var inner = rank - 1  // rows span axes inner... (the unpadded suffix)
        while inner > 0 && inShape[inner] == outShape[inner] { inner -= 1 }
        var row = 1
        for d in inner..<rank { row *= inShape[d] }
        var dst = base, src = 0
        while src < count {
            (y + dst).update(from: x + src, count: row)
            src += row
            var d = inner - 1
            while d >= 0 {
                index[d] += 1
                dst += outStrides[d]
                if index[d] < inShape[d] { break }
                dst -= outStrides[d] * inShape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    static func resizeNearest<T>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, planes: Int, inHeight: Int, inWidth: Int, ySource: [Int], xSource: [Int]) {
        let oh = ySource.count, ow = xSource.count
        for p in 0..<planes {
            for oy in 0..<oh {
                let srcRow = x + (p * inHeight + ySource[oy]) * inWidth
                let dstRow = y + (p * oh + oy) * ow
                for ox in 0..<ow { dstRow[ox] = srcRow[xSource[ox]] }
            }
        }
    }

    /// int8 bilinear, as onnxruntime's integer upsampling (file-domain values, weights w1·w2 in
    /// units of 2^-20, the sum divided by 2^20 truncating toward zero).
    static func resizeLinear(_ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, planes: Int, inHeight: Int, inWidth: Int,
                             y ya: LinearAxis, x xa: LinearAxis, offset: Int32) {
        let oh = ya.i1.count, ow = xa.i1.count
        for p in 0..<planes {
            let plane = x + p * inHeight * inWidth
            for oy in 0..<oh {
                let r1 = plane + ya.i1[oy] * inWidth, r2 = plane + ya.i2[oy] * inWidth
                let wy1 = ya.w1[oy], wy2 = ya.w2[oy]
                for ox in 0..<ow {
                    let x1 = xa.i1[ox], x2 = xa.i2[ox], wx1 = xa.w1[ox], wx2 = xa.w2[ox]
                    let s = (wx1 &* wy1) &* (Int32(r1[x1]) &+ offset) &+ (wx2 &* wy1) &* (Int32(r1[x2]) &+ offset)
                        &+ (wx1 &* wy2) &* (Int32(r2[x1]) &+ offset) &+ (wx2 &* wy2) &* (Int32(r2[x2]) &+ offset)
                    y[(p * oh + oy) * ow + ox] = Int8(truncatingIfNeeded: s / (1 << 20) &- offset)
                }
            }
        }
    }

    /// float bilinear, as onnxruntime's float upsampling (coefficients w1·w2, summed in order).
    static func resizeLinear(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, inHeight: Int, inWidth: Int,
                             y ya: LinearAxis, x xa: LinearAxis) {
        let oh = ya.i1.count, ow = xa.i1.count
        // The four coefficients of each output cell depend only on (oy, ox): computed once per
        // row for all planes (same products, same summation order as before: bit-identical).
        var coeff = [Float](repeating: 0, count: 4 * ow * oh)
        for oy in 0..<oh {
            for ox in 0..<ow {
                let c = 4 * (oy * ow + ox)
                coeff[c] = xa.f1[ox] * ya.f1[oy]; coeff[c + 1] = xa.f2[ox] * ya.f1[oy]
                coeff[c + 2] = xa.f1[ox] * ya.f2[oy]; coeff[c + 3] = xa.f2[ox] * ya.f2[oy]
            }
        }
        coeff.withUnsafeBufferPointer { cf in
        xa.i1.withUnsafeBufferPointer { xi1 in
        xa.i2.withUnsafeBufferPointer { xi2 in
            for p in 0..<planes {
                let plane = x + p * inHeight * inWidth
                for oy in 0..<oh {
                    let r1 = plane + ya.i1[oy] * inWidth, r2 = plane + ya.i2[oy] * inWidth
                    let out = y + (p * oh + oy) * ow
                    let row = cf.baseAddress! + 4 * oy * ow
                    for ox in 0..<ow {
                        let x1 = xi1[ox], x2 = xi2[ox], c = row + 4 * ox
                        out[ox] = c[0] * r1[x1] + c[1] * r1[x2] + c[2] * r2[x1] + c[3] * r2[x2]
                    }
                }
            }
        }
        }
        }
    }

    static func concat<T>(_ xs: [UnsafePointer<T>], _ y: UnsafeMutablePointer<T>, axis: Int, shapes: [[Int]]) {
        let outer = shapes[0][..<axis].reduce(1, *)
        let chunks = shapes.map { $0[axis...].reduce(1, *) }
        let total = chunks.reduce(0, +)
        var offset = 0
        for (x, chunk) in zip(xs, chunks) {
            for o in 0..<outer { (y + o * total + offset).update(from: x + o * chunk, count: chunk) }
            offset += chunk
        }
    }
}

enum FloatKernels {
    /// Float convolution (model edges left in float, e.g. BlazeFace's output heads). Loop order:
    /// output channel → input channel → kernel tap → output row → output column, so the innermost
    /// loop runs over contiguous output pixels (the compiler vectorises it for stride 1) instead
    /// of gathering a 3x3 window per pixel; taps falling into the padding are skipped by
    /// clipping the column range, not tested per pixel.
    static func conv(_ c: FloatConv, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let d = c.geometry
        if d.isPointwise { return pointwiseConv(c, x, y) }
        let cinPerGroup = d.inChannels / d.groups, coutPerGroup = d.outChannels / d.groups
        let inPlane = d.inHeight * d.inWidth, outPlane = d.outHeight * d.outWidth
        let sw = d.strideW
        c.weights.withUnsafeBufferPointer { w in
            for oc in 0..<d.outChannels {
                let g = oc / coutPerGroup
                let out = y + oc * outPlane
                let b = c.bias[oc]
                for i in 0..<outPlane { out[i] = b }
                for ic in 0..<cinPerGroup {
                    let src = x + (g * cinPerGroup + ic) * inPlane
                    for ky in 0..<d.kernelHeight {
                        for kx in 0..<d.kernelWidth {
                            let wv = w[((oc * cinPerGroup + ic) * d.kernelHeight + ky) * d.kernelWidth + kx]
                            let dx = kx * d.dilationW - d.padLeft
                            // Columns whose input ix = ox * sw + dx lies inside the row.
                            let ox0 = dx >= 0 ? 0 : (-dx + sw - 1) / sw
                            let lastIn = d.inWidth - 1 - dx
                            let ox1 = lastIn < 0 ? 0 : min(d.outWidth, lastIn / sw + 1)
                            guard ox0 < ox1 else { continue }
                            for oy in 0..<d.outHeight {
                                let iy = oy * d.strideH - d.padTop + ky * d.dilationH
                                guard iy >= 0, iy < d.inHeight else { continue }
                                let orow = out + oy * d.outWidth
                                let irow = src + iy * d.inWidth + dx
                                if sw == 1 {
                                    for ox in ox0..<ox1 { orow[ox] += wv * irow[ox] }
                                } else {
                                    for ox in ox0..<ox1 { orow[ox] += wv * irow[ox * sw] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// 1x1 stride-1 unpadded conv (BlazeFace's output heads): 16 pixels x 4 output channels of
    /// accumulators held in registers over the input channels, instead of a read-modify-write of
    /// the output row per input channel. Each output is still bias + w0·x0 + w1·x1 + … in input
    /// channel order, so the result is identical to the general loop's.
    static func pointwiseConv(_ c: FloatConv, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let d = c.geometry
        let cin = d.inChannels, cout = d.outChannels, plane = d.outHeight * d.outWidth
        let main = plane & ~7
        let raw = UnsafeRawPointer(x)
        c.weights.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress!
            var oc = 0
            while oc < cout {
                // 4 output channels x 8 pixels: 8 SSE accumulators, fits the 16 x86-64 baseline registers.
                let n = min(4, cout - oc)
                let o1 = min(oc + 1, cout - 1), o2 = min(oc + 2, cout - 1), o3 = min(oc + 3, cout - 1)
                let w0 = w + oc * cin, w1 = w + o1 * cin, w2 = w + o2 * cin, w3 = w + o3 * cin
                let b0 = c.bias[oc], b1 = c.bias[o1], b2 = c.bias[o2], b3 = c.bias[o3]
                var p = 0
                while p < main {
                    var a0 = SIMD8<Float>(repeating: b0), a1 = SIMD8<Float>(repeating: b1)
                    var a2 = SIMD8<Float>(repeating: b2), a3 = SIMD8<Float>(repeating: b3)
                    var src = raw + p * 4
                    for ic in 0..<cin {
                        let v = src.loadUnaligned(as: SIMD8<Float>.self)
                        a0 += w0[ic] * v; a1 += w1[ic] * v; a2 += w2[ic] * v; a3 += w3[ic] * v
                        src += plane * 4
                    }
                    let out = UnsafeMutableRawPointer(y + oc * plane + p)
                    out.storeBytes(of: a0, as: SIMD8<Float>.self)
                    if n > 1 { (out + plane * 4).storeBytes(of: a1, as: SIMD8<Float>.self) }
                    if n > 2 { (out + plane * 8).storeBytes(of: a2, as: SIMD8<Float>.self) }
                    if n > 3 { (out + plane * 12).storeBytes(of: a3, as: SIMD8<Float>.self) }
                    p += 8
                }
                for j in 0..<n {
                    let wj = w + (oc + j) * cin
                    for q in main..<plane {
                        var acc = c.bias[oc + j]
                        for ic in 0..<cin { acc += wj[ic] * x[ic * plane + q] }
                        y[(oc + j) * plane + q] = acc
                    }
                }
                oc += n
            }
        }
    }

    static func fullyConnected(rows: Int, k: Int, n: Int, weights: [Float], bias: [Float], _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        weights.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                for j in 0..<n {
                    var acc = bias[j]
                    for i in 0..<k { acc += x[r * k + i] * w[j * k + i] }
                    y[r * n + j] = acc
                }
            }
        }
    }

    static func unary(_ op: FloatUnary, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        switch op {
        case .relu: for i in 0..<count { y[i] = max(x[i], 0) }
        case .sigmoid: for i in 0..<count { y[i] = 1 / (1 + expf(-x[i])) }
        case .tanh: for i in 0..<count { y[i] = tanhf(x[i]) }
        case .clip(let lo, let hi): for i in 0..<count { y[i] = min(max(x[i], lo), hi) }
        case .leakyRelu(let a): for i in 0..<count { y[i] = x[i] >= 0 ? x[i] : x[i] * a }
        }
    }

    static func binary(_ op: FloatBinary, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, aShape: [Int], bShape: [Int], outShape: [Int]) {
        let rank = outShape.count
        func strides(_ s: [Int]) -> [Int] {
            let p = Array(repeating: 1, count: rank - s.count) + s
            var st = [Int](repeating: 0, count: rank)
            var acc = 1
            for d in stride(from: rank - 1, through: 0, by: -1) { st[d] = p[d] == 1 ? 0 : acc; acc *= p[d] }
            return st
        }
        let sa = strides(aShape), sb = strides(bShape)
        let count = outShape.reduce(1, *)
        var index = [Int](repeating: 0, count: rank)
        var ia = 0, ib = 0
        for o in 0..<count {
            let u = a[ia], v = b[ib]
            switch op {
            case .add: y[o] = u + v
            case .sub: y[o] = u - v
            case .mul: y[o] = u * v
            case .div: y[o] = u / v
            case .prelu: y[o] = u >= 0 ? u : u * v
            }
            var d = rank - 1
            while d >= 0 {
                index[d] += 1; ia += sa[d]; ib += sb[d]
                if index[d] < outShape[d] { break }
                ia -= sa[d] * outShape[d]; ib -= sb[d] * outShape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    static func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int) {
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * axis * inner + i
                var m = -Float.infinity
                for a in 0..<axis { m = max(m, x[base + a * inner]) }
                var sum: Float = 0
                for a in 0..<axis { let e = expf(x[base + a * inner] - m); y[base + a * inner] = e; sum += e }
                for a in 0..<axis { y[base + a * inner] /= sum }
            }
        }
    }

    static func pool(_ d: PoolDescriptor, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for c in 0..<d.channels {
            let plane = c * d.inHeight * d.inWidth
            for oy in 0..<d.outHeight {
                for ox in 0..<d.outWidth {
                    var best = -Float.infinity, sum: Float = 0, cells = 0
                    for ky in 0..<d.kernelHeight {
                        let iy = oy * d.strideH - d.padTop + ky
                        guard iy >= 0, iy < d.inHeight else { continue }
                        for kx in 0..<d.kernelWidth {
                            let ix = ox * d.strideW - d.padLeft + kx
                            guard ix >= 0, ix < d.inWidth else { continue }
                            let v = x[plane + iy * d.inWidth + ix]
                            best = max(best, v); sum += v; cells += 1
                        }
                    }
                    let n = d.countIncludePad ? d.kernelHeight * d.kernelWidth : max(cells, 1)
                    y[(c * d.outHeight + oy) * d.outWidth + ox] = d.kind == .max ? best : sum / Float(n)
                }
            }
        }
    }
}
