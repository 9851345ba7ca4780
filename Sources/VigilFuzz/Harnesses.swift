// The harnesses. Rules: no file writes, no network, errors are fine (only crashes, traps and hangs
// are bugs), each call fast.
import Config
import Console
import Crypto
import Faces
import Foundation
import Hits
import Imaging
import Inference
import VigilCore
import Watchlist

/// Fixed, deterministic test keys (never used anywhere but here).
enum FuzzKeys {
    static let authority = AuthorityPrivateKey(try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 0x11, count: 32)))
    static let device = DeviceSigningKey(try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 0x22, count: 32)))
    static let agency = AgencyPrivateKey(try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x33, count: 32)))
    static let authorityPublic = authority.publicKey
    static let devicePublic = device.publicKey
    static let agencyPublic = agency.publicKey
}

// MARK: ONNX

enum FuzzONNX {
    static let maximumModel = 256 << 10

    static func run(_ bytes: [UInt8]) {
        guard bytes.count <= maximumModel else { return }
        let model: Model
        do { model = try Model(bytes: bytes) } catch { note("onnx: \(error)"); return }
        note("onnx: parsed, ops \(model.operatorTypes.sorted())")
        _ = model.inputs.map(\.description)
        _ = model.outputs.map(\.description)
        _ = model.operatorTypes
        _ = model.opsetVersion
        // Bound the declared inputs before planning (the arena is sized from them).
        var elements = 0
        for i in model.inputs {
            var n = 1
            for d in i.shape { n = n.multipliedReportingOverflow(by: max(d ?? 8, 1)).partialValue; if n > 1 << 20 { return } }
            elements += n
        }
        guard elements <= 1 << 20 else { return }
        let session: InferenceSession
        // a plan is refused above 8 MiB of arena (allocating and zeroing 100 MiB per input would
        // make the fuzzer time out; the limit itself is what is being exercised)
        if let s = try? InferenceSession(model: model, backend: ReferenceBackend(), arenaLimit: 8 << 20) {
            session = s
        } else if let s = try? InferenceSession(model: model, backend: ReferenceBackend(), inputSize: Size(width: 8, height: 8), arenaLimit: 8 << 20) {
            session = s
        } else {
            return
        }
        _ = session.planDescription
        note("onnx: planned \(session.stepCount) steps, arena \(session.arenaSize)")
        // Run only small plans (the fuzzer must not spend seconds in one convolution).
        guard session.arenaSize <= 1 << 20 else { return }
        var feeds: [String: Tensor] = [:]
        for i in session.inputs {
            let shape = i.shape.map { $0 ?? 1 }
            guard shape.reduce(1, { $0 &* $1 }) <= 1 << 16 else { return }
            var t = Tensor(zeros: shape)
            for k in t.values.indices { t.values[k] = Float(k % 7) * 0.25 - 0.5 }
            feeds[i.name] = t
        }
        do { _ = try session.run(feeds); note("onnx: ran") } catch { note("onnx: run: \(error)") }
        _ = try? session.runQuantized(feeds)
    }
}

// MARK: watchlist bundle and manifest

enum FuzzWatchlist {
    /// What the device does with a bundle: parse, verify, the policy checks of install, then the
    /// matcher (index build and a search), which the agent builds from a loaded list.
    static func bundle(_ bytes: [UInt8]) {
        let b: WatchlistBundle
        do { b = try WatchlistBundle(parsing: bytes) } catch { note("bundle: \(error)"); return }
        do { try b.verify(with: FuzzKeys.authorityPublic); note("bundle: verified") } catch { note("bundle: \(error)") }
        let h = b.header
        _ = h.embedder.description
        for e in b.entries { _ = e.idHex }
        let now = h.issued &+ 1
        let health = WatchlistPolicy.health(of: h, now: now)
        _ = WatchlistPolicy.matchableEntries(b, now: now)
        // The matrix is already in memory; bound the search work.
        guard b.rowCount.multipliedReportingOverflow(by: h.dimension).partialValue <= 1 << 22 else { return }
        guard let m = try? WatchlistMatcher(bundle: b, now: now) else { return }
        _ = m.isCurrent(now: now)
        var face = [Float](repeating: 0, count: h.dimension)
        for i in face.indices { face[i] = Float((i * 37) % 11) - 5 }
        _ = m.match([face, face.reversed()], now: now, health: health)
        let r = m.match([face], now: now, health: .active(version: h.listVersion))
        note("bundle: matched, \(r[0].count) candidates")
    }

    static func manifest(_ bytes: [UInt8]) {
        let m: WatchlistManifest
        do { m = try WatchlistManifest(parsing: bytes) } catch { note("manifest: \(error)"); return }
        do { try m.verify(with: FuzzKeys.authorityPublic); note("manifest: verified") } catch { note("manifest: \(error)") }
        _ = WatchlistManifest.pathProblem(m.bundlePath)
        _ = hex(m.sha256)
    }
}

// MARK: hit records (agency side)

