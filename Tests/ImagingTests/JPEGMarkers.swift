/// A minimal JPEG marker walker for tests: lists the header segments up to the first SOS so tests
/// can remove or edit them (strip DHT as UVC cameras do, rewrite SOF dimensions).
struct JPEGMarkers {
    struct Segment {
        var marker: UInt8
        /// Byte range of the whole segment, from its 0xFF through the end of its payload.
        var range: Range<Int>
    }

    var segments: [Segment] = []
    /// Offset of the SOS marker (0xFFDA): from here on is entropy-coded data.
    var scanStart: Int

    /// Walks `data` from SOI to the first SOS; nil if the layout is not a plain JPEG header.
    init?(_ data: [UInt8]) {
        guard data.count >= 4, data[0] == 0xFF, data[1] == 0xD8 else { return nil }
        var i = 2
        while i + 4 <= data.count {
            guard data[i] == 0xFF else { return nil }
            let marker = data[i + 1]
            if marker == 0xFF { i += 1; continue }  // fill byte
            let length = Int(data[i + 2]) << 8 | Int(data[i + 3])
            guard length >= 2, i + 2 + length <= data.count else { return nil }
            if marker == 0xDA {
                scanStart = i
                return
            }
            segments.append(Segment(marker: marker, range: i..<(i + 2 + length)))
            i += 2 + length
        }
        return nil
    }

    static let dht: UInt8 = 0xC4
    static let sof0: UInt8 = 0xC0

    /// `data` without any header segment whose marker is `marker`.
    static func removing(_ marker: UInt8, from data: [UInt8]) -> [UInt8]? {
        guard let walk = JPEGMarkers(data) else { return nil }
        var out: [UInt8] = [0xFF, 0xD8]
        for s in walk.segments where s.marker != marker { out += data[s.range] }
        out += data[walk.scanStart...]
        return out
    }

    /// `data` with the SOF0 frame size replaced (to forge bad headers).
    static func settingFrameSize(width: Int, height: Int, in data: [UInt8]) -> [UInt8]? {
        guard let walk = JPEGMarkers(data), let sof = walk.segments.first(where: { $0.marker == sof0 }) else {
            return nil
        }
        var out = data
        // FF C0 Lh Ll P Yh Yl Xh Xl
        let base = sof.range.lowerBound
        out[base + 5] = UInt8(truncatingIfNeeded: height >> 8)
        out[base + 6] = UInt8(truncatingIfNeeded: height)
        out[base + 7] = UInt8(truncatingIfNeeded: width >> 8)
        out[base + 8] = UInt8(truncatingIfNeeded: width)
        return out
    }
}
