// The seed corpora, made with the project's own code and the fixed fuzz keys
// (`VIGIL_FUZZ_MKSEEDS=DIR VigilFuzz`). ONNX and config seeds come from Tests/fuzz/run.sh --make-seeds
// (op-test models made by scripts/optests, the board profiles).
import Audit
import Config
import Crypto
import Foundation
import Hits
import Imaging
import VigilCore
import VigilTestSupport
import Watchlist

enum Seeds {
    static func auditLogs() throws -> [(String, [UInt8])] {
        var t = Array("/tmp/vigil-seeds-audit-XXXXXX".utf8CString)
        let dir = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        let log = try AuditLog(directory: dir, checkpointKey: FuzzAudit.key)
        _ = try log.append("agent.start", [("version", "0.1.0")])
        _ = try log.append("console.login_failed", [("count", .int(3))])
        _ = try log.append("hit", [("id", "0190f5a0-0000-7000-8000-000000000001")])
        let text = try readFile(dir + "/" + auditCurrentFileName, maximumBytes: 1 << 20)
        let checkpoint = try readFile(dir + "/" + auditCheckpointFileName, maximumBytes: 1 << 16)
        FuzzAudit.empty(dir)
        rmdir(dir)
        let crafted = Array(String(decoding: text, as: UTF8.self).replacingOccurrences(of: "\"seq\":2,", with: "\"seq\":18446744073709551615,").utf8)
        return [("log-and-checkpoint.bin", text + [0] + checkpoint), ("log-only.bin", text), ("max-seq.bin", crafted)]
    }

