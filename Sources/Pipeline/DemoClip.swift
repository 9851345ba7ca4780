import Imaging
import VigilCore

/// The embedded default for `vigil demo`: a short synthetic Motion-JPEG clip made in memory, so
/// the demo runs on a machine with no camera and no files.
///
/// It is made to look like what a camera sends, including what goes wrong: frames are encoded
/// at 4:2:2 like UVC webcams, one frame has its Huffman tables stripped (as many UVC cameras
/// send them), and one frame is cut short (a USB hiccup) — the demo must decode the first and
/// skip the second, counting it.
public enum DemoClip {
    public static let size = Size(width: 1280, height: 720)

    /// The clip's frames, concatenated as an MJPEG stream. `frames` ≥ 3.
    public static func make(frames: Int = 24, size: Size = DemoClip.size) throws -> [UInt8] {
        let encoder = try JPEGEncoder()
        var stream: [UInt8] = []
        let n = max(frames, 3)
        for i in 0..<n {
            var jpeg = try encoder.encode(scene(i, n, size), quality: 80, subsampling: .s422)
            if i == n / 3 { jpeg = removingHuffmanTables(jpeg) }
            if i == 2 * n / 3 { jpeg = Array(jpeg.prefix(jpeg.count / 2)) }
            stream += jpeg
        }
        return stream
    }

    /// A frame of a slowly panning scene: sky-to-ground gradient, a bright disc crossing it.
    public static func scene(_ i: Int, _ n: Int, _ size: Size) -> RGBImage {
        let w = size.width, h = size.height
        var px = [UInt8](repeating: 0, count: w * h * 3)
        let cx = w / 8 + (w * 3 / 4) * i / max(n - 1, 1), cy = h / 2, r = h / 6
        px.withUnsafeMutableBufferPointer { p in
            for y in 0..<h {
                let sky = UInt8(truncatingIfNeeded: 60 + 140 * y / h)
                let row = y * w * 3
                let dy = y - cy
                for x in 0..<w {
                    let o = row + x * 3
                    let dx = x - cx
                    if dx * dx + dy * dy < r * r {
                        p[o] = 240; p[o + 1] = 200; p[o + 2] = 150
                    } else {
                        p[o] = sky / 2; p[o + 1] = sky; p[o + 2] = UInt8(truncatingIfNeeded: (x + i * 8) & 0xFF)
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// Drops every DHT (0xFFC4) segment before the first SOS, as UVC cameras do.
    public static func removingHuffmanTables(_ jpeg: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0xFF, 0xD8]
        var i = 2
        while i + 3 < jpeg.count, jpeg[i] == 0xFF {
            let m = jpeg[i + 1]
            let len = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            if m == 0xDA { break }
            if m != 0xC4 { out += jpeg[i..<min(i + 2 + len, jpeg.count)] }
            i += 2 + len
        }
        out += jpeg[min(i, jpeg.count)...]
        return out
    }
}
