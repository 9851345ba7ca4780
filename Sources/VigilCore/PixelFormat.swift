/// A frame's pixel layout, named by its V4L2 fourcc. Only the formats Vigil can decode have
/// cases; anything else a camera offers is kept as `.other` so that it can still be listed.
public enum PixelFormat: Hashable, Sendable, CustomStringConvertible {
    /// Motion-JPEG: each frame is one JPEG image (possibly without Huffman tables).
    case mjpeg
    /// Packed 4:2:2 Y'CbCr, Y0 Cb Y1 Cr.
    case yuyv
    /// Planar Y' + interleaved CbCr at 4:2:0.
    case nv12
    /// 8-bit luma only.
    case grey
    case other(fourcc: UInt32)

    public init(fourcc: UInt32) {
        switch fourcc {
        case Self.code("MJPG"), Self.code("JPEG"): self = .mjpeg
        case Self.code("YUYV"): self = .yuyv
        case Self.code("NV12"): self = .nv12
        case Self.code("GREY"): self = .grey
        default: self = .other(fourcc: fourcc)
        }
    }

    /// Parses a user-facing name (`mjpeg`, `yuyv`, `nv12`, `grey`) or a raw 4-character code.
    public init?(name: String) {
        switch name.lowercased() {
        case "mjpeg", "mjpg", "jpeg": self = .mjpeg
        case "yuyv", "yuy2": self = .yuyv
        case "nv12": self = .nv12
        case "grey", "gray", "y8": self = .grey
        default:
            guard name.utf8.count == 4 else { return nil }
            self = PixelFormat(fourcc: Self.code(name))
        }
    }

    public var fourcc: UInt32 {
        switch self {
        case .mjpeg: Self.code("MJPG")
        case .yuyv: Self.code("YUYV")
        case .nv12: Self.code("NV12")
        case .grey: Self.code("GREY")
        case .other(let f): f
        }
    }

    /// The order in which Vigil prefers a camera's formats: MJPEG first (smallest frames over USB
    /// and a DCT-scaled decode straight to detector size), then YUYV, NV12, GREY.
    public static let preference: [PixelFormat] = [.mjpeg, .yuyv, .nv12, .grey]

    /// Whether Vigil can turn this format into RGB.
    public var isDecodable: Bool { Self.preference.contains(self) }

    /// Bytes a tightly packed frame needs, or nil for compressed formats.
    public func packedSize(width: Int, height: Int) -> Int? {
        switch self {
        case .yuyv: width * height * 2
        case .nv12: width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2)
        case .grey: width * height
        case .mjpeg, .other: nil
        }
    }

    public var description: String { Self.string(fourcc) }

    public static func code(_ s: String) -> UInt32 {
        var v: UInt32 = 0
        for (i, b) in s.utf8.prefix(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }

    public static func string(_ fourcc: UInt32) -> String {
        // Bit 31 marks the big-endian variant of a format (V4L2_PIX_FMT_FLAG_BE / "-BE").
        let bigEndian = fourcc & 0x8000_0000 != 0
        let code = fourcc & 0x7FFF_FFFF
        let bytes = (0..<4).map { UInt8(truncatingIfNeeded: code >> (8 * $0)) }
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return String(decoding: bytes, as: UTF8.self).trimmingTrailingSpaces() + (bigEndian ? "-BE" : "")
        }
        return "0x" + String(fourcc, radix: 16)
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// A width × height pair in pixels.
public struct Size: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public var area: Int { width * height }
    public var description: String { "\(width)x\(height)" }

    /// Parses `WxH` (e.g. `640x480`).
    public init?(parsing s: String) {
        let parts = s.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else { return nil }
        self.init(width: w, height: h)
    }

    public static func < (a: Size, b: Size) -> Bool { (a.area, a.width) < (b.area, b.width) }

    /// True when both dimensions are at least those of `other`.
    public func covers(_ other: Size) -> Bool { width >= other.width && height >= other.height }
}
