// Issue 16 items 2–4: the console cannot switch matching off, every value the configuration
// accepts survives what comes after it (render → parse, the views, sealing into a hit record),
// and a refused save leaves the previous version in place.
#if canImport(Glibc)
import Glibc
#endif
import Config
import Testing
import VigilCore
import VigilTestSupport

/// A document with one 1280x720 camera (the schema's camera defaults).
func oneCamera() throws -> ConfigDocument {
    var doc = ConfigDocument.defaults
    try doc.set("camera.0.device", text: "/dev/video0")
    return doc
}

/// The values issue 16 committed from the console to stop every hit: each is now either a key the
/// console may not change, out of range, or refused by a rule across keys at commit.
@Test func theConsoleCannotSwitchMatchingOff() throws {
    let doc = try oneCamera()
    for (key, value) in [("matching.threshold", "1.0"), ("matching.min_quality", "1"), ("detection.min_face_px", "1024"),
                         ("policy.hit_cooldown_s", "86400"), ("storage.outbox_max_mb", "1"), ("detection.rate_hz", "0.2")] {
        guard ConfigSchema.consoleMayChange(key) else { continue }
        var d = doc
        do {
            let warnings = try d.set(key, text: value)
            #expect(!warnings.isEmpty, "the console may commit \(key) = \(value)")
        } catch {
            #expect(error.issues.count == 1 && error.issues[0].key == key)
        }
    }
}

/// The largest face a camera can show is its frame height: a minimum face size above half the
/// smallest camera's height leaves nothing the detector finds to compare.
@Test func theMinimumFaceSizeFitsTheCameras() throws {
    var doc = try oneCamera()
    try doc.set("camera.0.width", text: "160")
    try doc.set("camera.0.height", text: "120")
    #expect(try doc.set("detection.min_face_px", text: "60").isEmpty)
    let w = try doc.set("detection.min_face_px", text: "61")
    #expect(w.map(\.key) == ["detection.min_face_px"] && w[0].message.contains("camera 0"))
    let dir = tempDir()
    #expect(throws: ConfigError.self) { try ConfigStore.save(doc, to: dir + "/c.toml") }
}

/// What sealing accepts for a text field of a hit record (Sources/Hits/Record.swift, putString):
/// at most 255 bytes of printable ASCII. Written out here on purpose: the test is an oracle
/// independent of the rule the schema uses.
func seals(_ s: String) -> Bool { s.utf8.count <= 255 && s.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E } }

/// Texts at and around every boundary a validator or a consumer has: lengths, quotes and
/// backslashes (TOML, JSON), comment and table syntax, controls (C0, DEL, C1), non-ASCII.
func extremeTexts(_ rng: inout SplitMix64) -> [String] {
    var t = ["", "a", "cam0", "front door", "door\\", "a\"b", "\"quoted\"", "'", "#x", "x = 1", "[camera]", "a]b", " lead", "trail ",
             "\t", "a\nb", "a\rb", "\u{7F}", "\u{1B}[31mred", "\u{85}", "\u{2028}", "\u{200B}", "\u{FEFF}x", "Tür", "门", "🙂",
             "\\u0041", "%s%n", "${x}", "/", "//", "/a/b", "/a b", "/tür", "/a\"b", "/a\\b", "/#x", "relative/path",
             "https://a", "https://x.example/p?q=1#f", "https://", "http://x.example", "https://a b", "https://tür.example",
             "https://a\"b", "https://a\\b", "00:00-23:59", "23:59-00:00", "12:00-12:00", "24:00-01:00", "1:00-2:00",
             "true", "false", "on", "off", "yes", "maybe", "0", "-0", "1", "-1", "+5", "1_000", "0x10", "1e308", "1e-300",
             "5e-324", "nan", "inf", "-inf", "0.1", "0.5", " 5", "5 ", "9223372036854775807", "-9223372036854775808",
             "9223372036854775808"]
    for n in [254, 255, 256, 1023, 1024, 1025] {
        t.append(String(repeating: "a", count: n))
        t.append("/" + String(repeating: "p", count: n - 1))
    }
    t.append(String(repeating: "é", count: 128))   // 256 bytes, 128 characters
    t.append(String(repeating: "é", count: 127) + "a")   // 255 bytes of non-ASCII
    for _ in 0..<40 {
        let n = Int(rng.next() % 300)
        t.append(String(decoding: (0..<n).map { _ in UInt8(0x20 + rng.next() % 95) }, as: UTF8.self))
        let scalars = (0..<(1 + Int(rng.next() % 12))).compactMap { _ in Unicode.Scalar(UInt32(rng.next() % 0x3000)) }
        t.append(String(String.UnicodeScalarView(scalars)))
    }
    return t
}

