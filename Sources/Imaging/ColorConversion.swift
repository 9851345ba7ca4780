import VigilCore

/// Converts raw camera frames (YUYV, NV12, GREY) to RGB.
///
/// Colour model: BT.601, limited ("studio") range, the V4L2 default colourspace for YUYV and NV12
/// from UVC and CSI cameras. With Y in 16...235 and Cb, Cr in 16...240:
///
///     R = 1.164384 (Y - 16)                      + 1.596027 (Cr - 128)
///     G = 1.164384 (Y - 16) - 0.391762 (Cb - 128) - 0.812968 (Cr - 128)
///     B = 1.164384 (Y - 16) + 2.017232 (Cb - 128)
///
/// (255/219 for luma, 255/224 * 2(1-Kr) etc. for chroma, Kr = 0.299, Kb = 0.114), each result
/// rounded and clamped to 0...255.
///
/// Why fixed point: the loops run on every pixel of every frame on an ARM board. The coefficients
/// are scaled by 2^16 and rounded (76309, 104597, 25675, 53279, 132201); every term fits in Int32
/// (|sum| < 2^26). `ycbcrToRGB` is the single-pixel specification; the frame loops use per-value
/// tables of the same integer terms (plus a clamp table, see `clipTable`) and produce
/// bit-identical results (tested on random data).
/// Against the exact real-valued formula the result is off by at most 1 (tested on all 2^24
/// inputs).
///
/// GREY frames are copied to R = G = B unchanged: greyscale (IR/mono) sensors deliver full-range
/// luma, so expanding it from 16...235 would clip.
///
/// Strides: `bytesPerLine` is the driver's stride (V4L2 `bytesperline`); 0 means tightly packed.
/// Odd widths are handled: the last pixel of a YUYV row uses its own Y and the chroma of its
/// (half-used) macropixel, so a row needs `((width + 1) / 2) * 4` bytes; NV12 chroma covers
/// `(width + 1) / 2` x `(height + 1) / 2` samples. Frames shorter than that throw
/// `bufferTooSmall`; non-positive sizes give an empty image.
public enum ColorConversion {
    /// Fixed-point coefficients (x 2^16).
    static let kY: Int32 = 76309
    static let kRCr: Int32 = 104597
    static let kGCb: Int32 = 25675
    static let kGCr: Int32 = 53279
    static let kBCb: Int32 = 132201
    /// Adds 0.5 before the final shift, so the shift rounds to nearest.
    static let half: Int32 = 1 << 15

    /// Raw frames larger than this in either dimension are refused: no camera produces them, and
    /// the limit keeps every size computation far from overflow.
    public static let maximumDimension = 1 << 16

    /// Converts one Y'CbCr triple (each clamped to 0...255) to RGB: the specification the frame
    /// loops must match bit for bit.
    public static func ycbcrToRGB(y: Int, cb: Int, cr: Int) -> (UInt8, UInt8, UInt8) {
        let yy = Int32(clamping: min(max(y, 0), 255)) - 16
        let u = Int32(clamping: min(max(cb, 0), 255)) - 128
        let v = Int32(clamping: min(max(cr, 0), 255)) - 128
        let l = yy * kY + half
        return (
            UInt8(clamping: (l + kRCr * v) >> 16),
            UInt8(clamping: (l - kGCb * u - kGCr * v) >> 16),
            UInt8(clamping: (l + kBCb * u) >> 16))
    }

    /// The same integer terms as `ycbcrToRGB`, tabulated per input byte so the loops do three
    /// table reads and adds per pixel: [Y term + rounding | R from Cr | G from Cb | G from Cr |
    /// B from Cb], 256 entries each.
    static let tables: [Int32] = {
        var t = [Int32](repeating: 0, count: 5 * 256)
        for i in 0..<256 {
            let c = Int32(i) - 128
            t[i] = (Int32(i) - 16) * kY + half
            t[256 + i] = kRCr * c
            t[512 + i] = -kGCb * c
            t[768 + i] = -kGCr * c
            t[1024 + i] = kBCb * c
        }
        return t
    }()

    /// Offset of zero in `clipTable`.
    static let clipOffset = 384

