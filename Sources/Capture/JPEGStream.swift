import VigilCore

/// Splits a Motion-JPEG byte stream (concatenated JPEG images, as UVC cameras and
/// `ffmpeg -f mjpeg` write them) into frames by walking JPEG marker segments.
///
/// Why a walker and not a search for FFD8/FFD9: an EXIF thumbnail inside APP1 contains its own
/// SOI/EOI pair, and the length-prefixed segments must be skipped to avoid cutting a frame in
/// the middle. Inside entropy-coded data a 0xFF byte is always followed by 0x00 (stuffing) or a
/// restart marker, so the next real marker is unambiguous.
public enum JPEGStream {
    /// One frame found in a stream.
    public struct Segment: Hashable, Sendable {
        /// Byte range of the frame, from its SOI to its EOI (inclusive) or to where it was cut.
        public var range: Range<Int>
        /// Image size from the SOF marker, if one was seen.
        public var size: Size?
        /// False when the frame is cut short (no EOI before the next SOI or the end of data).
        public var complete: Bool
    }

    /// Finds every frame in `bytes`. Garbage between frames is skipped; a frame cut short is
    /// still returned (marked incomplete) so that the consumer can count it as corrupt.
    public static func split(_ bytes: UnsafeRawBufferPointer) -> [Segment] {
        var out: [Segment] = []
        var i = 0
        let n = bytes.count
        while true {
            guard let start = findSOI(bytes, from: i) else { break }
            let (end, size, complete) = walk(bytes, soi: start)
            out.append(Segment(range: start..<end, size: size, complete: complete))
            i = max(end, start + 2)
            if i >= n { break }
        }
        return out
    }

    /// Reads the frame size from a single JPEG's SOF marker (nil if there is none before SOS).
    public static func imageSize(_ bytes: UnsafeRawBufferPointer) -> Size? {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        return walk(bytes, soi: 0).size
    }

    static func findSOI(_ b: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        while i + 1 < b.count {
            if b[i] == 0xFF && b[i + 1] == 0xD8 { return i }
            i += 1
        }
        return nil
    }

    /// Walks one image from its SOI; returns the end offset (exclusive), the SOF size and
    /// whether an EOI closed it.
    static func walk(_ b: UnsafeRawBufferPointer, soi: Int) -> (end: Int, size: Size?, complete: Bool) {
        let n = b.count
        var i = soi + 2
        var size: Size?
        while true {
            // Expect a marker: 0xFF (possibly several fill bytes), then the marker code.
            guard i < n else { return (n, size, false) }
            guard b[i] == 0xFF else { return (i, size, false) }  // lost sync: cut here
            while i < n && b[i] == 0xFF { i += 1 }
            guard i < n else { return (n, size, false) }
            let m = b[i]
            i += 1
            switch m {
            case 0xD9: return (i, size, true)  // EOI
            case 0xD8: return (i - 2, size, false)  // a new image starts: this one was cut
            case 0xD0...0xD7, 0x01: continue  // standalone markers
            default: break
            }
            guard i + 1 < n else { return (n, size, false) }
            let len = Int(b[i]) << 8 | Int(b[i + 1])
            guard len >= 2 else { return (i, size, false) }
            if isSOF(m), len >= 7, i + 6 < n {
                let h = Int(b[i + 3]) << 8 | Int(b[i + 4])
                let w = Int(b[i + 5]) << 8 | Int(b[i + 6])
                size = Size(width: w, height: h)
            }
            i += len
            if m == 0xDA {  // SOS: entropy-coded data follows until the next real marker
                while true {
                    guard i + 1 < n else { return (n, size, false) }
                    if b[i] == 0xFF {
                        let next = b[i + 1]
                        if next == 0x00 || (0xD0...0xD7).contains(next) || next == 0xFF {
                            i += next == 0xFF ? 1 : 2
                            continue
                        }
                        break  // a real marker: continue the outer walk at i
                    }
                    i += 1
                }
            }
        }
    }

    static func isSOF(_ m: UInt8) -> Bool {
        switch m {
        case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF: true
        default: false
        }
    }
}