/// The numbers and words each kind's validator sits on: bounds, one past them, and random values
/// inside, as console text.
func valuesFor(_ s: Setting, _ rng: inout SplitMix64) -> [String] {
    switch s.kind {
    case .int(let r):
        var v = [r.lowerBound, r.upperBound, r.lowerBound &- 1, r.upperBound &+ 1, .max, .min]
        for _ in 0..<20 { v.append(Int64.random(in: r, using: &rng)) }
        return v.map(String.init)
    case .intChoice(let c): return (c + [0, -1, c.max()! + 1]).map(String.init)
    case .gpioLine: return ["-2", "-1", "0", "17", "1023", "1024"]
    case .double(let r):
        var v = [r.lowerBound, r.upperBound, r.lowerBound.nextDown, r.upperBound.nextUp, r.lowerBound.nextUp, r.upperBound.nextDown]
        for _ in 0..<20 { v.append(Double.random(in: r, using: &rng)) }
        return v.map { String($0) }
    case .bool: return ["true", "false", "on", "off", "yes", "no", "TRUE", "maybe"]
    case .choice(let c): return c + c.map { $0.uppercased() } + ["other"]
    case .window:
        var v: [String] = []
        for _ in 0..<10 {
            let a = Int(rng.next() % 1440), b = Int(rng.next() % 1440)
            func f(_ m: Int) -> String { (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)" }
            v.append(f(a) + "-" + f(b))
        }
        return v
    default: return []
    }
}

/// The keys whose text is sealed into every hit record.
let keysInHitRecords = ["camera.0.name", "device.id"]

/// Property over the whole schema: every value `config set` accepts for any key (generated at the
/// boundaries, at random inside them, and as extreme strings) renders into a file that reads back
/// to the same configuration, gives working views, and — for text a hit record carries — seals.
@Test func everyValueTheConfigAcceptsSurvivesWhatComesAfter() throws {
    var rng = SplitMix64(seed: 16)
    let base = try oneCamera()
    var accepted = 0, refused = 0
    let keyed = ConfigSchema.settings.map { ($0.key, $0) } + ConfigSchema.cameraSettings.map { ("camera.0." + $0.name, $0) }
    for (key, s) in keyed where key != "config_version" {
        for text in valuesFor(s, &rng) + extremeTexts(&rng) {
            var doc = base
            do { try doc.set(key, text: text) } catch { refused += 1; continue }
            accepted += 1
            guard let value = doc[key] else { Issue.record("\(key) = \(text): accepted but not set"); continue }
            // the file it would be saved as reads back to the same values
            do {
                let again = try ConfigDocument.parse(doc.render(), file: "r", partial: true)
                #expect(again.values == doc.values, "\(key) = \(text): render → parse changed \(value) to \(again[key].map(\.description) ?? "nil")")
            } catch {
                Issue.record("\(key) = \(text): accepted, but its rendered file does not parse: \(error)")
            }
            // the views see it
            if key.hasPrefix("camera.0.") {
                let cam = doc.cameras[0]
                let shown: String = switch s.name {
                case "name": cam.name
                case "device": cam.device
                case "format": cam.format
                case "width": String(cam.width)
                case "height": String(cam.height)
                default: String(cam.fps)
                }
                #expect(shown == value.description, "\(key) = \(text)")
            }
            _ = doc.ledWiring
            #expect(doc.consoleSettings.baud == Int(doc.int("console.baud") ?? 0))
            if s.kind == .window { #expect(DailyWindow(value.description) != nil) }
            if keysInHitRecords.contains(key) { #expect(seals(value.description), "\(key) = \(text): accepted but cannot be sealed into a hit record") }
        }
    }
    #expect(accepted > 500 && refused > 500)
}

/// Camera names at the sealing boundary, one by one.
@Test func cameraNamesTheConfigAcceptsAreNamesThatSeal() throws {
    for (name, ok) in [(String(repeating: "c", count: 255), true), (String(repeating: "c", count: 256), false), ("door\\", true),
                       ("Tür", false), ("~", true), ("gate 2", true), ("\u{7F}", false), ("a\u{85}b", false)] {
        var doc = try oneCamera()
        do { try doc.set("camera.0.name", text: name); #expect(ok, "accepted \(name.debugDescription)") } catch {
            #expect(!ok, "refused \(name.debugDescription): \(error)")
        }
        let file = "[[camera]]\nname = \(ConfigValue.string(name).toml)\n"
        do { _ = try ConfigDocument.parse(file, file: "c"); #expect(ok, "parsed \(name.debugDescription)") } catch {
            #expect(!ok, "refused \(name.debugDescription): \(error)")
        }
    }
}

/// Issue 16 item 4: the save that is refused (a rule across keys) must not replace FILE.prev,
/// or `config revert previous` has nothing to go back to.
@Test func aRefusedSaveKeepsThePreviousVersion() throws {
    let dir = tempDir()
    let path = dir + "/vigil.toml"
    var doc = ConfigDocument.defaults
    try ConfigStore.save(doc, to: path)                                // v1
    try doc.set("leds.chip", text: "vigil-leds")
    try ConfigStore.save(doc, to: path)                                // v2, .prev = v1
    var bad = try ConfigStore.load(path)
    try bad.set("leds.hit", text: "-1")
    #expect(!(try bad.set("leds.hit_enabled", text: "true")).isEmpty)
    #expect(throws: ConfigError.self) { try ConfigStore.save(bad, to: path) }
    #expect(try ConfigStore.load(path).version == 2)
    let prev = try ConfigStore.load(path + ".prev")
    #expect(prev.version == 1 && prev.string("leds.chip") == "gpiochip0")
}
