import Imaging
import Testing
import VigilCore
import VigilTestSupport

/// Corrupt and hostile input must come back as an `ImagingError`, never a crash, and must not
/// poison the decoder for the next (good) frame.
@Suite("JPEG corruption")
struct JPEGCorruptionTests {
    /// A small valid frame, 4:2:2 like UVC MJPEG, plus its DHT-less variant.
    private static func base() throws -> [UInt8] {
        try TestHelpers.syntheticJPEG(width: 96, height: 64, quality: 85, subsampling: .s422).jpeg
    }

    private static func decode(_ data: [UInt8], with decoder: JPEGDecoder, target: Size? = nil) -> Result<RGBImage, ImagingError> {
        data.withUnsafeBytes { bytes in
            do throws(ImagingError) { return .success(try decoder.decode(bytes, atLeast: target)) } catch { return .failure(error) }
        }
    }

    @Test("empty input is not a JPEG")
    func empty() throws {
        let decoder = try JPEGDecoder()
        #expect(Self.decode([], with: decoder).failure == .notJPEG)
        #expect(Self.decode([0xFF], with: decoder).failure == .notJPEG)
        #expect(throws: ImagingError.notJPEG) { try [UInt8]().withUnsafeBytes { try decoder.header($0) } }
    }

    @Test("SOI alone, SOI+EOI and SOI+garbage are corrupt")
    func onlySOI() throws {
        let decoder = try JPEGDecoder()
        var garbage: [UInt8] = [0xFF, 0xD8]
        garbage += SyntheticImages.randomBytes(count: 5000, seed: 3)
        for data in [[0xFF, 0xD8], [0xFF, 0xD8, 0xFF, 0xD9], garbage] as [[UInt8]] {
            guard case .failure(.corruptJPEG(let text)) = Self.decode(data, with: decoder) else {
                Issue.record("expected corruptJPEG for \(data.count) bytes")
                continue
            }
            #expect(!text.isEmpty)
        }
    }

    @Test("random garbage without SOI is not a JPEG")
    func garbage() throws {
        let decoder = try JPEGDecoder()
        for seed in 0..<50 as Range<UInt64> {
            var data = SyntheticImages.randomBytes(count: 1 + Int(seed) * 97, seed: seed)
            if data.count >= 2, data[0] == 0xFF, data[1] == 0xD8 { data[0] = 0 }
            #expect(Self.decode(data, with: decoder).failure == .notJPEG)
        }
    }

    @Test("SOF with zero dimensions is corrupt")
    func zeroDimensions() throws {
        let decoder = try JPEGDecoder()
        for (w, h) in [(0, 0), (0, 64), (96, 0)] {
            let data = try #require(JPEGMarkers.settingFrameSize(width: w, height: h, in: try Self.base()))
            guard case .failure(.corruptJPEG) = Self.decode(data, with: decoder) else {
                Issue.record("expected corruptJPEG for \(w)x\(h)")
                continue
            }
        }
    }

