#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Imaging
import Testing
import VigilCore

/// PNG and WebP decoding (issue 15): exact pixels for lossless files in every sample layout,
/// alpha composited onto black, bounded sizes refused before allocation, and every truncated or
/// damaged file a typed error. All fixtures are made here with libpng's and libwebp's encoders.
@Suite("PNG and WebP decoding")
struct PNGWebPTests {
    /// A deterministic RGB test card: gradients plus a xor pattern (every channel value differs
    /// between neighbours, so an off-by-one row or channel shows).
    static func card(_ w: Int, _ h: Int) -> RGBImage {
        var img = RGBImage(width: w, height: h)
        for y in 0..<h { for x in 0..<w {
            let o = (y * w + x) * 3
            img.pixels[o] = UInt8(truncatingIfNeeded: x * 255 / max(w - 1, 1))
            img.pixels[o + 1] = UInt8(truncatingIfNeeded: y * 255 / max(h - 1, 1))
            img.pixels[o + 2] = UInt8(truncatingIfNeeded: (x ^ y) &* 37)
        } }
        return img
    }

    /// RGBA from the card with alpha cycling through 0, 255 and partial values.
    static func rgba(_ img: RGBImage) -> [UInt8] {
        var out: [UInt8] = []
        let alphas: [UInt8] = [255, 0, 128, 255, 1, 254, 77]
        for i in 0..<(img.width * img.height) {
            out += img.pixels[(3 * i)..<(3 * i + 3)]
            out.append(alphas[i % alphas.count])
        }
        return out
    }

    /// What compositing onto black must give for RGBA bytes.
    static func onBlack(_ rgba: [UInt8], _ w: Int, _ h: Int) -> RGBImage {
        var out = RGBImage(width: w, height: h)
        for i in 0..<(w * h) {
            let a = UInt32(rgba[4 * i + 3])
            for c in 0..<3 { out.pixels[3 * i + c] = UInt8((UInt32(rgba[4 * i + c]) * a + 127) / 255) }
        }
        return out
    }

    static func png(_ bytes: [UInt8], maximumPixels: Int = StillImageLimits.defaultMaximumPixels) throws(ImagingError) -> RGBImage {
        var result: Result<RGBImage, ImagingError> = .failure(.notPNG)
        bytes.withUnsafeBytes { raw in result = Result { () throws(ImagingError) in try PNGDecoder.decode(raw, maximumPixels: maximumPixels) } }
        return try result.get()
    }

    static func webp(_ bytes: [UInt8], maximumPixels: Int = StillImageLimits.defaultMaximumPixels) throws(ImagingError) -> RGBImage {
        var result: Result<RGBImage, ImagingError> = .failure(.notWebP)
        bytes.withUnsafeBytes { raw in result = Result { () throws(ImagingError) in try WebPDecoder.decode(raw, maximumPixels: maximumPixels) } }
        return try result.get()
    }

    static func features(_ bytes: [UInt8]) throws(ImagingError) -> (size: Size, hasAlpha: Bool, isAnimated: Bool) {
        var result: Result<(size: Size, hasAlpha: Bool, isAnimated: Bool), ImagingError> = .failure(.notWebP)
        bytes.withUnsafeBytes { raw in result = Result { () throws(ImagingError) in try WebPDecoder.features(raw) } }
        return try result.get()
    }

    // MARK: PNG pixels

    @Test func rgbPNGRoundTripsExactly() throws {
        for (w, h) in [(1, 1), (17, 9), (64, 48)] {
            let img = Self.card(w, h)
            #expect(try Self.png(try PNGEncoder.encode(img)) == img)
        }
    }

    @Test func rgbaPNGIsCompositedOntoBlack() throws {
        let img = Self.card(23, 11), rgba = Self.rgba(img)
        let file = try PNGEncoder.encode(width: 23, height: 11, layout: .rgba, bytes: rgba)
        let out = try Self.png(file)
        #expect(out == Self.onBlack(rgba, 23, 11))
        #expect(out.pixel(x: 0, y: 0) == img.pixel(x: 0, y: 0))  // opaque: unchanged
        #expect(out.pixel(x: 1, y: 0) == (0, 0, 0))               // transparent: black
    }

