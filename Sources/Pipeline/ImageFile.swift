#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Imaging
import VigilCore

/// Loads a still image (JPEG, PNG or WebP) for the offline commands (`vigil detect`, `embed`,
/// `compare`, `evaluate`, enrollment, `watchlist search`), with bounded memory.
///
/// The format is taken from the file's first bytes, never its name (scraped photo sets are full of
/// WebPs called `.jpg`). Whatever the format, the caller gets an image whose long side is at most
/// `maximumSide`, and the factor back to the file's pixels:
/// - JPEG is downscaled inside the decoder (DCT scaling, up to 1/8), so a huge JPEG is never
///   decoded in full; one still too large after 1/8 is refused.
/// - PNG and WebP cannot be scaled while decoding: they are decoded in full if the header's size
///   is within `maximumDecodedPixels` (refused before allocation otherwise), then reduced by 2×2
///   box halvings and a final bilinear resize to exactly `maximumSide` on the long side.
public enum ImageFile {
    /// Long side kept by default: enough for faces of ~40 px in a group photo, at most
    /// 2560 × 2560 × 3 = 19.7 MB of RGB.
    public static let defaultMaximumSide = 2560

    /// The largest PNG/WebP decoded (64 Mpx, 192 MiB of RGB; see `StillImageLimits`).
    public static let maximumDecodedPixels = StillImageLimits.defaultMaximumPixels