    @Test("SOF announcing 60000x60000 is refused before allocating")
    func hugeDimensions() throws {
        let decoder = try JPEGDecoder()
        let data = try #require(JPEGMarkers.settingFrameSize(width: 60000, height: 60000, in: try Self.base()))
        #expect(Self.decode(data, with: decoder).failure == .imageTooLarge(Size(width: 60000, height: 60000)))
        #expect(Self.decode(data, with: decoder, target: Size(width: 10, height: 10)).failure
                == .imageTooLarge(Size(width: 60000, height: 60000)))
        // The header itself is still readable (describing is harmless).
        let header = try data.withUnsafeBytes { try decoder.header($0) }
        #expect(header.size == Size(width: 60000, height: 60000))
        // And the cap is configurable.
        decoder.maximumSize = Size(width: 64, height: 64)
        #expect(Self.decode(try Self.base(), with: decoder).failure == .imageTooLarge(Size(width: 96, height: 64)))
    }

    /// Every truncation of a valid frame (including cutting only the final EOI byte) must be an
    /// error: libjpeg pads a short stream and merely *warns* "Premature end of JPEG file", which
    /// TJFLAG_STOPONWARNING turns into a failure.
    @Test("every truncation is an error", arguments: [false, true])
    func truncations(stripHuffman: Bool) throws {
        var data = try Self.base()
        if stripHuffman { data = try #require(JPEGMarkers.removing(JPEGMarkers.dht, from: data)) }
        let decoder = try JPEGDecoder()
        let good = try #require(Self.decode(data, with: decoder).success)
        var failures = 0
        for cut in 0..<data.count {
            let result = Self.decode(Array(data[..<cut]), with: decoder)
            switch result {
            case .success: Issue.record("truncation at \(cut)/\(data.count) decoded without error")
            case .failure(.notJPEG): #expect(cut < 2)
            case .failure(.corruptJPEG): failures += 1
            case .failure(let other): Issue.record("unexpected \(other) at \(cut)")
            }
        }
        #expect(failures == data.count - 2)
        // The decoder still works afterwards.
        #expect(Self.decode(data, with: decoder).success == good)
    }

    /// Random byte flips in the header or the entropy-coded data: the result may be an error or
    /// (for flips that happen to keep the stream legal) an image of plausible size; never a
    /// crash, and the decoder keeps working.
    @Test("random byte flips give errors or images, never crashes", arguments: [false, true])
    func byteFlips(inHeader: Bool) throws {
        let data = try Self.base()
        let walk = try #require(JPEGMarkers(data))
        let region = inHeader ? 2..<(walk.scanStart + 14) : (walk.scanStart + 14)..<(data.count - 2)
        let decoder = try JPEGDecoder()
        decoder.maximumSize = Size(width: 2048, height: 2048)  // keep forged sizes cheap
        let good = try #require(Self.decode(data, with: decoder).success)
        var rng = SyntheticImages.PRNG(seed: inHeader ? 11 : 12)
        var errors = 0, images = 0
        for _ in 0..<600 {
            var mutated = data
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = region.lowerBound + Int(rng.next() % UInt64(region.count))
                mutated[at] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
            }
            for target in [nil, Size(width: 24, height: 16)] as [Size?] {
                switch Self.decode(mutated, with: decoder, target: target) {
                case .success(let image):
                    images += 1
                    #expect(image.isWellFormed)
                    #expect(image.width <= 2048 && image.height <= 2048)
                case .failure(let error):
                    errors += 1
                    #expect(!error.description.isEmpty)
                }
            }
        }
        #expect(errors > 0)
        #expect(Self.decode(data, with: decoder).success == good)
        print("byte flips (\(inHeader ? "header" : "entropy data")): \(errors) errors, \(images) decoded")
    }

    /// A tables-only ("abbreviated table specification") stream has no image: TurboJPEG reports
    /// success without dimensions, which must become an error, and the decoder must go on
    /// decoding DHT-less frames exactly. (TurboJPEG's encoder always writes the standard Huffman
    /// tables, so this cannot show a leak of non-standard tables; the decoder resets its handle
    /// after such a stream regardless.)
    @Test("a tables-only stream is corrupt and the decoder keeps working")
    func tablesOnly() throws {
        let decoder = try JPEGDecoder()
        let other = try TestHelpers.syntheticJPEG(width: 32, height: 32, quality: 20, subsampling: .s422, seed: 9).jpeg
        let walk = try #require(JPEGMarkers(other))
        var tables: [UInt8] = [0xFF, 0xD8]
        for segment in walk.segments where segment.marker == 0xDB || segment.marker == JPEGMarkers.dht {
            tables += other[segment.range]
        }
        tables += [0xFF, 0xD9]
        guard case .failure(.corruptJPEG) = Self.decode(tables, with: decoder) else {
            Issue.record("tables-only stream was not rejected")
            return
        }
        let frame = try Self.base()
        let stripped = try #require(JPEGMarkers.removing(JPEGMarkers.dht, from: frame))
        let expected = try #require(Self.decode(frame, with: try JPEGDecoder()).success)
        #expect(Self.decode(stripped, with: decoder).success == expected)
    }

    @Test("error descriptions are one line")
    func descriptions() {
        let errors: [ImagingError] = [
            .corruptJPEG("Premature end of JPEG file"), .notJPEG, .imageTooLarge(Size(width: 9000, height: 9000)),
            .bufferTooSmall(expected: 10, got: 5), .unsupportedFormat(.other(fourcc: PixelFormat.code("H264"))),
            .encodeFailed("x"),
        ]
        for e in errors {
            #expect(!e.description.isEmpty)
            #expect(!e.description.contains("\n"))
        }
        #expect(ImagingError.imageTooLarge(Size(width: 9000, height: 9000)).description == "image too large: 9000x9000")
    }
}

extension Result {
    var success: Success? { if case .success(let v) = self { v } else { nil } }
    var failure: Failure? { if case .failure(let e) = self { e } else { nil } }
}