    @Test func greyAndGreyAlphaPNGBecomeRGB() throws {
        let w = 19, h = 7
        let grey = (0..<(w * h)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let g = try Self.png(try PNGEncoder.encode(width: w, height: h, layout: .grey, bytes: grey))
        #expect(g.size == Size(width: w, height: h))
        let expected = RGBImage(width: w, height: h, pixels: grey.flatMap { [$0, $0, $0] })
        #expect(g == expected)
        var ga: [UInt8] = []
        for i in 0..<(w * h) { ga += [grey[i], i % 2 == 0 ? 255 : 0] }
        let out = try Self.png(try PNGEncoder.encode(width: w, height: h, layout: .greyAlpha, bytes: ga))
        let composited: [UInt8] = (0..<(w * h)).flatMap { (i: Int) -> [UInt8] in
            let v: UInt8 = i % 2 == 0 ? grey[i] : 0
            return [v, v, v]
        }
        #expect(out.pixels == composited)
    }

    @Test func palettePNGWithAndWithoutTransparencyDecodesToItsColours() throws {
        let w = 16, h = 16
        let indices = (0..<(w * h)).map { UInt8($0 % 5) }
        let rgbMap: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 250, 251, 252]
        let out = try Self.png(try PNGEncoder.encode(width: w, height: h, layout: .rgbPalette, bytes: indices, colormap: rgbMap))
        let mapped: [UInt8] = indices.flatMap { (k: UInt8) -> [UInt8] in Array(rgbMap[(3 * Int(k))..<(3 * Int(k) + 3)]) }
        #expect(out.pixels == mapped)
        // RGBA palette (PLTE + tRNS): entry 1 transparent, the others opaque.
        let rgbaMap: [UInt8] = [255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 255, 10, 20, 30, 255, 250, 251, 252, 255]
        let t = try Self.png(try PNGEncoder.encode(width: w, height: h, layout: .rgbaPalette, bytes: indices, colormap: rgbaMap))
        #expect(t.pixel(x: 0, y: 0) == (255, 0, 0))
        #expect(t.pixel(x: 1, y: 0) == (0, 0, 0))
        #expect(t.pixel(x: 4, y: 0) == (250, 251, 252))
    }

    /// 16-bit samples: written by libpng as linear (gAMA 1.0) they come out gamma-encoded; with
    /// the gamma chunks removed they are read as sRGB (`PNG_IMAGE_FLAG_16BIT_sRGB`), so v × 257
    /// gives back v exactly.
    @Test func sixteenBitPNGIsReducedToEightBitSRGB() throws {
        let w = 32, h = 8
        let eight = Self.card(w, h)
        let samples = eight.pixels.map { UInt16($0) * 257 }
        let bytes = samples.withUnsafeBytes { Array($0) }
        let linearFile = try PNGEncoder.encode(width: w, height: h, layout: .linearRGB, bytes: bytes)
        #expect(linearFile[24] == 16)  // IHDR bit depth
        let linear = try Self.png(linearFile)
        // libpng's gamma transform uses the 2.2 power law (PNG_GAMMA_sRGB), not the piecewise
        // sRGB curve: within 1 of it everywhere (the sRGB curve differs by up to 5 in the darks).
        var worst = 0.0
        for i in 0..<eight.pixels.count {
            let want = 255 * pow(Double(eight.pixels[i]) / 255, 1 / 2.2)
            worst = max(worst, abs(Double(linear.pixels[i]) - want))
        }
        #expect(worst <= 1.0)
        let noGamma = PNGEncoder.removingChunks(linearFile, types: ["gAMA", "sRGB", "cHRM", "iCCP"])
        #expect(noGamma.count < linearFile.count)
        #expect(try Self.png(noGamma) == eight)
        // 16-bit with alpha: opaque/transparent halves.
        var rgba16: [UInt16] = []
        for i in 0..<(w * h) { rgba16 += samples[(3 * i)..<(3 * i + 3)]; rgba16.append(i < w * h / 2 ? 65535 : 0) }
        let alphaFile = PNGEncoder.removingChunks(
            try PNGEncoder.encode(width: w, height: h, layout: .linearRGBA, bytes: rgba16.withUnsafeBytes { Array($0) }),
            types: ["gAMA", "sRGB", "cHRM", "iCCP"])
        let a = try Self.png(alphaFile)
        #expect(a.pixel(x: 3, y: 1) == eight.pixel(x: 3, y: 1))
        #expect(a.pixel(x: 3, y: h - 1) == (0, 0, 0))
    }

