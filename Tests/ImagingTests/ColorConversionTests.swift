import Imaging
import Testing
import VigilCore
import VigilTestSupport

@Suite("ColorConversion")
struct ColorConversionTests {
    /// The real-valued BT.601 limited-range formula, rounded and clamped: the reference the
    /// fixed-point version is held to.
    static func reference(y: Int, cb: Int, cr: Int) -> (Int, Int, Int) {
        let l = 255.0 / 219.0 * Double(y - 16)
        let u = Double(cb - 128) * 255.0 / 224.0, v = Double(cr - 128) * 255.0 / 224.0
        let kr = 0.299, kb = 0.114, kg = 1 - kr - kb
        let r = l + 2 * (1 - kr) * v
        let g = l - 2 * (1 - kb) * kb / kg * u - 2 * (1 - kr) * kr / kg * v
        let b = l + 2 * (1 - kb) * u
        func c(_ x: Double) -> Int { min(255, max(0, Int(x.rounded()))) }
        return (c(r), c(g), c(b))
    }

    @Test("ycbcrToRGB is within 1 of the double-precision formula on all 2^24 inputs")
    func exhaustive() {
        var worst = 0, differing = 0
        for y in 0..<256 {
            for cb in 0..<256 {
                for cr in 0..<256 {
                    let f = ColorConversion.ycbcrToRGB(y: y, cb: cb, cr: cr)
                    let r = Self.reference(y: y, cb: cb, cr: cr)
                    let d = max(abs(Int(f.0) - r.0), abs(Int(f.1) - r.1), abs(Int(f.2) - r.2))
                    if d > 0 { differing += 1 }
                    worst = max(worst, d)
                }
            }
        }
        #expect(worst <= 1)
        print("ycbcrToRGB vs double: max diff \(worst), \(differing) of 16777216 triples differ")
    }

    @Test("known points: black, white, grey, clamping")
    func knownPoints() {
        #expect(ColorConversion.ycbcrToRGB(y: 16, cb: 128, cr: 128) == (0, 0, 0))
        #expect(ColorConversion.ycbcrToRGB(y: 235, cb: 128, cr: 128) == (255, 255, 255))
        #expect(ColorConversion.ycbcrToRGB(y: 0, cb: 128, cr: 128) == (0, 0, 0))
        #expect(ColorConversion.ycbcrToRGB(y: 255, cb: 128, cr: 128) == (255, 255, 255))
        #expect(ColorConversion.ycbcrToRGB(y: 126, cb: 128, cr: 128) == (128, 128, 128))  // 110*255/219 = 128.08
        // Out-of-range inputs are clamped to bytes first.
        #expect(ColorConversion.ycbcrToRGB(y: 999, cb: -5, cr: 128) == ColorConversion.ycbcrToRGB(y: 255, cb: 0, cr: 128))
    }