enum FuzzHits {
    static let devices: [(key: DevicePublicKey, validUntilMillis: Int64?)] = [(FuzzKeys.devicePublic, nil)]
    static let expiredDevices: [(key: DevicePublicKey, validUntilMillis: Int64?)] = [(FuzzKeys.devicePublic, 1)]

    /// A record is parsed and opened as the agency does. Anything that is not a record is also
    /// sealed as a record BODY (the plaintext) with the fixed keys and opened, so the body decoder
    /// (reachable only behind a valid signature and AEAD tag) gets fuzzed too.
    static func run(_ bytes: [UInt8]) {
        if let r = try? SealedRecord(parsing: bytes) {
            _ = r.idString
            do { _ = try r.open(agency: FuzzKeys.agency, devices: devices); note("record: opened") } catch { note("record: \(error)") }
            _ = try? r.open(agency: FuzzKeys.agency, devices: expiredDevices)
            return
        }
        guard bytes.count <= 1 << 16, let record = try? sealRaw(body: bytes) else { return }
        guard let parsed = try? SealedRecord(parsing: record) else {
            fatalError("a record sealed with valid structure does not parse")
        }
        do { let body = try parsed.open(agency: FuzzKeys.agency, devices: devices); note("body: decoded, camera \(body.cameraID)") } catch { note("body: \(error)") }
    }

    /// The record layout of SealedRecord.seal (Sources/Hits/Record.swift), with any plaintext.
    static func sealRaw(body plain: [UInt8], createdMillis: Int64 = 1_800_000_000_000) throws -> [UInt8] {
        var sender = try HPKE.Sender(recipientKey: FuzzKeys.agencyPublic.key, ciphersuite: .Curve25519_SHA256_ChachaPoly,
                                     info: Data("vigil hit record v1".utf8))
        var w: [UInt8] = SealedRecord.magic
        func put(_ v: UInt64, _ n: Int) { for i in 0..<n { w.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        put(UInt64(SealedRecord.version), 2); put(0, 2)
        w += makeUUIDv7(millis: createdMillis)
        w += FuzzKeys.devicePublic.keyID
        put(7, 8); put(UInt64(bitPattern: createdMillis), 8)
        w += FuzzKeys.agencyPublic.keyID
        w += Array(sender.encapsulatedKey)
        put(UInt64(plain.count + 16), 4)
        w += Array(try sender.seal(plain, authenticating: w))
        w += Array(try FuzzKeys.device.key.signature(for: w))
        return w
    }
}

// MARK: config TOML

enum FuzzConfig {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? parseTOML(text)
        _ = try? ConfigDocument.parse(text, file: "fuzz.toml", partial: true)
        let doc: ConfigDocument
        do { doc = try ConfigDocument.parse(text, file: "fuzz.toml") } catch { note("config: \(error)"); return }
        note("config: parsed, \(doc.orderedKeys.count) keys, \(doc.crossCheck().count) cross-check issues")
        _ = doc.crossCheck()
        _ = doc.consoleSettings
        _ = doc.cameras
        _ = doc.ledWiring
        for k in doc.orderedKeys { _ = doc.display(k) }
        _ = doc.diff(to: .defaults)
        _ = doc.restartNeeded(comparedTo: .defaults)
        // What the store writes must read back (a save followed by a load).
        let rendered = doc.render(header: "fuzz")
        do { _ = try ConfigDocument.parse(rendered, file: "rendered.toml") } catch { note("config: rendered text does not re-parse: \(error)") }
    }
}

// MARK: console (serial input)

final class FuzzConsoleBackend: ConsoleBackend {
    func status() -> [String] { ["health: ok"] }
    func cameraList() -> [String] { ["cam0"] }
    func cameraTest(_ name: String?) -> [String] { ["ok \(name ?? "*")"] }
    func ledTest() -> [String] { ["done"] }
    func watchlistStatus() -> [String] { ["v1"] }
    func syncNow() -> [String] { ["up to date"] }
    func outboxStatus() -> [String] { ["0"] }
    func keysShow() -> [String] { ["SHA256:ab"] }
    func selftest() -> [String] { ["ok"] }
    func configCommitted(_ new: ConfigDocument, previous: ConfigDocument) -> [String] { ["committed v\(new.version)"] }
}

struct FuzzPIN: PINVerifier {
    static let pin = "480213"
    func check(_ p: String) -> PINCheck { p == FuzzPIN.pin ? .accepted : .wrong }
}

enum FuzzConsole {
    nonisolated(unsafe) static let backend = FuzzConsoleBackend()
    /// A configuration path that cannot exist: `config commit` fails instead of writing.
    static let configPath = "/nonexistent/vigil-fuzz/vigil.toml"