    // MARK: WebP pixels

    @Test func losslessWebPRoundTripsExactly() throws {
        for (w, h) in [(1, 1), (17, 9), (64, 48)] {
            let img = Self.card(w, h)
            let file = try WebPEncoder.encode(img)
            #expect(try Self.features(file).size == img.size)
            #expect(try Self.webp(file) == img)
        }
    }

    @Test func losslessWebPWithAlphaIsCompositedOntoBlack() throws {
        let img = Self.card(23, 11), rgba = Self.rgba(img)
        let out = try Self.webp(try WebPEncoder.encode(width: 23, height: 11, bytes: rgba, alpha: true))
        #expect(out == Self.onBlack(rgba, 23, 11))
    }

    @Test func lossyWebPIsClose() throws {
        // A photo-like (smooth) image: lossy VP8 with 4:2:0 chroma is not meant for the card's xor texture.
        var img = Self.card(96, 64)
        for y in 0..<64 { for x in 0..<96 { img.pixels[(y * 96 + x) * 3 + 2] = UInt8(x + y) } }
        let out = try Self.webp(try WebPEncoder.encode(img, quality: 90))
        #expect(out.size == img.size)
        let mae = TestHelpers.meanAbsoluteError(out, img) ?? 255
        #expect(mae < 3, "mean abs error \(mae)")
    }

    // MARK: bad input

    /// Every prefix of a valid file is refused with a typed error (never a crash, never a
    /// half-decoded image).
    @Test func everyTruncationIsATypedError() throws {
        let img = Self.card(16, 12)
        let files: [(String, [UInt8], ([UInt8]) throws(ImagingError) -> RGBImage)] = [
            ("png", try PNGEncoder.encode(img), { b throws(ImagingError) in try Self.png(b) }),
            ("png rgba", try PNGEncoder.encode(width: 16, height: 12, layout: .rgba, bytes: Self.rgba(img)), { b throws(ImagingError) in try Self.png(b) }),
            ("webp lossless", try WebPEncoder.encode(img), { b throws(ImagingError) in try Self.webp(b) }),
            ("webp lossy", try WebPEncoder.encode(img, quality: 80), { b throws(ImagingError) in try Self.webp(b) }),
            ("webp alpha", try WebPEncoder.encode(width: 16, height: 12, bytes: Self.rgba(img), alpha: true, quality: 80), { b throws(ImagingError) in try Self.webp(b) }),
        ]
        for (name, file, decode) in files {
            #expect(throws: Never.self) { _ = try decode(file) }
            var decoded: [Int] = []
            for n in 0..<file.count {
                do { _ = try decode(Array(file.prefix(n))); decoded.append(n) } catch {}
            }
            #expect(decoded.isEmpty, "\(name): prefixes that decoded: \(decoded) of \(file.count)")
        }
    }