    /// The BT.601 75% colour bars (Y'CbCr table values) decode to 191/0 within 1; the table
    /// values are themselves rounded to integers, so exactness is not expected.
    @Test("75% colour bars")
    func bars() {
        let ycbcr = [(180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58),
                     (84, 184, 198), (65, 100, 212), (35, 212, 114), (16, 128, 128)]
        for (i, (y, cb, cr)) in ycbcr.enumerated() {
            let got = ColorConversion.ycbcrToRGB(y: y, cb: cb, cr: cr)
            let want = SyntheticImages.bars75[i]
            #expect(abs(Int(got.0) - Int(want.0)) <= 1 && abs(Int(got.1) - Int(want.1)) <= 1
                    && abs(Int(got.2) - Int(want.2)) <= 1, "bar \(i): \(got) vs \(want)")
        }
        #expect(ColorConversion.ycbcrToRGB(y: 180, cb: 128, cr: 128) == (191, 191, 191))
    }

    @Test("YUYV loop equals ycbcrToRGB per pixel",
          arguments: [(64, 16, 0), (64, 16, 140), (33, 5, 0), (33, 5, 80), (1, 1, 0), (2, 3, 9)])
    func yuyv(width: Int, height: Int, bytesPerLine: Int) throws {
        let stride = bytesPerLine == 0 ? (width + 1) / 2 * 4 : bytesPerLine
        let data = SyntheticImages.randomBytes(count: stride * height, seed: UInt64(width * 1000 + height))
        let image = try data.withUnsafeBytes {
            try ColorConversion.yuyvToRGB($0, size: Size(width: width, height: height), bytesPerLine: bytesPerLine)
        }
        #expect(image.size == Size(width: width, height: height))
        for y in 0..<height {
            for x in 0..<width {
                let m = y * stride + (x / 2) * 4
                let luma = Int(data[m + (x % 2) * 2])
                let want = ColorConversion.ycbcrToRGB(y: luma, cb: Int(data[m + 1]), cr: Int(data[m + 3]))
                #expect(image.pixel(x: x, y: y) == want, "(\(x), \(y))")
            }
        }
    }

    @Test("NV12 loop equals ycbcrToRGB per pixel",
          arguments: [(64, 16, 0), (64, 16, 72), (33, 7, 0), (33, 7, 40), (1, 1, 0), (3, 2, 0)])
    func nv12(width: Int, height: Int, bytesPerLine: Int) throws {
        let stride = bytesPerLine == 0 ? width : bytesPerLine
        let chromaStride = max(stride, (width + 1) / 2 * 2)
        let count = stride * height + chromaStride * ((height + 1) / 2)
        let data = SyntheticImages.randomBytes(count: count, seed: UInt64(width * 7 + height))
        if bytesPerLine == 0 {
            #expect(count == PixelFormat.nv12.packedSize(width: width, height: height))
        }
        let image = try data.withUnsafeBytes {
            try ColorConversion.nv12ToRGB($0, size: Size(width: width, height: height), bytesPerLine: bytesPerLine)
        }
        for y in 0..<height {
            for x in 0..<width {
                let c = stride * height + (y / 2) * chromaStride + (x / 2) * 2
                let want = ColorConversion.ycbcrToRGB(y: Int(data[y * stride + x]), cb: Int(data[c]), cr: Int(data[c + 1]))
                #expect(image.pixel(x: x, y: y) == want, "(\(x), \(y))")
            }
        }
    }

    /// Every (Cb, Cr) pair with black and white luma: drives the loops' clamp table to both ends
    /// of its range, which random data may not reach.
    @Test("YUYV and NV12 loops equal ycbcrToRGB on all chroma pairs at luma extremes")
    func extremes() throws {
        // YUYV: row = Cb, macropixel = Cr, Y0 = 0, Y1 = 255.
        var yuyv = [UInt8](repeating: 0, count: 256 * 256 * 4)
        for cb in 0..<256 { for cr in 0..<256 {
            let m = (cb * 256 + cr) * 4
            yuyv[m] = 0; yuyv[m + 1] = UInt8(cb); yuyv[m + 2] = 255; yuyv[m + 3] = UInt8(cr)
        } }
        let a = try yuyv.withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: Size(width: 512, height: 256), bytesPerLine: 1024) }
        // NV12 with the same chroma: 512 x 512 luma alternating 0/255, chroma row = Cb.
        let w = 512, h = 512
        var nv12 = [UInt8](repeating: 0, count: w * h + w * h / 2)
        for y in 0..<h { for x in 0..<w { nv12[y * w + x] = x % 2 == 0 ? 0 : 255 } }
        for cb in 0..<256 { for cr in 0..<256 {
            nv12[w * h + cb * w + cr * 2] = UInt8(cb); nv12[w * h + cb * w + cr * 2 + 1] = UInt8(cr)
        } }
        let b = try nv12.withUnsafeBytes { try ColorConversion.nv12ToRGB($0, size: Size(width: w, height: h), bytesPerLine: w) }
        var mismatches = 0
        for cb in 0..<256 {
            for cr in 0..<256 {
                let black = ColorConversion.ycbcrToRGB(y: 0, cb: cb, cr: cr)
                let white = ColorConversion.ycbcrToRGB(y: 255, cb: cb, cr: cr)
                if a.pixel(x: cr * 2, y: cb) != black || a.pixel(x: cr * 2 + 1, y: cb) != white { mismatches += 1 }
                if b.pixel(x: cr * 2, y: cb * 2 + 1) != black || b.pixel(x: cr * 2 + 1, y: cb * 2) != white { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("GREY copies luma to R = G = B", arguments: [(17, 5, 0), (17, 5, 32)])
    func grey(width: Int, height: Int, bytesPerLine: Int) throws {
        let stride = bytesPerLine == 0 ? width : bytesPerLine
        let data = SyntheticImages.randomBytes(count: stride * height, seed: 9)
        let image = try data.withUnsafeBytes {
            try ColorConversion.greyToRGB($0, size: Size(width: width, height: height), bytesPerLine: bytesPerLine)
        }
        for y in 0..<height {
            for x in 0..<width {
                let v = data[y * stride + x]
                #expect(image.pixel(x: x, y: y) == (v, v, v))
            }
        }
    }

    @Test("a YUYV frame of the colour bars decodes to the bars")
    func yuyvBars() throws {
        let ycbcr = [(180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58),
                     (84, 184, 198), (65, 100, 212), (35, 212, 114), (16, 128, 128)]
        let width = 64, height = 4
        var data: [UInt8] = []
        for _ in 0..<height {
            for m in 0..<(width / 2) {
                let (y, cb, cr) = ycbcr[m * 2 * 8 / width]
                data += [UInt8(y), UInt8(cb), UInt8(y), UInt8(cr)]
            }
        }
        let image = try data.withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: Size(width: width, height: height), bytesPerLine: width * 2) }
        let bars = SyntheticImages.colourBars(width: width, height: height)
        #expect(try #require(TestHelpers.maxAbsoluteError(image, bars)) <= 1)
    }

    @Test("short buffers and strides throw bufferTooSmall")
    func shortBuffers() throws {
        let size = Size(width: 640, height: 480)
        let yuyv = [UInt8](repeating: 0, count: 640 * 480 * 2 - 1)
        #expect(throws: ImagingError.bufferTooSmall(expected: 614_400, got: 614_399)) {
            try yuyv.withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: size, bytesPerLine: 1280) }
        }
        #expect(throws: ImagingError.bufferTooSmall(expected: 1280, got: 1000)) {
            try yuyv.withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: size, bytesPerLine: 1000) }
        }
        let nv12 = [UInt8](repeating: 0, count: 640 * 480 * 3 / 2 - 1)
        #expect(throws: ImagingError.bufferTooSmall(expected: 460_800, got: 460_799)) {
            try nv12.withUnsafeBytes { try ColorConversion.nv12ToRGB($0, size: size, bytesPerLine: 640) }
        }
        let grey = [UInt8](repeating: 0, count: 640 * 480 - 1)
        #expect(throws: ImagingError.bufferTooSmall(expected: 307_200, got: 307_199)) {
            try grey.withUnsafeBytes { try ColorConversion.greyToRGB($0, size: size, bytesPerLine: 640) }
        }
        // A bogus driver stride must not overflow.
        #expect(throws: ImagingError.self) {
            try grey.withUnsafeBytes { try ColorConversion.greyToRGB($0, size: size, bytesPerLine: Int.max / 2) }
        }
        #expect(throws: ImagingError.self) {
            try grey.withUnsafeBytes { try ColorConversion.nv12ToRGB($0, size: size, bytesPerLine: Int.max / 3) }
        }
        // Empty input buffer.
        #expect(throws: ImagingError.bufferTooSmall(expected: 8, got: 0)) {
            try [UInt8]().withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: Size(width: 2, height: 2), bytesPerLine: 4) }
        }
    }

    @Test("degenerate and huge sizes")
    func sizes() throws {
        let data = [UInt8](repeating: 0, count: 16)
        let empty = try data.withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: Size(width: 0, height: 4), bytesPerLine: 0) }
        #expect(empty == .empty)
        let negative = try data.withUnsafeBytes { try ColorConversion.greyToRGB($0, size: Size(width: -3, height: 4), bytesPerLine: 0) }
        #expect(negative == .empty)
        #expect(throws: ImagingError.imageTooLarge(Size(width: 1 << 20, height: 1))) {
            try data.withUnsafeBytes { try ColorConversion.greyToRGB($0, size: Size(width: 1 << 20, height: 1), bytesPerLine: 0) }
        }
    }
}
