import Imaging
import Testing
import VigilCore
import VigilTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Shared helpers for the imaging tests: image comparison, photo discovery, file reading.
enum TestHelpers {
    // The helpers below loop over raw buffers: the tests run in debug builds, where array
    // subscripts in per-pixel loops over multi-megapixel photos would take minutes.

    /// Mean absolute difference over all channels of two equal-sized images (nil if sizes differ).
    static func meanAbsoluteError(_ a: RGBImage, _ b: RGBImage) -> Double? {
        guard a.size == b.size, a.pixels.count == b.pixels.count, !a.pixels.isEmpty else { return nil }
        var total = 0
        a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                for i in 0..<pa.count { let d = Int(pa[i]) &- Int(pb[i]); total &+= d < 0 ? -d : d }
            }
        }
        return Double(total) / Double(a.pixels.count)
    }

    /// Largest absolute channel difference (nil if sizes differ).
    static func maxAbsoluteError(_ a: RGBImage, _ b: RGBImage) -> Int? {
        guard a.size == b.size, a.pixels.count == b.pixels.count else { return nil }
        var worst = 0
        a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                for i in 0..<pa.count { worst = max(worst, abs(Int(pa[i]) &- Int(pb[i]))) }
            }
        }
        return worst
    }

    /// Box-filter (area-average) downscale by an integer `factor`, output `ceil(size / factor)`,
    /// partial blocks at the right/bottom edges averaged over the pixels they have. This is the
    /// reference for DCT-scaled decodes: reconstructing only an 8x8 block's lowest k x k DCT
    /// coefficients is, to first order, averaging each (8/k) x (8/k) pixel cell.
    static func areaDownscale(_ image: RGBImage, by factor: Int) -> RGBImage {
        let w = (image.width + factor - 1) / factor, h = (image.height + factor - 1) / factor
        var out = RGBImage(width: w, height: h)
        // Column sums for one output row, then divide.
        var sums = [Int](repeating: 0, count: w * 3), counts = [Int](repeating: 0, count: w)
        image.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                sums.withUnsafeMutableBufferPointer { sum in
                    counts.withUnsafeMutableBufferPointer { count in
                        for oy in 0..<h {
                            for i in 0..<sum.count { sum[i] = 0 }
                            for i in 0..<count.count { count[i] = 0 }
                            for y in (oy * factor)..<min(image.height, (oy + 1) * factor) {
                                var i = y * image.width * 3
                                for x in 0..<image.width {
                                    let o = (x / factor) * 3
                                    sum[o] &+= Int(src[i]); sum[o + 1] &+= Int(src[i + 1]); sum[o + 2] &+= Int(src[i + 2])
                                    count[x / factor] &+= 1
                                    i &+= 3
                                }
                            }
                            for ox in 0..<w {
                                let n = count[ox], o = (oy * w + ox) * 3
                                for c in 0..<3 { dst[o + c] = UInt8((sum[ox * 3 + c] + n / 2) / n) }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The repository root: the nearest directory above this file that holds Package.swift.
    static func repoRoot(filePath: String = #filePath) -> String? {
        var dir = filePath
        while let slash = dir.lastIndex(of: "/"), slash != dir.startIndex {
            dir = String(dir[..<slash])
            if access(dir + "/Package.swift", F_OK) == 0 { return dir }
        }
        return nil
    }

    /// The directories that may hold real photos, each with a label for notices:
    /// the shared deepface test images next to the repo, and `.cache/photos` (filled by the
    /// Makefile from the face_recognition sdist).
    static func photoDirectories() -> [(label: String, path: String)] {
        guard let root = repoRoot() else { return [] }
        return [
            ("../shared/testdata/faces/deepface/images", root + "/../shared/testdata/faces/deepface/images"),
            (".cache/photos", root + "/.cache/photos"),
        ]
    }

    /// The `.jpg`/`.jpeg` files in `directory`, sorted; nil when the directory does not exist.
    static func jpegFiles(in directory: String) -> [String]? {
        guard let dir = opendir(directory) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let lower = name.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { names.append(directory + "/" + name) }
        }
        return names.sorted()
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        return data
    }

    /// All real photos available, reading each; prints a one-line notice per missing directory.
    static func realPhotos() -> [(path: String, bytes: [UInt8])] {
        var photos: [(String, [UInt8])] = []
        for (label, path) in photoDirectories() {
            guard let files = jpegFiles(in: path), !files.isEmpty else {
                print("notice: no photos in \(label); skipping that real-photo check")
                continue
            }
            for file in files {
                guard let bytes = readFile(file) else { continue }
                // Some datasets hold other formats under .jpg names (a WebP in deepface's set).
                guard bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
                    print("notice: \(file) is not a JPEG (no SOI); skipped")
                    continue
                }
                photos.append((file, bytes))
            }
        }
        return photos
    }

    /// A JPEG made by Vigil's own encoder from a synthetic image (Pillow-independent fixture).
    static func syntheticJPEG(
        width: Int, height: Int, quality: Int = 90, subsampling: ChromaSubsampling = .s420, seed: UInt64 = 1
    ) throws -> (image: RGBImage, jpeg: [UInt8]) {
        let image = SyntheticImages.natural(width: width, height: height, seed: seed)
        return (image, try JPEGEncoder().encode(image, quality: quality, subsampling: subsampling))
    }
}

/// Short failure output: Swift Testing would otherwise print every pixel of a mismatched image.
extension RGBImage: CustomTestStringConvertible {
    public var testDescription: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a over the pixels
        for b in pixels { hash = (hash ^ UInt64(b)) &* 0x100_0000_01B3 }
        return "RGBImage(\(width)x\(height), \(pixels.count) bytes, fnv \(String(hash, radix: 16)))"
    }
}