    /// Flipping any one byte of a PNG gives an error or the original pixels (CRCs cover every
    /// chunk; a damaged ancillary chunk is skipped); of a WebP, an error or an image of the
    /// same size (lossy data has no checksum), never a crash.
    @Test func flippedBytesNeverCrash() throws {
        let img = Self.card(16, 12)
        let png = try PNGEncoder.encode(img)
        var pngErrors = 0
        for i in 0..<png.count {
            var b = png; b[i] ^= 0x5A
            do { #expect(try Self.png(b) == img, "PNG byte \(i) flipped decoded differently") } catch { pngErrors += 1 }
        }
        #expect(pngErrors > png.count / 2)
        for file in [try WebPEncoder.encode(img), try WebPEncoder.encode(img, quality: 75)] {
            for i in 0..<file.count {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    var b = file; b[i] ^= mask
                    do { let out = try Self.webp(b, maximumPixels: 1 << 20); #expect(out.isWellFormed) } catch {}
                }
            }
        }
    }

    /// A header claiming 100000 × 100000 (30 GB of RGB) is refused from the header alone.
    @Test func hugeHeadersAreRefusedBeforeAllocation() throws {
        let png = try PNGEncoder.encode(Self.card(8, 8))
        let huge = PNGEncoder.claimingSize(png, width: 100_000, height: 100_000)
        let start = ContinuousClock.now
        #expect(throws: ImagingError.imageTooLarge(Size(width: 100_000, height: 100_000))) { try Self.png(huge) }
        #expect(huge.withUnsafeBytes { raw in try? PNGDecoder.size(raw) } == Size(width: 100_000, height: 100_000))
        // WebP's largest (VP8L: 14-bit sides) is 16384 × 16384 = 268 Mpx, above the 64 Mpx cap.
        var webp = try WebPEncoder.encode(Self.card(8, 8))
        #expect(webp[12..<16] == [0x56, 0x50, 0x38, 0x4C][...] && webp[20] == 0x2F)  // "VP8L", signature
        let bits = UInt32(webp[21]) | UInt32(webp[22]) << 8 | UInt32(webp[23]) << 16 | UInt32(webp[24]) << 24
        let patched = bits & ~UInt32(0x0FFF_FFFF) | 16383 | 16383 << 14
        for k in 0..<4 { webp[21 + k] = UInt8(truncatingIfNeeded: patched >> (8 * UInt32(k))) }
        #expect(throws: ImagingError.imageTooLarge(Size(width: 16384, height: 16384))) { try Self.webp(webp) }
        #expect(ContinuousClock.now - start < .seconds(1))
        // The cap is the caller's: a small one refuses small images too.
        #expect(throws: ImagingError.imageTooLarge(Size(width: 8, height: 8))) { try Self.png(png, maximumPixels: 63) }
        #expect(throws: ImagingError.imageTooLarge(Size(width: 8, height: 8))) { try Self.webp(try WebPEncoder.encode(Self.card(8, 8)), maximumPixels: 63) }
    }

    /// A minimal animated WebP (VP8X with the animation flag) is refused with a reason.
    @Test func animatedWebPIsRefused() throws {
        var vp8x: [UInt8] = Array("VP8X".utf8) + [10, 0, 0, 0, 0x02, 0, 0, 0, 99, 0, 0, 49, 0, 0]
        vp8x += Array("ANIM".utf8) + [6, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let file = Array("RIFF".utf8) + [UInt8(4 + vp8x.count), 0, 0, 0] + Array("WEBP".utf8) + vp8x
        #expect(try Self.features(file).isAnimated)
        #expect {
            try Self.webp(file)
        } throws: { e in
            if case ImagingError.unsupported(.webp, let reason) = e { reason.contains("animated") } else { false }
        }
    }

    @Test func wrongSignaturesAreTyped() {
        #expect(throws: ImagingError.notPNG) { try Self.png([]) }
        #expect(throws: ImagingError.notPNG) { try Self.png([0x89, 0x50, 0x4E, 0x47]) }
        #expect(throws: ImagingError.notWebP) { try Self.webp(Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVE".utf8)) }
        #expect(throws: ImagingError.notWebP) { try Self.webp([0xFF, 0xD8, 0xFF]) }
        for (bytes, format) in [([0xFF, 0xD8, 0xFF, 0xE0], StillImageFormat.jpeg), (PNGDecoder.signature, .png),
                                (Array("RIFF\u{4}\u{0}\u{0}\u{0}WEBP".utf8), .webp)] as [([UInt8], StillImageFormat)] {
            #expect(bytes.withUnsafeBytes { StillImageFormat(sniffing: $0) } == format)
        }
        #expect([UInt8]("GIF89a".utf8).withUnsafeBytes { StillImageFormat(sniffing: $0) } == nil)
        #expect(ImagingError.corrupt(format: .png, reason: "IDAT: CRC error").description == "corrupt PNG: IDAT: CRC error")
    }
}
