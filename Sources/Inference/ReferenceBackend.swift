/// The specification backend: plain scalar Swift, one loop nest per op, int32 accumulation
/// (wrapping, as a SIMD int32 accumulator), then `Requantizer.apply` and `OutputStage.finish`.
/// Slow by design; every fast kernel is checked against it (`BackendComparison`).
public struct ReferenceBackend: Int8Backend {
    public init() {}
    public var name: String { "reference" }
    public func makeConv(_ d: ConvDescriptor) -> any Int8Kernel { ReferenceConv(d: d) }
    public func makeFullyConnected(_ d: FullyConnectedDescriptor) -> any Int8Kernel { ReferenceFullyConnected(d: d) }
    public func makeAdd(_ d: AddDescriptor) -> any Int8Kernel { ReferenceAdd(d: d) }
    public func makePool(_ d: PoolDescriptor) -> any Int8Kernel { ReferencePool(d: d) }
}

struct ReferenceConv: Int8Kernel {
    let d: ConvDescriptor

    // Written with local copies of every field and raw pointers: tests run debug builds, where
    // each access through `d` would copy the descriptor (and retain its arrays).
    func run(_ input: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        let cinPerGroup = d.inChannels / d.groups, coutPerGroup = d.outChannels / d.groups
        let inH = d.inHeight, inW = d.inWidth, outH = d.outHeight, outW = d.outWidth
        let kH = d.kernelHeight, kW = d.kernelWidth, sH = d.strideH, sW = d.strideW
        let pT = d.padTop, pL = d.padLeft, dH = d.dilationH, dW = d.dilationW
        let zi = d.inputZeroPoint, stage = d.output, outC = d.outChannels
        d.weights.withUnsafeBufferPointer { w in
        d.weightZeroPoints.withUnsafeBufferPointer { wzp in
        d.bias.withUnsafeBufferPointer { biases in
        d.requantizers.withUnsafeBufferPointer { rqs in
            for oc in 0..<outC {
                let g = oc / coutPerGroup
                let zw = wzp[oc], rq = rqs[oc], bias = Int64(biases[oc])
                let wBase = oc * cinPerGroup * kH * kW
                for oy in 0..<outH {
                    let y0 = oy * sH - pT
                    for ox in 0..<outW {
                        let x0 = ox * sW - pL
                        // int32 accumulation of (x − zi)(w − zw); padding holds zi and adds 0.
                        var acc: Int32 = 0
                        for ic in 0..<cinPerGroup {
                            let plane = input + (g * cinPerGroup + ic) * inH * inW
                            let wk = wBase + ic * kH * kW
                            for ky in 0..<kH {
                                let iy = y0 + ky * dH
                                if iy < 0 || iy >= inH { continue }
                                let row = plane + iy * inW
                                let wr = wk + ky * kW
                                for kx in 0..<kW {
                                    let ix = x0 + kx * dW
                                    if ix < 0 || ix >= inW { continue }
                                    acc &+= (Int32(row[ix]) &- zi) &* (Int32(w[wr + kx]) &- zw)
                                }
                            }
                        }
                        output[(oc * outH + oy) * outW + ox] = stage.finish(rq.apply(Int64(acc) + bias))
                    }
                }
            }
        }
        }
        }
        }
    }
}

struct ReferenceFullyConnected: Int8Kernel {
    let d: FullyConnectedDescriptor

    func run(_ input: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        let zi = d.inputZeroPoint, rows = d.rows, k = d.inFeatures, n = d.outFeatures, stage = d.output
        d.weights.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                let x = input + r * k
                for j in 0..<n {
                    var acc: Int32 = 0
                    let zw = d.weightZeroPoints[j], wr = j * k
                    for i in 0..<k { acc &+= (Int32(x[i]) &- zi) &* (Int32(w[wr + i]) &- zw) }
                    output[r * n + j] = stage.finish(d.requantizers[j].apply(Int64(acc) + Int64(d.bias[j])))
                }
            }
        }
    }
}

struct ReferenceAdd: Int8Kernel {
    let d: AddDescriptor

    func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        guard let b else { return }
        let ao = d.aOffset, bo = d.bOffset, oo = d.outputOffset, ra = d.aRatio, rb = d.bRatio, fixed = d.fixedPart
        let lo = Float(d.output.min + oo), hi = Float(d.output.max + oo)
        for i in 0..<d.count {
            let t = fixed.addingProduct(Float(Int32(b[i]) &+ bo), rb).addingProduct(Float(Int32(a[i]) &+ ao), ra)
            let r = min(max(t.rounded(.toNearestOrEven), lo), hi)
            output[i] = Int8(Int32(r) &- oo)
        }
    }
}

struct ReferencePool: Int8Kernel {
    let d: PoolDescriptor

    func run(_ input: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        let inH = d.inHeight, inW = d.inWidth, outH = d.outHeight, outW = d.outWidth
        let kH = d.kernelHeight, kW = d.kernelWidth, sH = d.strideH, sW = d.strideW, pT = d.padTop, pL = d.padLeft
        let zi = d.inputZeroPoint, stage = d.output, isMax = d.kind == .max, includePad = d.countIncludePad
        let si = d.inputScale, so = d.outputScale, off = d.outputOffset
        do {
            for c in 0..<d.channels {
                let plane = input + c * inH * inW
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        let y0 = oy * sH - pT, x0 = ox * sW - pL
                        var best: Int32 = -128, sum: Float = 0, cells = 0
                        for ky in 0..<kH {
                            let iy = y0 + ky
                            if iy < 0 || iy >= inH { continue }
                            for kx in 0..<kW {
                                let ix = x0 + kx
                                if ix < 0 || ix >= inW { continue }
                                let v = Int32(plane[iy * inW + ix])
                                if v > best { best = v }
                                sum += si * Float(v &- zi)
                                cells += 1
                            }
                        }
                        let o = (c * outH + oy) * outW + ox
                        if isMax {
                            output[o] = Int8(min(max(best, stage.min), stage.max))
                        } else {
                            // Padded cells (count_include_pad) hold real 0 and only enlarge the divisor.
                            let n = includePad ? kH * kW : max(cells, 1)
                            // onnxruntime's quantize_value: nearbyintf(y / so + zo), then saturate.
                            // In the file's domain: zo + 128 for uint8 (the float sum must see the same value).
                            let q = (sum / Float(n) / so + Float(stage.zeroPoint &+ off)).rounded(.toNearestOrEven)
                            output[o] = Int8(min(max(q, Float(stage.min &+ off)), Float(stage.max &+ off)) - Float(off))
                        }
                    }
                }
            }
        }
    }
}
