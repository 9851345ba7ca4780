// Shape inference, descriptors and the float lowering.

extension Planner {
    // MARK: - convolution

    /// Geometry of a Conv node for an NCHW input (weights left empty).
    func convGeometry(_ node: Node, input: [Int], weightDims: [Int]) throws -> ConvDescriptor {
        guard input.count == 4, weightDims.count == 4 else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "only 2-D convolution (input \(input), weights \(weightDims))")
        }
        guard input[0] == 1 else { throw ModelError.unsupportedAttribute(node: node.name, detail: "batch \(input[0]); only batch 1") }
        let groups = try node.int("group", default: 1)
        let (c, h, w) = (input[1], input[2], input[3])
        let (m, kh, kw) = (weightDims[0], weightDims[2], weightDims[3])
        guard groups >= 1, c % groups == 0, m % groups == 0, weightDims[1] == c / groups, kh >= 1, kw >= 1 else {
            throw ModelError.badShape("node '\(node.name)': input \(input), weights \(weightDims), group \(groups)")
        }
        if let ks = try node.ints("kernel_shape"), ks != [kh, kw] {
            throw ModelError.badShape("node '\(node.name)': kernel_shape \(ks) but weights \(weightDims)")
        }
        let strides = try node.ints("strides") ?? [1, 1]
        let dil = try node.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dil.count == 2, strides.allSatisfy({ $0 >= 1 && $0 <= 64 }), dil.allSatisfy({ $0 >= 1 && $0 <= 64 }) else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "strides \(strides), dilations \(dil)")
        }
        let (pt, pl, oh, ow) = try windowOutput(node, h: h, w: w, kh: (kh - 1) * dil[0] + 1, kw: (kw - 1) * dil[1] + 1,
                                                strides: strides, ceil: false)
        return ConvDescriptor(inChannels: c, inHeight: h, inWidth: w, outChannels: m, outHeight: oh, outWidth: ow,
                              kernelHeight: kh, kernelWidth: kw, strideH: strides[0], strideW: strides[1],
                              padTop: pt, padLeft: pl, dilationH: dil[0], dilationW: dil[1], groups: groups,
                              inputZeroPoint: 0, weights: [], weightZeroPoints: [], bias: [], requantizers: [],
                              output: OutputStage(zeroPoint: 0, min: -128, max: 127))
    }

    /// Output size and top/left padding of a sliding window (conv or pool), from pads / auto_pad.
    func windowOutput(_ node: Node, h: Int, w: Int, kh: Int, kw: Int, strides: [Int], ceil: Bool) throws -> (Int, Int, Int, Int) {
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        var pads = try node.ints("pads") ?? [0, 0, 0, 0]
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 && $0 < 4096 }) else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "pads \(pads)")
        }
        switch autoPad {
        case "NOTSET", "": break
        case "VALID": pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            for (i, (size, k)) in [(h, kh), (w, kw)].enumerated() {
                let out = (size + strides[i] - 1) / strides[i]
                let total = max(0, (out - 1) * strides[i] + k - size)
                let small = total / 2, big = total - small
                pads[i] = autoPad == "SAME_UPPER" ? small : big
                pads[i + 2] = total - pads[i]
            }
        default: throw ModelError.unsupportedAttribute(node: node.name, detail: "auto_pad \(autoPad)")
        }
        func out(_ size: Int, _ k: Int, _ b: Int, _ e: Int, _ s: Int) -> Int {
            let span = size + b + e - k
            guard span >= 0 else { return 0 }
            var o = (ceil ? (span + s - 1) / s : span / s) + 1
            if ceil && (o - 1) * s >= size + b { o -= 1 }
            return o
        }
        let oh = out(h, kh, pads[0], pads[2], strides[0]), ow = out(w, kw, pads[1], pads[3], strides[1])
        guard oh >= 1, ow >= 1 else {
            throw ModelError.badShape("node '\(node.name)': a \(kh)x\(kw) window does not fit a \(h)x\(w) input")
        }
        return (pads[0], pads[1], oh, ow)
    }

    /// Weights in int8 storage and per-output-channel scales / zero points.
    func int8Weights(_ w: ConstQuant, channels: Int, channelAxis: Int, node: Node) throws -> ([Int8], [Float], [Int32]) {
        let storage: [Int8]
        switch w.type {
        case .int8: storage = w.ints.map { Int8(truncatingIfNeeded: $0) }
        case .uint8: storage = w.ints.map { Int8(truncatingIfNeeded: $0 - 128) }
        default: throw ModelError.typeMismatch("node '\(node.name)': weights are \(w.type), expected int8 or uint8")
        }
        let shift: Int32 = w.type == .uint8 ? 128 : 0
        if w.scales.count == 1 {
            return (storage, Array(repeating: w.scales[0], count: channels), Array(repeating: w.zeroPoints[0] - shift, count: channels))
        }
        guard w.axis == channelAxis, w.scales.count == channels else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "weights quantized along axis \(w.axis ?? -1), expected \(channelAxis)")
        }
        return (storage, w.scales, w.zeroPoints.map { $0 - shift })
    }

    /// Bias in units of inputScale · weightScale[c] (the int32 DequantizeLinear quantize_static writes,
    /// used as is when its scale matches; otherwise requantized from its float value).
    func int32Bias(_ name: String?, _ node: Node, channels: Int, accScales: [Float]) throws -> [Int32] {
        guard let name, !name.isEmpty else { return Array(repeating: 0, count: channels) }
        var real: [Float]
        switch try symbol(name, node) {
        case .constQuant(let b):
            let scalesMatch = b.scales.count == channels && zip(b.scales, accScales).allSatisfy { abs($0 - $1) <= 1e-6 * $1 }
            if b.type == .int32 && scalesMatch && b.zeroPoints.allSatisfy({ $0 == 0 }) && b.ints.count == channels { return b.ints }
            real = b.dequantized()
        case .constant(let t) where t.type == .float:
            real = t.data.floats
        default:
            throw ModelError.unsupportedAttribute(node: node.name, detail: "bias '\(name)' must be a constant")
        }
        if real.count == 1 { real = Array(repeating: real[0], count: channels) }
        guard real.count == channels else { throw ModelError.badShape("node '\(node.name)': bias has \(real.count) values for \(channels) channels") }
        return (0..<channels).map { c in
            let v = (real[c] / accScales[c]).rounded(.toNearestOrEven)
            guard v.isFinite else { return 0 }
            return Int32(max(min(v, 2.0e9), -2.0e9))
        }
    }

    func convDescriptor(_ node: Node, input: [Int], inP: QuantParams, w: ConstQuant, outP: QuantParams, range: (Float, Float)) throws -> ConvDescriptor {
        var d = try convGeometry(node, input: input, weightDims: w.tensor.dims)
        let (weights, wScales, wZps) = try int8Weights(w, channels: d.outChannels, channelAxis: 0, node: node)
        let accScales = wScales.map { inP.scale * $0 }
        d.inputZeroPoint = inP.zeroPoint
        d.weights = weights
        d.weightZeroPoints = wZps
        d.bias = try int32Bias(node.inputs.count > 2 ? node.inputs[2] : nil, node, channels: d.outChannels, accScales: accScales)
        d.requantizers = wScales.map { Requantizer((inP.scale * $0) / outP.scale) }
        d.output = outputStage(outP, range: range)
        return d
    }

    // MARK: - fully connected

    /// Gemm (A·B or A·Bᵀ, alpha = beta = 1) and MatMul with a constant 2-D right-hand side.
    func fullyConnectedShape(_ node: Node, input: [Int], weightDims: [Int]) throws -> (rows: Int, k: Int, n: Int, transposed: Bool, outShape: [Int]) {
        guard weightDims.count == 2 else { throw ModelError.unsupportedAttribute(node: node.name, detail: "weights of rank \(weightDims.count)") }
        if node.opType == "Gemm" {
            guard try node.int("transA", default: 0) == 0, try node.float("alpha", default: 1) == 1, try node.float("beta", default: 1) == 1 else {
                throw ModelError.unsupportedAttribute(node: node.name, detail: "Gemm with transA or alpha/beta ≠ 1")
            }
            guard input.count == 2 else { throw ModelError.badShape("node '\(node.name)': Gemm input \(input)") }
            let transB = try node.int("transB", default: 0) == 1
            let (k, n) = transB ? (weightDims[1], weightDims[0]) : (weightDims[0], weightDims[1])
            guard input[1] == k else { throw ModelError.badShape("node '\(node.name)': input \(input), weights \(weightDims)") }
            return (input[0], k, n, transB, [input[0], n])
        }
        guard let k = input.last, k == weightDims[0], input.count >= 1 else {
            throw ModelError.badShape("node '\(node.name)': MatMul of \(input) and \(weightDims)")
        }
        return (input.dropLast().reduce(1, *), k, weightDims[1], false, input.dropLast() + [weightDims[1]])
    }

    func fullyConnectedDescriptor(_ node: Node, input: [Int], inP: QuantParams, w: ConstQuant, outP: QuantParams, range: (Float, Float)) throws -> (FullyConnectedDescriptor, [Int])? {
        let s = try fullyConnectedShape(node, input: input, weightDims: w.tensor.dims)
        var (weights, wScales, wZps) = try int8Weights(w, channels: s.n, channelAxis: s.transposed ? 0 : 1, node: node)
        if !s.transposed {  // [K][N] → [N][K]
            var t = [Int8](repeating: 0, count: weights.count)
            for kk in 0..<s.k { for nn in 0..<s.n { t[nn * s.k + kk] = weights[kk * s.n + nn] } }
            weights = t
        }
        let accScales = wScales.map { inP.scale * $0 }
        let bias = try int32Bias(node.opType == "Gemm" && node.inputs.count > 2 ? node.inputs[2] : nil, node, channels: s.n, accScales: accScales)
        let d = FullyConnectedDescriptor(rows: s.rows, inFeatures: s.k, outFeatures: s.n, inputZeroPoint: inP.zeroPoint,
                                         weights: weights, weightZeroPoints: wZps, bias: bias,
                                         requantizers: wScales.map { Requantizer((inP.scale * $0) / outP.scale) },
                                         output: outputStage(outP, range: range))
        return (d, s.outShape)
    }

    // MARK: - pools

    func poolGeometry(_ node: Node, input: [Int]) throws -> (PoolDescriptor, [Int]) {
        guard input.count == 4, input[0] == 1 else { throw ModelError.unsupportedAttribute(node: node.name, detail: "pooling of \(input); only NCHW batch 1") }
        let (c, h, w) = (input[1], input[2], input[3])
        let isMax = node.opType == "MaxPool" || node.opType == "GlobalMaxPool"
        var d = PoolDescriptor(kind: isMax ? .max : .average, channels: c, inHeight: h, inWidth: w, outHeight: 1, outWidth: 1,
                               kernelHeight: h, kernelWidth: w, strideH: 1, strideW: 1, padTop: 0, padLeft: 0,
                               countIncludePad: false, inputZeroPoint: 0, inputScale: 1, outputScale: 1, outputOffset: 0,
                               output: OutputStage(zeroPoint: 0, min: -128, max: 127))
        if node.opType.hasPrefix("Global") { return (d, [1, c, 1, 1]) }
        guard let ks = try node.ints("kernel_shape"), ks.count == 2, ks.allSatisfy({ $0 >= 1 && $0 <= 4096 }) else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "kernel_shape must be 2-D")
        }
        let strides = try node.ints("strides") ?? [1, 1]
        guard strides.count == 2, strides.allSatisfy({ $0 >= 1 && $0 <= 4096 }) else { throw ModelError.unsupportedAttribute(node: node.name, detail: "strides \(strides)") }
        if let dil = try node.ints("dilations"), dil.contains(where: { $0 != 1 }) {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "pool dilations \(dil)")
        }
        let ceil = try node.int("ceil_mode", default: 0) == 1
        let (pt, pl, oh, ow) = try windowOutput(node, h: h, w: w, kh: ks[0], kw: ks[1], strides: strides, ceil: ceil)
        d.kernelHeight = ks[0]; d.kernelWidth = ks[1]; d.strideH = strides[0]; d.strideW = strides[1]
        d.padTop = pt; d.padLeft = pl; d.outHeight = oh; d.outWidth = ow
        d.countIncludePad = try node.int("count_include_pad", default: 0) == 1
        return (d, [1, c, oh, ow])
    }

    // MARK: - data movement

    func movement(_ node: Node, inputShape: [Int], isFloat: Bool, fileOffset: Int32 = 0, fill: (Float) -> Float) throws -> (StepKind, [Int]) {
        let rank = inputShape.count
        let count = inputShape.reduce(1, *)
        func axisIndex(_ a: Int, rank r: Int) throws -> Int {
            let v = a < 0 ? a + r : a
            guard v >= 0, v < r else { throw ModelError.badShape("node '\(node.name)': axis \(a) for rank \(r)") }
            return v
        }
        switch node.opType {
        case "Reshape":
            guard node.inputs.count >= 2 else { throw ModelError.malformed("Reshape '\(node.name)' without a shape") }
            let spec = try constantInts(node.inputs[1], node)
            let allowZero = try node.int("allowzero", default: 0) == 1
            var out: [Int] = []
            var inferred: Int?
            for (i, d) in spec.enumerated() {
                if d == -1 {
                    guard inferred == nil else { throw ModelError.badShape("node '\(node.name)': two -1 in \(spec)") }
                    inferred = i; out.append(1)
                } else if d == 0 && !allowZero {
                    guard i < rank else { throw ModelError.badShape("node '\(node.name)': 0 at \(i) for input \(inputShape)") }
                    out.append(inputShape[i])
                } else {
                    guard d > 0, d <= count else { throw ModelError.badShape("node '\(node.name)': cannot reshape \(inputShape) to \(spec)") }
                    out.append(d)
                }
            }
            var known = 1
            for d in out {
                let (p, o) = known.multipliedReportingOverflow(by: d)
                guard !o, p <= count else { throw ModelError.badShape("node '\(node.name)': cannot reshape \(inputShape) to \(spec)") }
                known = p
            }
            if let i = inferred {
                guard known > 0, count % known == 0 else { throw ModelError.badShape("node '\(node.name)': cannot reshape \(inputShape) to \(spec)") }
                out[i] = count / known
            }
            guard out.reduce(1, *) == count else {
                throw ModelError.badShape("node '\(node.name)': cannot reshape \(inputShape) to \(spec)")
            }
            return (.copy, out)
        case "Flatten":
            let a = try node.int("axis", default: 1)
            let axis = a < 0 ? a + rank : a
            guard axis >= 0, axis <= rank else { throw ModelError.badShape("node '\(node.name)': axis \(a) for rank \(rank)") }
            return (.copy, [inputShape[..<axis].reduce(1, *), inputShape[axis...].reduce(1, *)])
        case "Squeeze", "Unsqueeze":
            var axes = try node.ints("axes")
            if axes == nil, node.inputs.count > 1, !node.inputs[1].isEmpty { axes = try constantInts(node.inputs[1], node) }
            if node.opType == "Squeeze" {
                let ax = try Set((axes ?? inputShape.indices.filter { inputShape[$0] == 1 }).map { try axisIndex($0, rank: rank) })
                guard ax.allSatisfy({ inputShape[$0] == 1 }) else { throw ModelError.badShape("node '\(node.name)': squeeze \(ax.sorted()) of \(inputShape)") }
                return (.copy, inputShape.indices.filter { !ax.contains($0) }.map { inputShape[$0] })
            }
            guard let axes else { throw ModelError.unsupportedAttribute(node: node.name, detail: "Unsqueeze without axes") }
            let outRank = rank + axes.count
            let ax = try Set(axes.map { try axisIndex($0, rank: outRank) })
            var it = inputShape.makeIterator()
            return (.copy, (0..<outRank).map { ax.contains($0) ? 1 : it.next() ?? 1 })
        case "Transpose":
            let perm = try node.ints("perm") ?? Array((0..<rank).reversed())
            guard perm.count == rank, Set(perm) == Set(0..<rank) else { throw ModelError.badShape("node '\(node.name)': perm \(perm) for rank \(rank)") }
            let out = perm.map { inputShape[$0] }
            return (perm == Array(0..<rank) ? .copy : .transpose(perm: perm, inShape: inputShape), out)
        case "Pad":
            let mode = try node.string("mode", default: "constant")
            guard mode == "constant" else { throw ModelError.unsupportedAttribute(node: node.name, detail: "Pad mode \(mode)") }
            var pads: [Int]
            var value: Float = try node.float("value", default: 0)
            if let p = try node.ints("pads") {
                pads = p
            } else {
                guard node.inputs.count >= 2 else { throw ModelError.malformed("Pad '\(node.name)' without pads") }
                pads = try constantInts(node.inputs[1], node)
                if node.inputs.count > 2, !node.inputs[2].isEmpty {
                    guard let t = try constant(node.inputs[2], node), let v = t.data.floats.first else {
                        // A quantized constant value arrives through a DequantizeLinear.
                        if case .constQuant(let cq) = try symbol(node.inputs[2], node), let v = cq.dequantized().first { value = v } else {
                            throw ModelError.unsupportedAttribute(node: node.name, detail: "Pad value must be constant")
                        }
                        return try padStep(node, inputShape, pads, fill(value))
                    }
                    value = v
                }
                if node.inputs.count > 3, !node.inputs[3].isEmpty {
                    throw ModelError.unsupportedAttribute(node: node.name, detail: "Pad with axes")
                }
            }
            return try padStep(node, inputShape, pads, fill(value))
        case "Resize", "Upsample":
            return try resizeStep(node, inputShape, fileOffset: fileOffset)
        default:
            throw ModelError.unsupportedOperator(op: node.opType, node: node.name)
        }
    }

    func padStep(_ node: Node, _ shape: [Int], _ pads: [Int], _ fill: Float) throws -> (StepKind, [Int]) {
        let rank = shape.count
        guard pads.count == 2 * rank, pads.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "pads \(pads) for rank \(rank) (negative pads are not supported)")
        }
        let out = (0..<rank).map { shape[$0] + pads[$0] + pads[$0 + rank] }
        return (.pad(begins: Array(pads[..<rank]), inShape: shape, outShape: out, fill: fill), out)
    }

    func resizeStep(_ node: Node, _ shape: [Int], fileOffset: Int32) throws -> (StepKind, [Int]) {
        let mode = try node.string("mode", default: "nearest")
        guard mode == "nearest" || mode == "linear" || mode == "bilinear" else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "Resize mode \(mode); only nearest and linear")
        }
        guard shape.count == 4 else { throw ModelError.unsupportedAttribute(node: node.name, detail: "Resize of rank \(shape.count)") }
        var scales: [Float]?
        var sizes: [Int]?
        let legacy = node.opType == "Upsample" || opset < 11
        if case .floats(let s)? = node.attributes["scales"] { scales = s }
        let scaleInput = legacy ? 1 : 2
        if scales == nil, node.inputs.count > scaleInput, !node.inputs[scaleInput].isEmpty,
           let t = try constant(node.inputs[scaleInput], node), t.data.count > 0 {
            scales = t.data.floats
        }
        if !legacy, node.inputs.count > 3, !node.inputs[3].isEmpty {
            sizes = try constantInts(node.inputs[3], node)
        }
        let outShape: [Int]
        if let sizes {
            guard sizes.count == 4 else { throw ModelError.badShape("node '\(node.name)': sizes \(sizes)") }
            outShape = sizes
        } else if let scales {
            guard scales.count == 4, scales.allSatisfy({ $0 > 0 && $0 <= 64 }) else { throw ModelError.badShape("node '\(node.name)': scales \(scales)") }
            outShape = (0..<4).map { Int((Float(shape[$0]) * scales[$0]).rounded(.down)) }
        } else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "Resize needs constant scales or sizes")
        }
        guard outShape[0] == shape[0], outShape[1] == shape[1], outShape[2] >= 1, outShape[3] >= 1, outShape[2] <= 1 << 15, outShape[3] <= 1 << 15 else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "Resize from \(shape) to \(outShape) (only H and W)")
        }
        let transform = legacy ? "asymmetric" : try node.string("coordinate_transformation_mode", default: "half_pixel")
        let nearest = legacy ? "floor" : try node.string("nearest_mode", default: "round_prefer_floor")
        func origins(_ outSize: Int, _ inSize: Int, _ scale: Float?) throws -> [Float] {
            let s = scale ?? Float(outSize) / Float(inSize)
            return try (0..<outSize).map { o in
                let x = Float(o)
                switch transform {
                case "half_pixel": return (x + 0.5) / s - 0.5
                case "pytorch_half_pixel": return outSize > 1 ? (x + 0.5) / s - 0.5 : 0
                case "asymmetric": return x / s
                case "tf_half_pixel_for_nn": return (x + 0.5) / s
                case "align_corners": return outSize == 1 ? 0 : x * Float(inSize - 1) / Float(outSize - 1)
                default: throw ModelError.unsupportedAttribute(node: node.name, detail: "coordinate_transformation_mode \(transform)")
                }
            }
        }
        /// Bilinear weights per output coordinate, as onnxruntime's upsampling set-up.
        func linear(_ outSize: Int, _ inSize: Int, _ scale: Float?) throws -> LinearAxis {
            var a = LinearAxis(i1: [], i2: [], w1: [], w2: [], f1: [], f2: [])
            for var v in try origins(outSize, inSize, scale) {
                v = max(0, min(v, Float(inSize - 1)))
                let i1 = min(Int(v), inSize - 1), i2 = min(i1 + 1, inSize - 1)
                let v10 = Int32(v * 1024)
                var d1 = abs(v10 - Int32(i1) * 1024), d2 = abs(v10 - Int32(i2) * 1024)
                var f1 = abs(v - Float(i1)), f2 = abs(v - Float(i2))
                if i1 == i2 { d1 = 512; d2 = 512; f1 = 0.5; f2 = 0.5 }
                // i1 is weighted by the distance to i2 and vice versa.
                a.i1.append(i1); a.i2.append(i2); a.w1.append(d2); a.w2.append(d1); a.f1.append(f2); a.f2.append(f1)
            }
            return a
        }
        if mode != "nearest" {
            let ya = try linear(outShape[2], shape[2], sizes == nil ? scales?[2] : nil)
            let xa = try linear(outShape[3], shape[3], sizes == nil ? scales?[3] : nil)
            return (.resizeLinear(planes: shape[0] * shape[1], inHeight: shape[2], inWidth: shape[3], y: ya, x: xa, offset: fileOffset), outShape)
        }
        func map(_ outSize: Int, _ inSize: Int, _ scale: Float?) throws -> [Int] {
            return try origins(outSize, inSize, scale).map { orig in
                let i: Float
                switch nearest {
                case "round_prefer_floor": i = orig == orig.rounded(.down) + 0.5 ? orig.rounded(.down) : orig.rounded()
                case "round_prefer_ceil": i = orig == orig.rounded(.down) + 0.5 ? orig.rounded(.up) : orig.rounded()
                case "floor": i = orig.rounded(.down)
                case "ceil": i = orig.rounded(.up)
                default: throw ModelError.unsupportedAttribute(node: node.name, detail: "nearest_mode \(nearest)")
                }
                return min(max(Int(i), 0), inSize - 1)
            }
        }
        let ys = try map(outShape[2], shape[2], sizes == nil ? scales?[2] : nil)
        let xs = try map(outShape[3], shape[3], sizes == nil ? scales?[3] : nil)
        return (.resizeNearest(planes: shape[0] * shape[1], inHeight: shape[2], inWidth: shape[3], ySource: ys, xSource: xs), outShape)
    }

    func concatShape(_ node: Node, _ shapes: [[Int]]) throws -> (Int, [Int]) {
        guard let first = shapes.first else { throw ModelError.malformed("Concat '\(node.name)' without inputs") }
        let a = try node.int("axis", default: 1)
        let axis = a < 0 ? a + first.count : a
        guard axis >= 0, axis < first.count else { throw ModelError.badShape("node '\(node.name)': axis \(a) for \(first)") }
        var out = first
        out[axis] = 0
        for s in shapes {
            guard s.count == first.count, (0..<s.count).allSatisfy({ $0 == axis || s[$0] == first[$0] }) else {
                throw ModelError.badShape("node '\(node.name)': cannot concatenate \(shapes) on axis \(axis)")
            }
            out[axis] += s[axis]
        }
        return (axis, out)
    }

    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        let pa = Array(repeating: 1, count: r - a.count) + a, pb = Array(repeating: 1, count: r - b.count) + b
        var out: [Int] = []
        for i in 0..<r {
            if pa[i] == pb[i] || pb[i] == 1 { out.append(pa[i]) } else if pa[i] == 1 { out.append(pb[i]) } else { return nil }
        }
        return out
    }

    // MARK: - float lowering

    mutating func lowerFloat(_ node: Node) throws {
        let out = node.outputs[0]
        func input(_ i: Int) throws -> Int {
            guard i < node.inputs.count, !node.inputs[i].isEmpty else { throw ModelError.malformed("node '\(node.name)' lacks input \(i)") }
            return try floatValue(node.inputs[i], node: node.name)
        }
        func constantFloats(_ i: Int) throws -> ([Float], [Int])? {
            guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
            switch try symbol(node.inputs[i], node) {
            case .constant(let t) where t.type == .float: return (t.data.floats, t.dims)
            case .constQuant(let c): return (c.dequantized(), c.tensor.dims)
            default: throw ModelError.unsupportedAttribute(node: node.name, detail: "input '\(node.inputs[i])' must be constant")
            }
        }
        switch node.opType {
        case "Conv":
            let x = try input(0)
            guard let (w, dims) = try constantFloats(1) else { throw ModelError.malformed("Conv '\(node.name)' without weights") }
            let g = try convGeometry(node, input: values[x].shape, weightDims: dims)
            var bias = try constantFloats(2)?.0 ?? Array(repeating: 0, count: g.outChannels)
            if bias.count == 1 { bias = Array(repeating: bias[0], count: g.outChannels) }
            guard bias.count == g.outChannels else { throw ModelError.badShape("node '\(node.name)': bias of \(bias.count)") }
            let v = try addValue(out, shape: [1, g.outChannels, g.outHeight, g.outWidth], isFloat: true)
            emit(.floatConv(FloatConv(geometry: g, weights: w, bias: bias)), [x], v, node.name)
            symbols[out] = .float(v)
        case "Gemm", "MatMul":
            let x = try input(0)
            guard let (w, dims) = try constantFloats(1) else {
                throw ModelError.unsupportedAttribute(node: node.name, detail: "\(node.opType) needs a constant right-hand side")
            }
            let s = try fullyConnectedShape(node, input: values[x].shape, weightDims: dims)
            var wt = w
            if !s.transposed { wt = [Float](repeating: 0, count: w.count); for k in 0..<s.k { for n in 0..<s.n { wt[n * s.k + k] = w[k * s.n + n] } } }
            var bias = node.opType == "Gemm" ? (try constantFloats(2)?.0 ?? []) : []
            if bias.isEmpty { bias = Array(repeating: 0, count: s.n) }
            if bias.count == 1 { bias = Array(repeating: bias[0], count: s.n) }
            guard bias.count == s.n else { throw ModelError.badShape("node '\(node.name)': bias of \(bias.count) for \(s.n) outputs") }
            let v = try addValue(out, shape: s.outShape, isFloat: true)
            emit(.floatFullyConnected(rows: s.rows, inFeatures: s.k, outFeatures: s.n, weights: wt, bias: bias), [x], v, node.name)
            symbols[out] = .float(v)
        case "Add", "Sub", "Mul", "Div", "PRelu":
            let a = try input(0), b = try input(1)
            guard let shape = Planner.broadcast(values[a].shape, values[b].shape) else {
                throw ModelError.badShape("node '\(node.name)': cannot broadcast \(values[a].shape) and \(values[b].shape)")
            }
            let op: FloatBinary = switch node.opType { case "Add": .add; case "Sub": .sub; case "Mul": .mul; case "Div": .div; default: .prelu }
            let v = try addValue(out, shape: shape, isFloat: true)
            emit(.floatBinary(op, aShape: values[a].shape, bShape: values[b].shape, outShape: shape), [a, b], v, node.name)
            symbols[out] = .float(v)
        case "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip":
            let x = try input(0)
            let op: FloatUnary
            switch node.opType {
            case "Relu": op = .relu
            case "Sigmoid": op = .sigmoid
            case "Tanh": op = .tanh
            case "LeakyRelu": op = .leakyRelu(try node.float("alpha", default: 0.01))
            default: let (lo, hi) = try clipRange(node); op = .clip(lo, hi)
            }
            let v = try addValue(out, shape: values[x].shape, isFloat: true)
            emit(.floatUnary(op), [x], v, node.name)
            symbols[out] = .float(v)
        case "Softmax":
            let x = try input(0)
            let shape = values[x].shape
            let a = try node.int("axis", default: opset >= 13 ? -1 : 1)
            let axis = a < 0 ? a + shape.count : a
            guard axis >= 0, axis < shape.count else { throw ModelError.badShape("node '\(node.name)': axis \(a) for \(shape)") }
            let outer = shape[..<axis].reduce(1, *)
            let (len, inner) = opset >= 13 ? (shape[axis], shape[(axis + 1)...].reduce(1, *)) : (shape[axis...].reduce(1, *), 1)
            let v = try addValue(out, shape: shape, isFloat: true)
            emit(.floatSoftmax(outer: outer, axis: len, inner: inner), [x], v, node.name)
            symbols[out] = .float(v)
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool":
            let x = try input(0)
            let (d, shape) = try poolGeometry(node, input: values[x].shape)
            let v = try addValue(out, shape: shape, isFloat: true)
            emit(.floatPool(d), [x], v, node.name)
            symbols[out] = .float(v)
        case "Concat":
            let xs = try (0..<node.inputs.count).map { try input($0) }
            let (axis, shape) = try concatShape(node, xs.map { values[$0].shape })
            let v = try addValue(out, shape: shape, isFloat: true)
            emit(.concat(axis: axis, shapes: xs.map { values[$0].shape }), xs, v, node.name)
            symbols[out] = .float(v)
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Pad", "Resize", "Upsample":
            let x = try input(0)
            let (kind, shape) = try movement(node, inputShape: values[x].shape, isFloat: true, fill: { $0 })
            let v = try addValue(out, shape: shape, isFloat: true)
            emit(kind, [x], v, node.name)
            symbols[out] = .float(v)
        default:
            throw ModelError.unsupportedOperator(op: node.opType, node: node.name)
        }
    }

    // MARK: - memory

    /// Assigns arena offsets: a value lives from the step that writes it to the last step that
    /// reads it (inputs from the start, constants and outputs to the end); values whose lifetimes
    /// do not overlap share bytes. Greedy by size, lowest fitting offset (as TFLite's arena planner).
    mutating func assignOffsets(outputs: [Int]) -> Int {
        let n = values.count
        var first = [Int](repeating: Int.max, count: n), last = [Int](repeating: -1, count: n)
        for (s, step) in steps.enumerated() {
            first[step.output] = min(first[step.output], s)
            last[step.output] = max(last[step.output], s)
            for i in step.inputs { last[i] = max(last[i], s) }
        }
        let end = steps.count
        for v in 0..<n {
            if values[v].constant != nil || first[v] == Int.max { first[v] = -1 }
            if values[v].constant != nil { last[v] = end }
        }
        for o in outputs { last[o] = end }
        let order = (0..<n).sorted { values[$0].byteCount > values[$1].byteCount }
        var placed: [(offset: Int, size: Int, first: Int, last: Int)] = []
        var total = 0
        for v in order {
            let size = (values[v].byteCount + 63) & ~63
            let overlapping = placed.filter { $0.first <= last[v] && first[v] <= $0.last }.sorted { $0.offset < $1.offset }
            var offset = 0
            for p in overlapping {
                if offset + size <= p.offset { break }
                offset = max(offset, p.offset + p.size)
            }
            values[v].offset = offset
            placed.append((offset, size, first[v], last[v]))
            total = max(total, offset + size)
        }
        return total
    }
}