    /// Files above this are refused while reading (and a FIFO or device cannot grow without end):
    /// 512 MiB is more than a 64 Mpx PNG stored uncompressed.
    public static let maximumFileBytes = ReadLimit.photo

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var path: String
        public var reason: String
        public init(path: String, reason: String) { self.path = path; self.reason = reason }
        public var description: String { "\(path): \(reason)" }
    }

    /// The decoded image and the factor from its pixels back to the file's pixels (1 unless it
    /// was downscaled): coordinates × `scale` = file coordinates.
    public static func load(_ path: String, maximumSide: Int = defaultMaximumSide) throws(LoadError) -> (image: RGBImage, scale: Double) {
        let (bytes, format) = try readSniffed(path)
        let side = max(1, maximumSide)
        // (Array.withUnsafeBytes rethrows untyped, hence the Result.)
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ImagingError) -> (image: RGBImage, scale: Double) in
                switch format {
                case .jpeg: return try loadJPEG(raw, maximumSide: side)
                case .png: return fitted(try PNGDecoder.decode(raw, maximumPixels: maximumDecodedPixels), maximumSide: side)
                case .webp: return fitted(try WebPDecoder.decode(raw, maximumPixels: maximumDecodedPixels), maximumSide: side)
                }
            }
        }
        switch result {
        case .success(let loaded): return loaded
        case .failure(let error):
            switch error {
            case .notJPEG: throw LoadError(path: path, reason: "not a JPEG image (no SOI marker)")
            case .imageTooLarge(let s) where format == .jpeg:
                throw LoadError(path: path, reason: "image \(s) is too large even at 1/8 scale")
            case .imageTooLarge(let s):
                throw LoadError(path: path, reason: "\(format) image \(s) is above the \(maximumDecodedPixels >> 20) Mpx decode limit")
            default: throw LoadError(path: path, reason: "\(error)")
            }
        }
    }

    private static func loadJPEG(_ raw: UnsafeRawBufferPointer, maximumSide: Int) throws(ImagingError) -> (image: RGBImage, scale: Double) {
        let decoder = try JPEGDecoder()
        // The header check happens before any pixel allocation; let through anything DCT
        // scaling can bring under the limit.
        decoder.maximumSize = Size(width: maximumSide * 8, height: maximumSide * 8)
        let full = try decoder.header(raw).size
        // The least reduction (1, 1/2, 1/4, 1/8) that brings the long side within the limit.
        guard let d = [1, 2, 4, 8].first(where: { (max(full.width, full.height) + $0 - 1) / $0 <= maximumSide }) else {
            throw .imageTooLarge(full)
        }
        if d == 1 { return (try decoder.decode(raw), 1) }
        let img = try decoder.decode(raw, atLeast: Size(width: (full.width + d - 1) / d, height: (full.height + d - 1) / d))
        return (img, Double(full.width) / Double(img.width))
    }

    /// `image` with its long side brought down to `maximumSide` (unchanged if already within),
    /// and the factor back to `image`'s pixels.
    ///
    /// Why halve first: the bilinear resize does not low-pass filter, so past a 2× reduction it
    /// aliases (the JPEG path avoids this with DCT scaling); 2×2 box averages until less than 2×
    /// is left play that role here.
    static func fitted(_ image: RGBImage, maximumSide: Int) -> (image: RGBImage, scale: Double) {
        let long = max(image.width, image.height)
        guard long > maximumSide else { return (image, 1) }
        var reduced = image
        while max(reduced.width, reduced.height) >= 2 * maximumSide { reduced = reduced.halved() }
        let f = Double(maximumSide) / Double(long)
        let target = image.width >= image.height
            ? Size(width: maximumSide, height: max(1, Int((Double(image.height) * f).rounded())))
            : Size(width: max(1, Int((Double(image.width) * f).rounded())), height: maximumSide)
        return (reduced.resized(to: target), Double(long) / Double(maximumSide))
    }

    /// The whole file and its format. The first 16 bytes are read and sniffed before the rest, so
    /// a text file is refused at once; a FIFO, device (/dev/zero) or directory is refused before
    /// anything is read (`ReadableFile`: the open never blocks); the total is capped at
    /// `maximumFileBytes`, before reading by the file's size and while reading.
    private static func readSniffed(_ path: String) throws(LoadError) -> ([UInt8], StillImageFormat) {
        func failed(_ e: FileError) -> LoadError { LoadError(path: path, reason: "cannot \(e.operation): \(e.errno)") }
        let file: ReadableFile
        do { file = try ReadableFile(path) } catch { throw failed(error) }
        let expected = file.size
        guard expected <= maximumFileBytes else { throw LoadError(path: path, reason: "file is larger than \(maximumFileBytes >> 20) MiB") }
        var out = [UInt8](repeating: 0, count: 16)
        var have = 0
        var format: StillImageFormat?
        while true {
            if have == out.count {
                if format == nil {
                    format = out.withUnsafeBytes { StillImageFormat(sniffing: $0) }
                    guard format != nil else { throw LoadError(path: path, reason: "not a JPEG, PNG or WebP image") }
                }
                guard out.count < maximumFileBytes else { throw LoadError(path: path, reason: "file is larger than \(maximumFileBytes >> 20) MiB") }
                let grow = min(maximumFileBytes, max(expected + 1, 2 * out.count, 1 << 16)) - out.count
                out += [UInt8](repeating: 0, count: grow)
            }
            let start = have
            let r = out.withUnsafeMutableBytes { b in
                Result { () throws(FileError) -> Int in try file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[start...])) }
            }
            let n: Int
            switch r {
            case .success(let count): n = count
            case .failure(let e): throw failed(e)
            }
            if n == 0 { break }
            have += n
        }
        out.removeLast(out.count - have)
        guard !out.isEmpty else { throw LoadError(path: path, reason: "empty file") }
        guard let format = format ?? out.withUnsafeBytes({ StillImageFormat(sniffing: $0) }) else {
            throw LoadError(path: path, reason: "not a JPEG, PNG or WebP image")
        }
        return (out, format)
    }
}

extension RGBImage {
    /// Half the size (rounded up), each pixel the mean of a 2×2 block; an odd last column or row
    /// averages with itself.
    func halved() -> RGBImage {
        guard isWellFormed else { return .empty }
        let w = width, h = height, ow = (w + 1) / 2, oh = (h + 1) / 2
        var out = RGBImage(width: ow, height: oh)
        pixels.withUnsafeBufferPointer { s in
            out.pixels.withUnsafeMutableBufferPointer { d in
                for oy in 0..<oh {
                    let r0 = 2 * oy * w * 3, r1 = min(2 * oy + 1, h - 1) * w * 3
                    for ox in 0..<ow {
                        let c0 = 2 * ox * 3, c1 = min(2 * ox + 1, w - 1) * 3
                        let o = (oy * ow + ox) * 3
                        for c in 0..<3 {
                            let sum = UInt16(s[r0 + c0 + c]) + UInt16(s[r0 + c1 + c]) + UInt16(s[r1 + c0 + c]) + UInt16(s[r1 + c1 + c])
                            d[o + c] = UInt8((sum + 2) / 4)
                        }
                    }
                }
            }
        }
        return out
    }
}