    /// First byte: bit 0 = log in first (so the rest reaches the shell), bit 1 = let the idle
    /// timeout pass half-way; bit 2 = feed byte by byte (else in one chunk). The rest is the line.
    static func run(_ bytes: [UInt8]) {
        guard let flags = bytes.first, bytes.count <= 1 << 16 else { return }
        let input = bytes.dropFirst()
        var now = MonotonicInstant(nanoseconds: 1_000_000_000)
        let workspace = ConfigWorkspace(path: configPath, document: .defaults)
        let session = ConsoleSession(options: .init(deviceName: "fuzz-device"), pins: FuzzPIN(), backend: backend, audit: nil,
                                     config: workspace, place: "fuzz", now: now)
        _ = session.start(now: now)
        if flags & 1 != 0 { _ = session.feed(Array((FuzzPIN.pin + "\r").utf8), now: now) }
        let half = input.count / 2
        let first = input.prefix(half), second = input.dropFirst(half)
        func feed(_ s: ArraySlice<UInt8>) {
            if flags & 4 != 0 {
                for b in s { now = now.advanced(by: .milliseconds(10)); _ = session.feed(CollectionOfOne(b), now: now) }
            } else {
                _ = session.feed(s, now: now)
            }
        }
        feed(first)
        if flags & 2 != 0 {
            now = now.advanced(by: .seconds(3600))
            _ = session.tick(now: now)
        }
        feed(second)
        let out = session.tick(now: now)
        note("console: mode \(session.mode), \(session.commandsRun) commands, last output \(out.count) bytes")
    }
}

// MARK: MJPEG frames through the agent's decode path

enum FuzzMJPEG {
    nonisolated(unsafe) static let frames = try! FrameDecoder()
    nonisolated(unsafe) static let jpeg = try! JPEGDecoder()
    /// The detector's input size: the agent decodes with DCT scaling to at least this.
    static let target = Size(width: 320, height: 240)

    static func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            let info = FrameInfo(sequence: 1, captureTime: MonotonicInstant(nanoseconds: 1), format: .mjpeg,
                                 size: Size(width: 640, height: 480), bytesPerLine: 0)
            let frame = Frame(info: info, bytes: raw, lease: nil)
            do { let img = try frames.decode(frame, atLeast: target); note("mjpeg: decoded \(img.width)x\(img.height)") } catch { note("mjpeg: \(error)") }
            guard let h = try? jpeg.header(raw) else { return }
            _ = JPEGDecoder.scaledSize(of: h.size, atLeast: target)
            // A full-size decode too, for small images (bounded work).
            if h.size.width <= 1024, h.size.height <= 1024 {
                _ = try? jpeg.decode(raw, atLeast: nil)
            }
        }
    }
}

// MARK: still images (PNG, WebP) for the offline commands

enum FuzzImages {
    /// 4 Mpx here (64 Mpx in ImageFile) keeps each call fast; a hostile header still hits the check.
    static let maximumPixels = 1 << 22

    static func png(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            _ = StillImageFormat(sniffing: raw)
            do { check(try PNGDecoder.decode(raw, maximumPixels: maximumPixels), "png") } catch { note("png: \(error)") }
        }
    }

    static func webp(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            _ = StillImageFormat(sniffing: raw)
            do { check(try WebPDecoder.decode(raw, maximumPixels: maximumPixels), "webp") } catch { note("webp: \(error)") }
        }
    }

    /// A decoded image must be well formed and within the budget (a violation is a bug: trap).
    static func check(_ img: RGBImage, _ name: String) {
        precondition(img.isWellFormed && img.width * img.height <= maximumPixels, "\(name): bad image \(img.width)x\(img.height)")
        note("\(name): decoded \(img.width)x\(img.height)")
    }
}

// MARK: the dlib 5-point landmark model (models.landmarks: a file an operator may point anywhere)

enum FuzzShapePredictor {
    /// A fixed 48×40 gradient: feature pixels differ, so every tree walks both ways somewhere.
    nonisolated(unsafe) static let image: RGBImage = {
        var img = RGBImage(width: 48, height: 40)
        for i in 0..<(48 * 40) { for c in 0..<3 { img.pixels[3 * i + c] = UInt8(truncatingIfNeeded: (i % 48) * 5 + (i / 48) * (c + 2)) } }
        return img
    }()

    /// Rectangles a detector could hand over: inside, straddling the border, outside, empty,
    /// and absurdly large (feature pixels then fall outside the image and read 0).
    static let rects = [
        Box(x: 8, y: 6, width: 30, height: 28), Box(x: -20, y: 30, width: 40, height: 40),
        Box(x: 500, y: 500, width: 10, height: 10), Box(x: 10, y: 10, width: 0, height: 0),
        Box(x: -1e12, y: 1e12, width: 1e13, height: 1e13),
    ]

    static func run(_ bytes: [UInt8]) {
        let p: ShapePredictor
        do { p = try ShapePredictor(serialized: bytes) } catch { note("shape-predictor: \(error)"); return }
        precondition(p.landmarkCount >= 1, "shape-predictor: parsed a model without landmarks")
        // A parsed model is then run: `predict` must never index out of bounds (its safety rests
        // on init's checks) and must return one point per landmark.
        for r in rects {
            let pts = p.predict(image, rect: r)
            precondition(pts.count == p.landmarkCount, "shape-predictor: \(pts.count) points for \(p.landmarkCount) landmarks")
        }
        note("shape-predictor: \(p.landmarkCount) landmarks, \(p.cascades.count) cascades")
    }
}
