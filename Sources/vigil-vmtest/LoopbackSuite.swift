import Capture
import Imaging
import Pipeline
import VigilCore

/// The MJPEG path through a real V4L2 device: v4l2loopback is fed real JPEG frames by a writer
/// process (Tests/vm/loopback_writer.py); we capture them back through the same V4L2 code and
/// compare bytes and decoded pixels with the reference files.
struct LoopbackSuite {
    let device: String
    let referenceDir: String
    let frames: Int

    func run() {
        test("loopback MJPEG", body)
        check("no mapping of \(device) left", mappings(of: device) == 0, "\(mappings(of: device)) mappings")
    }

    func body() throws {
        let refs = try ReferenceFrames.load(referenceDir)
        guard let size = refs.first?.image.size else { fail("reference frames", "none in \(referenceDir)"); return }
        log("\(refs.count) reference frames \(size), \(refs.filter(\.withoutHuffmanTables).count) without Huffman tables")
        let caps = try V4L2Camera.probe(path: device)
        log("\(device): driver=\(caps.driver) card=\(caps.card) formats=\(caps.formats.map { PixelFormat.string($0.fourcc) })")
        let cam = try V4L2Camera(path: device, request: CaptureRequest(size: size))
        try cam.start()
        log("negotiated: \(cam.active.map(\.description) ?? "-")")
        check("negotiation prefers MJPEG", cam.active?.negotiated.format == .mjpeg, "got \(String(describing: cam.active))")
        let decoder = try JPEGDecoder()
        var matched = Set<Int>()
        var problems: [String] = []
        var dhtLessDecoded = 0
        for i in 0..<frames {
            let f = try cam.nextFrame(timeout: .seconds(5))
            let bytes = f.copyBytes()
            // v4l2loopback may hand back the full buffer; the JPEG is a prefix of it.
            guard let k = refs.firstIndex(where: { bytes.count >= $0.bytes.count && bytes.starts(with: $0.bytes) }) else {
                problems.append("frame \(i) (\(bytes.count) B) matches no reference")
                continue
            }
            matched.insert(k)
            let full = try bytes.withUnsafeBytes { try decoder.decode($0) }
            if full != refs[k].image { problems.append("frame \(i): decoded pixels differ from reference \(k)") }
            let scaled = try bytes.withUnsafeBytes { try decoder.decode($0, atLeast: Size(width: size.width / 4, height: size.height / 4)) }
            let refScaled = try refs[k].bytes.withUnsafeBytes { try decoder.decode($0, atLeast: Size(width: size.width / 4, height: size.height / 4)) }
            if scaled != refScaled || scaled.size != Size(width: size.width / 4, height: size.height / 4) {
                problems.append("frame \(i): scaled decode \(scaled.size) differs")
            }
            if refs[k].withoutHuffmanTables { dhtLessDecoded += 1 }
        }
        cam.stop()
        check("\(frames) MJPEG frames captured back byte-exact with identical decoded pixels", problems.isEmpty, problems.prefix(3).joined(separator: "; "))
        check("the frames change (\(matched.count) distinct references seen)", matched.count >= 2, "only \(matched.count)")
        check("frames without Huffman tables came through and decoded", dhtLessDecoded > 0, "none seen")
        log("statistics: \(cam.statistics)")
    }
}

/// The reference MJPEG frames for the loopback test: real JPEGs made by Vigil's encoder from
/// synthetic scenes, one of them without Huffman tables (as UVC cameras send them).
enum ReferenceFrames {
    struct Reference {
        var bytes: [UInt8]
        var image: RGBImage
        var withoutHuffmanTables: Bool
    }

    static func write(to dir: String, count: Int, size: Size) throws {
        try makeDirectories(dir)
        let encoder = try JPEGEncoder()
        for i in 0..<count {
            var jpeg = try encoder.encode(DemoClip.scene(i, count, size), quality: 85, subsampling: .s422)
            if i == 1 { jpeg = DemoClip.removingHuffmanTables(jpeg) }
            try writeFileAtomically(dir + "/frame-" + String(1000 + i).dropFirst() + ".jpg", jpeg)
        }
        try writeFileAtomically(dir + "/size", Array("\(size.width)x\(size.height)\n".utf8))
    }

    static func load(_ dir: String) throws -> [Reference] {
        let src = try FileFrameSource(path: dir)
        try src.start()
        let decoder = try JPEGDecoder()
        var out: [Reference] = []
        while true {
            let bytes: [UInt8]
            do {
                bytes = try src.nextFrame(timeout: .seconds(1)).copyBytes()
            } catch {
                if case .endOfStream = error { break }
                throw error
            }
            let hasDHT = zip(bytes, bytes.dropFirst()).contains { $0 == 0xFF && $1 == 0xC4 }
            out.append(Reference(bytes: bytes, image: try bytes.withUnsafeBytes { try decoder.decode($0) }, withoutHuffmanTables: !hasDHT))
        }
        return out
    }
}

/// A camera clip made from photos, for the agent's end-to-end test in the VM: every photo is
/// letterboxed into one frame size (a camera streams one size; v4l2loopback's MJPEG output format
/// is fixed by the writer's S_FMT) and re-encoded. `PHOTO:N` repeats a photo N times, so a clip
/// can hold a person for a while and then show someone else — people entering and leaving.
enum PhotoClip {
    static func write(photos: [String], to dir: String, size: Size) throws {
        try makeDirectories(dir)
        let decoder = try JPEGDecoder()
        let encoder = try JPEGEncoder()
        var n = 0
        for spec in photos {
            var path = spec, repeats = 1
            if let colon = spec.lastIndex(of: ":"), let r = Int(spec[spec.index(after: colon)...]), r > 0 {
                path = String(spec[..<colon]); repeats = r
            }
            let photo = try readFile(path)
            let image = try photo.withUnsafeBytes { raw throws(ImagingError) in try decoder.decode(raw, atLeast: nil) }
            let jpeg = try encoder.encode(letterboxed(image, into: size), quality: 85, subsampling: .s420)
            for _ in 0..<repeats {
                try writeFileAtomically(dir + "/frame-" + String(1000 + n).dropFirst() + ".jpg", jpeg)
                n += 1
            }
        }
        try writeFileAtomically(dir + "/size", Array("\(size.width)x\(size.height)\n".utf8))
    }

    /// `image` scaled to fit `size` (aspect kept), centred on black.
    static func letterboxed(_ image: RGBImage, into size: Size) -> RGBImage {
        let s = min(Double(size.width) / Double(image.width), Double(size.height) / Double(image.height))
        let w = max(1, Int(Double(image.width) * s)), h = max(1, Int(Double(image.height) * s))
        let scaled = image.resized(to: Size(width: w, height: h))
        var out = RGBImage(width: size.width, height: size.height)
        let x0 = (size.width - w) / 2, y0 = (size.height - h) / 2
        for y in 0..<h {
            let src = y * w * 3, dst = ((y0 + y) * size.width + x0) * 3
            out.pixels.replaceSubrange(dst..<(dst + w * 3), with: scaled.pixels[src..<(src + w * 3)])
        }
        return out
    }
}
