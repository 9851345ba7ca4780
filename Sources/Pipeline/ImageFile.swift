import Imaging
import VigilCore

/// Loads a still image (JPEG) for the offline commands (`vigil detect`, `embed`, `compare`,
/// enrollment), with bounded memory: an image whose long side exceeds `maximumSide` is
/// downscaled inside the JPEG decoder (DCT scaling, up to 1/8) rather than decoded in full, and
/// one that is still too large after 1/8 is refused with a clear error.
public enum ImageFile {
    /// Long side kept by default: enough for faces of ~40 px in a group photo, at most
    /// 2560 × 2560 × 3 = 19.7 MB of RGB.
    public static let defaultMaximumSide = 2560

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var path: String
        public var reason: String
        public init(path: String, reason: String) { self.path = path; self.reason = reason }
        public var description: String { "\(path): \(reason)" }
    }

    /// The decoded image and the factor from its pixels back to the file's pixels (1 unless it
    /// was downscaled): coordinates × `scale` = file coordinates.
    public static func load(_ path: String, maximumSide: Int = defaultMaximumSide) throws(LoadError) -> (image: RGBImage, scale: Double) {
        let bytes: [UInt8]
        do { bytes = try readFile(path) } catch { throw LoadError(path: path, reason: "cannot read: \(error.errno)") }
        guard !bytes.isEmpty else { throw LoadError(path: path, reason: "empty file") }
        do {
            let decoder = try JPEGDecoder()
            // The header check happens before any pixel allocation; let through anything DCT
            // scaling can bring under the limit.
            decoder.maximumSize = Size(width: maximumSide * 8, height: maximumSide * 8)
            return try bytes.withUnsafeBytes { raw in
                let full = try decoder.header(raw).size
                // The least reduction (1, 1/2, 1/4, 1/8) that brings the long side within the limit.
                guard let d = [1, 2, 4, 8].first(where: { (max(full.width, full.height) + $0 - 1) / $0 <= maximumSide }) else {
                    throw ImagingError.imageTooLarge(full)
                }
                if d == 1 { return (try decoder.decode(raw), 1) }
                let img = try decoder.decode(raw, atLeast: Size(width: (full.width + d - 1) / d, height: (full.height + d - 1) / d))
                return (img, Double(full.width) / Double(img.width))
            }
        } catch let e as ImagingError {
            switch e {
            case .notJPEG: throw LoadError(path: path, reason: "not a JPEG image (Vigil reads JPEG)")
            case .imageTooLarge(let s): throw LoadError(path: path, reason: "image \(s) is too large even at 1/8 scale")
            default: throw LoadError(path: path, reason: "\(e)")
            }
        } catch {
            throw LoadError(path: path, reason: "\(error)")
        }
    }
}
