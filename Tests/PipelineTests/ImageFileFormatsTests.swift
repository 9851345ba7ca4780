import Imaging
import Pipeline
import Testing
import VigilCore
import VigilTestSupport

/// `ImageFile.load` for PNG and WebP (issue 15): the format comes from the bytes, not the name;
/// the (image, scale) contract and the long-side limit are the same as for JPEG; every bad file
/// gives one clear line.
@Suite("Still images: PNG and WebP")
struct ImageFileFormatsTests {
    let dir = tempDir()

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + name
        try writeFileAtomically(path, bytes)
        return path
    }

    static let card = DemoClip.scene(0, 2, Size(width: 160, height: 120))

    @Test func formatsAreRecognisedByContentNotName() throws {
        let png = try write("really-a-png.jpg", try PNGEncoder.encode(Self.card))
        let webp = try write("really-a-webp.png", try WebPEncoder.encode(Self.card))
        let jpegBytes = try JPEGEncoder().encode(Self.card)
        let jpeg = try write("really-a-jpeg.webp", jpegBytes)
        for path in [png, webp] {
            let (img, scale) = try ImageFile.load(path)
            #expect(img == Self.card && scale == 1, "\(path)")
        }
        let (j, scale) = try ImageFile.load(jpeg)
        #expect(j.size == Self.card.size && scale == 1)
    }

    /// A PNG above the limit is decoded in full and brought to exactly `maximumSide` on its long
    /// side, with the factor back to file pixels (JPEG's contract); a flat colour stays flat.
    @Test func largePNGAndWebPAreDownscaledToTheLimit() throws {
        var flat = RGBImage(width: 3000, height: 1000)
        for i in 0..<(3000 * 1000) { flat.pixels[3 * i] = 200; flat.pixels[3 * i + 1] = 100; flat.pixels[3 * i + 2] = 50 }
        for (name, bytes) in [("wide.png", try PNGEncoder.encode(flat)), ("wide.webp", try WebPEncoder.encode(flat))] {
            let path = try write(name, bytes)
            let (img, scale) = try ImageFile.load(path, maximumSide: 1000)
            #expect(img.size == Size(width: 1000, height: 333), "\(name)")
            #expect(scale == 3)
            #expect(img.pixel(x: 500, y: 200) == (200, 100, 50) && img.pixel(x: 999, y: 332) == (200, 100, 50))
            let full = try ImageFile.load(path)  // 3000 > 2560: to 2560 × 853
            #expect(full.image.size == Size(width: 2560, height: 853))
            #expect(abs(full.scale - 3000.0 / 2560.0) < 1e-12)
        }
        // Tall images: the height is the long side.
        let tall = try write("tall.png", try PNGEncoder.encode(RGBImage(width: 90, height: 401)))
        let (t, ts) = try ImageFile.load(tall, maximumSide: 100)
        #expect(t.size == Size(width: 22, height: 100) && ts == 4.01)
    }

    /// Box halvings before the bilinear step: a one-pixel checkerboard reduced 8× comes out
    /// mid-grey, not aliased to black or white.
    @Test func bigReductionsAverageInsteadOfAliasing() throws {
        var checker = RGBImage(width: 800, height: 800)
        for y in 0..<800 { for x in 0..<800 where (x + y) % 2 == 0 {
            let o = (y * 800 + x) * 3
            checker.pixels[o] = 255; checker.pixels[o + 1] = 255; checker.pixels[o + 2] = 255
        } }
        let path = try write("checker.png", try PNGEncoder.encode(checker))
        let (img, scale) = try ImageFile.load(path, maximumSide: 100)
        #expect(img.size == Size(width: 100, height: 100) && scale == 8)
        let (r, _, _) = img.pixel(x: 37, y: 61)
        #expect(r >= 126 && r <= 129)
    }

    @Test func badFilesGiveOneClearLine() throws {
        func reason(_ path: String) -> String? {
            do { _ = try ImageFile.load(path); return nil } catch { return error.reason }
        }
        let empty = try write("empty.png", [])
        #expect(reason(empty) == "empty file")
        let zeros = try write("zeros.jpg", [UInt8](repeating: 0, count: 1 << 16))
        #expect(reason(zeros) == "not a JPEG, PNG or WebP image")
        let text = try write("notes.webp", Array("these are not the pixels you are looking for\n".utf8))
        #expect(reason(text) == "not a JPEG, PNG or WebP image")
        // A device is refused before anything is read (issue 16: /dev/zero once grew to 23.7 GB).
        #expect(reason("/dev/zero")?.hasPrefix("cannot read (a character device, not a regular file)") == true)
        #expect(reason(try write("short", [0x89, 0x50])) == "not a JPEG, PNG or WebP image")
        #expect(reason(dir + "/missing.png")?.hasPrefix("cannot open: ENOENT") == true)

        let png = try PNGEncoder.encode(Self.card)
        let cut = try write("cut.png", Array(png.prefix(png.count - 40)))
        #expect(reason(cut)?.hasPrefix("corrupt PNG: ") == true)
        let signatureOnly = try write("sig.png", PNGDecoder.signature)
        #expect(reason(signatureOnly)?.hasPrefix("corrupt PNG: ") == true)
        let huge = try write("huge.png", PNGEncoder.claimingSize(png, width: 100_000, height: 100_000))
        #expect(reason(huge) == "PNG image 100000x100000 is above the 64 Mpx decode limit")

        let webp = try WebPEncoder.encode(Self.card, quality: 80)
        let cutWebP = try write("cut.webp", Array(webp.prefix(webp.count / 2)))
        #expect(reason(cutWebP)?.hasPrefix("corrupt WebP: truncated") == true)
        var vp8x: [UInt8] = Array("VP8X".utf8) + [10, 0, 0, 0, 0x02, 0, 0, 0, 99, 0, 0, 49, 0, 0]
        vp8x += Array("ANIM".utf8) + [6, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let animated = try write("anim.webp", Array("RIFF".utf8) + [UInt8(4 + vp8x.count), 0, 0, 0] + Array("WEBP".utf8) + vp8x)
        #expect(reason(animated)?.hasPrefix("unsupported WebP: animated WebP (100x50)") == true)
        // Each reason is one line.
        for p in [empty, zeros, cut, huge, cutWebP, animated] { #expect(reason(p)?.contains("\n") == false) }
    }
}