    /// `clipTable[clipOffset + v]` = v clamped to 0...255, for v in -384...639, which covers every
    /// `(sum >> 16)` the tables can produce (-277...534). A lookup instead of compare-and-branch:
    /// clamping is data-dependent, and on saturated or noisy frames the branches mispredict often
    /// enough to double the cost of the loop.
    static let clipTable: [UInt8] = (0..<1024).map { UInt8(clamping: $0 - 384) }

    /// Runs `body` with raw pointers to `tables` and to `clipTable[clipOffset]`.
    @inline(__always)
    static func withTables<R>(_ body: (UnsafePointer<Int32>, UnsafePointer<UInt8>) -> R) -> R? {
        tables.withUnsafeBufferPointer { t in
            clipTable.withUnsafeBufferPointer { c in
                guard let tab = t.baseAddress, let clip = c.baseAddress else { return nil }
                return body(tab, clip + clipOffset)
            }
        }
    }

    /// Packed 4:2:2 `Y0 Cb Y1 Cr` -> RGB.
    public static func yuyvToRGB(_ src: UnsafeRawBufferPointer, size: Size, bytesPerLine: Int) throws(ImagingError) -> RGBImage {
        guard size.width > 0, size.height > 0 else { return .empty }
        try checkDimensions(size)
        let w = size.width, h = size.height
        let rowBytes = ((w + 1) / 2) * 4
        let stride = bytesPerLine == 0 ? rowBytes : bytesPerLine
        guard stride >= rowBytes else { throw .bufferTooSmall(expected: rowBytes, got: stride) }
        let needed = requiredBytes(offset: 0, stride: stride, rows: h, lastRow: rowBytes)
        guard src.count >= needed, let base = src.baseAddress else {
            throw .bufferTooSmall(expected: needed, got: src.count)
        }
        let input = base.assumingMemoryBound(to: UInt8.self)
        var image = RGBImage(width: w, height: h)
        _ = withTables { tab, clip in
            image.pixels.withUnsafeMutableBufferPointer { out in
                guard let dst = out.baseAddress else { return }
                for row in 0..<h {
                    let s = input + row * stride
                    var o = dst + row * w * 3
                    var x = 0
                    while x + 1 < w {
                        let m = s + x * 2
                        let cb = Int(m[1]), cr = Int(m[3])
                        let r = tab[256 + cr], g = tab[512 + cb] &+ tab[768 + cr], b = tab[1024 + cb]
                        let l0 = tab[Int(m[0])], l1 = tab[Int(m[2])]
                        o[0] = clip[Int((l0 &+ r) >> 16)]
                        o[1] = clip[Int((l0 &+ g) >> 16)]
                        o[2] = clip[Int((l0 &+ b) >> 16)]
                        o[3] = clip[Int((l1 &+ r) >> 16)]
                        o[4] = clip[Int((l1 &+ g) >> 16)]
                        o[5] = clip[Int((l1 &+ b) >> 16)]
                        o += 6
                        x += 2
                    }
                    if x < w {  // odd width: last pixel, first half of its macropixel
                        let m = s + x * 2
                        let cb = Int(m[1]), cr = Int(m[3])
                        let l = tab[Int(m[0])]
                        o[0] = clip[Int((l &+ tab[256 + cr]) >> 16)]
                        o[1] = clip[Int((l &+ tab[512 + cb] &+ tab[768 + cr]) >> 16)]
                        o[2] = clip[Int((l &+ tab[1024 + cb]) >> 16)]
                    }
                }
            }
        }
        return image
    }