    static func writeAll(to dir: String) throws {
        var files: [(String, String, [UInt8])] = []
        // watchlist bundles and their manifests
        for (i, b) in try bundles().enumerated() {
            files.append(("watchlist-bundle", "bundle-\(i).bin", b))
            let manifest = try WatchlistManifest.build(bundle: b, bundlePath: "lists/bundle-\(i).vwl", signer: FuzzKeys.authority)
            files.append(("watchlist-manifest", "manifest-\(i).txt", manifest))
        }
        // hit records, and their bodies (the plaintext the agency decodes)
        for (i, body) in hitBodies().enumerated() {
            let id = makeUUIDv7(millis: 1_800_000_000_000 + Int64(i))
            let r = try SealedRecord.seal(body, id: id, sequence: UInt64(i + 1), createdMillis: 1_800_000_000_000 + Int64(i),
                                          device: FuzzKeys.device, agency: FuzzKeys.agencyPublic)
            files.append(("hit-record", "record-\(i).bin", r.bytes))
            files.append(("hit-record", "body-\(i).bin", try plaintext(of: r.bytes)))
        }
        // config
        files.append(("config-toml", "defaults.toml", Array(ConfigDocument.defaults.render(header: "defaults").utf8)))
        var doc = ConfigDocument.defaults
        _ = try? doc.set("camera.0.device", text: "/dev/video0")
        _ = try? doc.set("camera.1.device", text: "/dev/video2")
        files.append(("config-toml", "two-cameras.toml", Array(doc.render(header: "two cameras").utf8)))
        files.append(("config-toml", "syntax.toml", Array(#"""
            # the TOML forms the reader knows, on real keys
            config_version = 7
            board = 'generic'   # literal string

            [device]
            id = "vigil-\u00e9t\u00E9-\"q\""
            kind = "body-worn"

            [detection]
            rate_hz = 2.5e0
            threads = +2
            min_face_px = 4_0

            [leds]
            status = -1
            active_low = true

            [[camera]]
            name = "cam0"
            device = "/dev/video0"

            [[camera]]
            name = "cam1"
            device = "/dev/video2"

            """#.utf8)))
        // console lines (first byte: flags, see FuzzConsole)
        let scripts: [(UInt8, String)] = [
            (1, "help\r"),
            (1, "status\rcamera list\rcamera test cam0\rled test\rwatchlist status\rsync now\routbox status\rkeys show\rselftest\r"),
            (1, "config show\rconfig show camera\rconfig get camera.0.device\r"),
            (1, "config set camera.0.device /dev/video1\rconfig diff\rconfig commit\rconfig revert\rconfig revert previous\r"),
            (1, "config set console.pin_file \"/tmp/a b\"\rconfig unset camera.0.device\rconfig diff\r"),
            (1, "audit tail 5\rbogus\rconfg\r\"unbalanced\rlogout\r"),
            (5, "hel\u{7f}\u{7f}lp\r\u{1b}[A\u{03}\u{15}status\n"),
            (3, "status\rstatus\r"),
            (0, "000000\r111111\r222222\r333333\r444444\r480213\r"),
            (4, "480213\rhelp\r"),
        ]
        for (i, s) in scripts.enumerated() { files.append(("console", "script-\(i).bin", [s.0] + Array(s.1.utf8))) }
        // MJPEG frames: our encoder's output, and DHT-less versions (as many USB cameras send)
        let encoder = try JPEGEncoder()
        for (i, (w, h, q, sub)) in [(64, 48, 85, ChromaSubsampling.s420), (32, 32, 50, .s422), (17, 9, 95, .s444), (16, 16, 75, .gray)].enumerated() {
            var img = RGBImage(width: w, height: h)
            for y in 0..<h { for x in 0..<w {
                let o = (y * w + x) * 3
                img.pixels[o] = UInt8(truncatingIfNeeded: x * 255 / max(w - 1, 1))
                img.pixels[o + 1] = UInt8(truncatingIfNeeded: y * 255 / max(h - 1, 1))
                img.pixels[o + 2] = UInt8(truncatingIfNeeded: (x ^ y) * 8)
            } }
            let jpeg = try encoder.encode(img, quality: q, subsampling: sub)
            files.append(("mjpeg", "frame-\(i).jpg", jpeg))
            files.append(("mjpeg", "frame-\(i)-nodht.jpg", removingDHT(jpeg)))
        }
        // PNG and WebP stills (libpng's and libwebp's encoders): every sample layout, alpha, lossy
        files += try stillImages()
        // landmark models written by hand in dlib's serialization (VigilTestSupport), never dlib's file
        // audit logs written by AuditLog itself (log, NUL, checkpoint), and the crafted sequence
        // number that once trapped every reader and writer (issue 16)
        for (name, log) in try auditLogs() { files.append(("audit-log", name, log)) }
        files.append(("shape-predictor", "tiny.dat", DlibShapePredictorWriter.tiny()))
        files.append(("shape-predictor", "five-point.dat", DlibShapePredictorWriter.fivePoint()))
        files.append(("shape-predictor", "five-point-deep.dat", DlibShapePredictorWriter.fivePoint(cascades: 2, trees: 2, depth: 5, features: 40, seed: 11)))
        for (target, name, bytes) in files {
            guard bytes.count < 64 << 10 else { throw SeedError.failed("\(target)/\(name): \(bytes.count) bytes") }
            mkdir(dir, 0o755)
            mkdir(dir + "/" + target, 0o755)
            try writeWholeFile(dir + "/" + target + "/" + name, bytes)
        }
        print("wrote \(files.count) seed files under \(dir)")
    }

    static func bundles() throws -> [[UInt8]] {
        let issued: Int64 = 1_800_000_000, expires: Int64 = 1_900_000_000
        var out: [[UInt8]] = []
        for (dim, rowsPerEntry, mode) in [(4, [1], WatchlistMode.investigative), (16, [2, 1], .alert), (8, [1, 3, 1], .alert)] {
            let header = WatchlistHeader(listVersion: UInt64(out.count + 1), issued: issued, expires: expires, maximumStaleness: 86_400,
                                         embedder: EmbedderIdentity(id: "fuzz-embedder", sha256: [UInt8](repeating: 0xAB, count: 32)),
                                         mode: mode, thresholdFloor: 0.5, dimension: dim)
            var entries: [WatchlistEntry] = []
            var row = 0
            for (i, n) in rowsPerEntry.enumerated() {
                entries.append(WatchlistEntry(id: [UInt8](repeating: UInt8(i + 1), count: 16), expires: expires - Int64(i),
                                              category: UInt8(i + 1), legalBasis: "fuzz basis \(i)", firstRow: row, rowCount: n))
                row += n
            }
            let matrix = (0..<(row * dim)).map { Int8(truncatingIfNeeded: $0 * 29 - 64) }
            let scales = (0..<row).map { Float($0 + 1) / 256 }
            out.append(try WatchlistBundle.build(header: header, entries: entries, matrix: matrix, scales: scales, signer: FuzzKeys.authority))
            if rowsPerEntry.count == 3 {  // the same list as format v2: operating point and calibration table
                var calibrated = header
                calibrated.listVersion += 10; calibrated.targetFalseMatchRate = 1e-4
                let table = entries.indices.map { EntryCalibration(threshold: 0.5 + Float($0) * 0.1, tailStart: 0.3, tailScale: 0.05, tailMass: 0.02) }
                out.append(try WatchlistBundle.build(header: calibrated, entries: entries, matrix: matrix, scales: scales,
                                                     calibrations: table, signer: FuzzKeys.authority))
            }
        }
        return out
    }

    static func hitBodies() -> [HitBody] {
        [
            HitBody(captureWallMillis: 1_800_000_000_000, captureMonotonicNanos: 123_456_789, cameraID: "cam0", watchlistVersion: 3,
                    entryID: [UInt8](repeating: 7, count: 16), score: 0.71, threshold: 0.6, embedderID: "fuzz-embedder", quality: 0.9,
                    box: [10, 20, 110, 140], mode: .alert, auditHead: [UInt8](repeating: 0xCD, count: 32)),
            HitBody(captureWallMillis: 1_800_000_000_001, captureMonotonicNanos: 1, cameraID: "front door", watchlistVersion: 1,
                    entryID: [UInt8](repeating: 1, count: 16), score: 0.9, threshold: 0.5, embedderID: "e", quality: 0.5,
                    box: [0, 0, 1, 1], mode: .investigative, auditHead: [UInt8](repeating: 0, count: 32),
                    crop: [0xFF, 0xD8, 0xFF, 0xD9], clockSynchronized: true),
            // body version 3 with both rates known (the others state them unknown)
            HitBody(captureWallMillis: 1_800_000_000_002, captureMonotonicNanos: 2, cameraID: "gate", watchlistVersion: 13,
                    entryID: [UInt8](repeating: 3, count: 16), score: 0.8, threshold: 0.7, embedderID: "fuzz-embedder", quality: 0.6,
                    box: [5, 5, 50, 60], mode: .alert, auditHead: [UInt8](repeating: 0x11, count: 32), clockSynchronized: false,
                    estimatedFalseMatchRate: 2.5e-5, operatingPoint: 1e-4),
        ]
    }

    /// The agency's view: decrypts a record's body with the fixed agency key.
    static func plaintext(of record: [UInt8]) throws -> [UInt8] {
        let e = 8 + 2 + 2 + 16 + 32 + 8 + 8 + 32 + 32 + 4
        var r = try HPKE.Recipient(privateKey: FuzzKeys.agency.key, ciphersuite: .Curve25519_SHA256_ChachaPoly,
                                   info: Data("vigil hit record v1".utf8), encapsulatedKey: Data(record[(e - 36)..<(e - 4)]))
        return Array(try r.open(record[e..<(record.count - 64)], authenticating: record[0..<e]))
    }

    static func stillImages() throws -> [(String, String, [UInt8])] {
        let w = 16, h = 12
        var rgb = RGBImage(width: w, height: h)
        for i in 0..<(w * h) { for c in 0..<3 { rgb.pixels[3 * i + c] = UInt8(truncatingIfNeeded: i &* (c + 3) &* 7) } }
        var rgba: [UInt8] = [], grey: [UInt8] = [], wide: [UInt8] = []
        for i in 0..<(w * h) {
            rgba += rgb.pixels[(3 * i)..<(3 * i + 3)]
            rgba.append(UInt8(truncatingIfNeeded: i &* 41))
            grey.append(UInt8(truncatingIfNeeded: i &* 5))
        }
        for v in rgb.pixels { withUnsafeBytes(of: UInt16(v) &* 257) { wide += $0 } }
        let palette: [UInt8] = [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 9, 9, 9, 255]
        var out: [(String, String, [UInt8])] = [
            ("png", "rgb.png", try PNGEncoder.encode(rgb)),
            ("png", "rgba.png", try PNGEncoder.encode(width: w, height: h, layout: .rgba, bytes: rgba)),
            ("png", "grey.png", try PNGEncoder.encode(width: w, height: h, layout: .grey, bytes: grey)),
            ("png", "grey-alpha.png", try PNGEncoder.encode(width: w, height: h / 2, layout: .greyAlpha, bytes: grey)),
            ("png", "palette-trns.png", try PNGEncoder.encode(width: w, height: h, layout: .rgbaPalette, bytes: grey.map { $0 % 4 }, colormap: palette)),
            ("png", "rgb16-nogamma.png", PNGEncoder.removingChunks(try PNGEncoder.encode(width: w, height: h, layout: .linearRGB, bytes: wide), types: ["gAMA", "cHRM"])),
            ("webp", "lossless.webp", try WebPEncoder.encode(rgb)),
            ("webp", "lossless-alpha.webp", try WebPEncoder.encode(width: w, height: h, bytes: rgba, alpha: true)),
            ("webp", "lossy.webp", try WebPEncoder.encode(rgb, quality: 75)),
            ("webp", "lossy-alpha.webp", try WebPEncoder.encode(width: w, height: h, bytes: rgba, alpha: true, quality: 50)),
        ]
        // A minimal animated file (VP8X with the animation flag + ANIM), which the decoder refuses.
        let chunks: [UInt8] = Array("VP8X".utf8) + [10, 0, 0, 0, 0x02, 0, 0, 0, 15, 0, 0, 11, 0, 0] + Array("ANIM".utf8) + [6, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        out.append(("webp", "animated.webp", Array("RIFF".utf8) + [UInt8(4 + chunks.count), 0, 0, 0] + Array("WEBP".utf8) + chunks))
        return out
    }

    /// Drops every DHT segment (FF C4): MJPEG from cameras usually has none (the decoder must use
    /// the standard tables).
    static func removingDHT(_ j: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0xFF, 0xD8]
        var i = 2
        while i + 4 <= j.count, j[i] == 0xFF {
            let marker = j[i + 1]
            if marker == 0xDA { break }  // start of scan: the rest is entropy-coded data
            let len = Int(j[i + 2]) << 8 | Int(j[i + 3])
            if marker != 0xC4 { out += j[i..<min(i + 2 + len, j.count)] }
            i += 2 + len
        }
        out += j[min(i, j.count)...]
        return out
    }
}
