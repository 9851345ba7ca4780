import CTurboJPEG
import VigilCore

/// How a JPEG stores its chroma relative to luma.
///
/// The encoder accepts any case; cameras almost always send `.s422` (UVC MJPEG) or `.s420`.
/// `.s440` and `.s411` exist so that `JPEGDecoder.header` can describe every layout TurboJPEG
/// reports instead of failing on a legal (if unusual) file.
public enum ChromaSubsampling: Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// Full-resolution chroma.
    case s444
    /// Chroma halved horizontally (the usual UVC MJPEG layout).
    case s422
    /// Chroma halved in both directions (the usual still-photo layout).
    case s420
    /// Luma only.
    case gray
    /// Chroma halved vertically (rare; rotated 4:2:2 photos).
    case s440
    /// Chroma quartered horizontally (rare; DV-style).
    case s411

    /// TurboJPEG's `TJSAMP_*` value.
    var turboJPEG: Int32 {
        switch self {
        case .s444: Int32(TJSAMP_444.rawValue)
        case .s422: Int32(TJSAMP_422.rawValue)
        case .s420: Int32(TJSAMP_420.rawValue)
        case .gray: Int32(TJSAMP_GRAY.rawValue)
        case .s440: Int32(TJSAMP_440.rawValue)
        case .s411: Int32(TJSAMP_411.rawValue)
        }
    }

    /// Maps TurboJPEG's `TJSAMP_*` value back; nil for values this library version does not know.
    init?(turboJPEG value: Int32) {
        guard let match = Self.allCases.first(where: { $0.turboJPEG == value }) else { return nil }
        self = match
    }

    public var description: String {
        switch self {
        case .s444: "4:4:4"
        case .s422: "4:2:2"
        case .s420: "4:2:0"
        case .gray: "gray"
        case .s440: "4:4:0"
        case .s411: "4:1:1"
        }
    }
}

/// What a JPEG's header says, read without decoding any pixels.
public struct JPEGHeader: Sendable, Equatable {
    /// Full-resolution image size from the SOF marker.
    public var size: Size
    public var subsampling: ChromaSubsampling

    public init(size: Size, subsampling: ChromaSubsampling) {
        self.size = size
        self.subsampling = subsampling
    }
}