    /// Planar 4:2:0: a Y plane of `height` rows at stride `bytesPerLine`, then an interleaved
    /// `Cb Cr` plane of `(height + 1) / 2` rows at the same stride (the V4L2 single-plane NV12
    /// layout). When the stride is too short for a chroma row (tightly packed odd widths), the
    /// chroma rows are taken as tightly packed, which matches `PixelFormat.packedSize`.
    public static func nv12ToRGB(_ src: UnsafeRawBufferPointer, size: Size, bytesPerLine: Int) throws(ImagingError) -> RGBImage {
        guard size.width > 0, size.height > 0 else { return .empty }
        try checkDimensions(size)
        let w = size.width, h = size.height
        let stride = bytesPerLine == 0 ? w : bytesPerLine
        guard stride >= w else { throw .bufferTooSmall(expected: w, got: stride) }
        let chromaRowBytes = ((w + 1) / 2) * 2
        let chromaStride = max(stride, chromaRowBytes)
        let chromaRows = (h + 1) / 2
        let chromaOffset = requiredBytes(offset: 0, stride: stride, rows: h + 1, lastRow: 0)
        let needed = requiredBytes(offset: chromaOffset, stride: chromaStride, rows: chromaRows, lastRow: chromaRowBytes)
        guard src.count >= needed, let base = src.baseAddress else {
            throw .bufferTooSmall(expected: needed, got: src.count)
        }
        let input = base.assumingMemoryBound(to: UInt8.self)
        var image = RGBImage(width: w, height: h)
        _ = withTables { tab, clip in
            image.pixels.withUnsafeMutableBufferPointer { out in
                guard let dst = out.baseAddress else { return }
                for row in 0..<h {
                    let ys = input + row * stride
                    let cs = input + chromaOffset + (row / 2) * chromaStride
                    var o = dst + row * w * 3
                    var x = 0
                    while x < w {
                        let cb = Int(cs[x & ~1]), cr = Int(cs[(x & ~1) + 1])
                        let r = tab[256 + cr], g = tab[512 + cb] &+ tab[768 + cr], b = tab[1024 + cb]
                        let l0 = tab[Int(ys[x])]
                        o[0] = clip[Int((l0 &+ r) >> 16)]
                        o[1] = clip[Int((l0 &+ g) >> 16)]
                        o[2] = clip[Int((l0 &+ b) >> 16)]
                        if x + 1 < w {
                            let l1 = tab[Int(ys[x + 1])]
                            o[3] = clip[Int((l1 &+ r) >> 16)]
                            o[4] = clip[Int((l1 &+ g) >> 16)]
                            o[5] = clip[Int((l1 &+ b) >> 16)]
                        }
                        o += 6
                        x += 2
                    }
                }
            }
        }
        return image
    }

    /// 8-bit luma -> R = G = B (unchanged, see the type's notes on range).
    public static func greyToRGB(_ src: UnsafeRawBufferPointer, size: Size, bytesPerLine: Int) throws(ImagingError) -> RGBImage {
        guard size.width > 0, size.height > 0 else { return .empty }
        try checkDimensions(size)
        let w = size.width, h = size.height
        let stride = bytesPerLine == 0 ? w : bytesPerLine
        guard stride >= w else { throw .bufferTooSmall(expected: w, got: stride) }
        let needed = requiredBytes(offset: 0, stride: stride, rows: h, lastRow: w)
        guard src.count >= needed, let base = src.baseAddress else {
            throw .bufferTooSmall(expected: needed, got: src.count)
        }
        let input = base.assumingMemoryBound(to: UInt8.self)
        var image = RGBImage(width: w, height: h)
        image.pixels.withUnsafeMutableBufferPointer { out in
            guard let dst = out.baseAddress else { return }
            for row in 0..<h {
                let s = input + row * stride
                let o = dst + row * w * 3
                for x in 0..<w {
                    let v = s[x]
                    o[3 * x] = v
                    o[3 * x + 1] = v
                    o[3 * x + 2] = v
                }
            }
        }
        return image
    }

    /// `offset + stride * (rows - 1) + lastRow`, saturating at `Int.max` so that a bogus driver
    /// stride yields `bufferTooSmall` instead of an overflow trap. (The last row need not be
    /// padded to the full stride.)
    private static func requiredBytes(offset: Int, stride: Int, rows: Int, lastRow: Int) -> Int {
        let (body, o1) = stride.multipliedReportingOverflow(by: rows - 1)
        let (a, o2) = offset.addingReportingOverflow(body)
        let (b, o3) = a.addingReportingOverflow(lastRow)
        return o1 || o2 || o3 ? Int.max : b
    }

    private static func checkDimensions(_ size: Size) throws(ImagingError) {
        guard size.width <= maximumDimension, size.height <= maximumDimension else {
            throw .imageTooLarge(size)
        }
    }
}
