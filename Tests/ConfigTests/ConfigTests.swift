#if canImport(Glibc)
import Glibc
#endif
import Config
import Testing
import VigilCore
import VigilTestSupport

func tempDir() -> String { makeTempDirectory("config") }

func readText(_ path: String) -> String? {
    (try? readFile(path)).map { String(decoding: $0, as: UTF8.self) }
}

/// The repository's board profiles (this file is Tests/ConfigTests/ConfigTests.swift).
let profileDir: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/board/profiles"
}()

// MARK: TOML reader

@Test func tomlValuesOfEveryKind() throws {
    let t = try parseTOML("""
    # comment
    a = "x\\ty\\u00e9"   # trailing comment
    b = 'lit\\eral'
    c = -42
    d = 1_000
    e = 0x1F
    f = 3.5e2
    g = true
    h = [1, 2,
         3,]  # multi-line array
    i = { x = 1, y.z = "q" }
    [s.t]
    k = false
    [[arr]]
    n = 1
    [[arr]]
    n = 2
    """)
    guard case .string(let a)? = t["a"]?.value else { Issue.record("a"); return }
    #expect(a == "x\tyé")
    guard case .string(let b)? = t["b"]?.value else { Issue.record("b"); return }
    #expect(b == "lit\\eral")
    guard case .integer(-42)? = t["c"]?.value, case .integer(1000)? = t["d"]?.value, case .integer(31)? = t["e"]?.value,
          case .float(350)? = t["f"]?.value, case .boolean(true)? = t["g"]?.value else { Issue.record("scalars"); return }
    guard case .array(let h)? = t["h"]?.value else { Issue.record("h"); return }
    #expect(h.count == 3)
    #expect(t["h"]?.line == 9)
    guard case .table(let i)? = t["i"]?.value, case .table(let y)? = i["y"]?.value, case .string("q")? = y["z"]?.value else { Issue.record("inline"); return }
    guard case .table(let s)? = t["s"]?.value, case .table(let st)? = s["t"]?.value, case .boolean(false)? = st["k"]?.value else { Issue.record("s.t"); return }
    #expect(st["k"]?.line == 13)
    guard case .array(let arr)? = t["arr"]?.value else { Issue.record("arr"); return }
    #expect(arr.count == 2)
}

@Test func tomlErrorsSayWhere() {
    let cases: [(String, Int, String)] = [
        ("a = 1\na = 2\n", 2, "duplicate key 'a' (first defined on line 1)"),
        ("a = \"open\n", 1, "unterminated string"),
        ("\n\nx = 12abc\n", 3, "not a valid number"),
        ("[t]\n[t]\n", 2, "defined twice"),
        ("d = 2026-11-27\n", 1, "dates and times are not supported"),
        ("x = \"\"\"multi\"\"\"\n", 1, "multi-line strings are not supported"),
        ("x = [1, 2\n", 2, "unterminated array"),
        ("x = yes\n", 1, "strings need quotes"),
        ("x = 1 y = 2\n", 1, "expected the end of the line"),
        ("x = 0123\n", 1, "leading zeros"),
        ("x = 99999999999999999999\n", 1, "does not fit"),
        ("x = \"\\q\"\n", 1, "invalid escape"),
        ("a = 1\na.b = 2\n", 2, "already defined as a value"),
        ("[a\n", 1, "expected ']'"),
        ("x = { a = 1 }\n[x]\n", 2, "already a value"),
    ]
    for (text, line, fragment) in cases {
        do {
            _ = try parseTOML(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.line == line, "\(text): \(error)")
            #expect(error.message.contains(fragment), "\(text): \(error)")
        }
    }
    // invalid UTF-8 on line 3: the file reader names the line
    let dir = tempDir()
    let bytes = Array("a = 1\nb = 2\nc = \"".utf8) + [0xFF, 0xFE] + Array("\"\n".utf8)
    try! writeFileAtomically(dir + "/bad.toml", bytes)
    do { _ = try ConfigStore.load(dir + "/bad.toml"); Issue.record("loaded") } catch {
        #expect(error.issues.map(\.line) == [3] && error.description.contains("not valid UTF-8"))
    }
}

/// Random damage to a valid file: the reader throws or parses, never crashes or hangs.
@Test func tomlSurvivesRandomDamage() throws {
    let good = Array(ConfigDocument.defaults.render().utf8)
    var rng = SplitMix64(seed: 7)
    var errors = 0
    for _ in 0..<3000 {
        var b = good
        for _ in 0..<(1 + Int(rng.next() % 8)) {
            let i = Int(rng.next() % UInt64(b.count))
            switch rng.next() % 3 {
            case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
            case 1: b.remove(at: i)
            default: b.insert(Array("[]\"'=#{},.\n\\".utf8)[Int(rng.next() % 12)], at: i)
            }
        }
        do { _ = try ConfigDocument.parse(String(decoding: b, as: UTF8.self), file: "f") } catch { errors += 1; #expect(!error.issues.isEmpty) }
    }
    #expect(errors > 1000)  // most damage is noticed
}

// MARK: schema

@Test func unknownKeysWrongTypesAndRangesNameFileLineKey() {
    let text = """
    [leds]
    chp = "gpiochip1"
    status = 5000
    [detecton]
    rate_hz = 2
    [console]
    baud = 1234
    tty = "dev/ttyS0"
    idle_logout_min = "thirty"
    [sync]
    url = "http://agency.example/"
    [[camera]]
    name = "a"
    fsp = 10
    """
    do {
        _ = try ConfigDocument.parse(text, file: "/etc/vigil/vigil.toml")
        Issue.record("accepted")
    } catch {
        let d = error.issues.map(\.description)
        #expect(d.contains("/etc/vigil/vigil.toml:2: leds.chp: unknown key (did you mean 'leds.chip'?)"))
        #expect(d.contains { $0.hasPrefix("/etc/vigil/vigil.toml:3: leds.status: 5000 is out of range") })
        #expect(d.contains("/etc/vigil/vigil.toml:4: detecton: unknown section (did you mean [detection]?)"))
        #expect(d.contains { $0.hasPrefix("/etc/vigil/vigil.toml:7: console.baud: 1234 is not allowed") })
        #expect(d.contains { $0.hasPrefix("/etc/vigil/vigil.toml:8: console.tty: 'dev/ttyS0' is not an absolute path") })
        #expect(d.contains { $0.hasPrefix("/etc/vigil/vigil.toml:9: console.idle_logout_min: expected an integer") })
        #expect(d.contains { $0.hasPrefix("/etc/vigil/vigil.toml:11: sync.url:") && $0.contains("plain http is refused") })
        #expect(d.contains("/etc/vigil/vigil.toml:14: camera.0.fsp: unknown key (did you mean 'fps'?)"))
        #expect(error.issues.count == 8)
    }
}

@Test func bodyWornDevicesCannotLightTheHitLED() {
    let text = "[device]\nkind = \"body-worn\"\n[leds]\nhit = 3\nhit_enabled = true\n"
    do {
        _ = try ConfigDocument.parse(text, file: "c.toml")
        Issue.record("accepted")
    } catch {
        #expect(error.issues.count == 1)
        #expect(error.issues[0].line == 5 && error.issues[0].key == "leds.hit_enabled")
        #expect(error.issues[0].message.contains("alert the person in front of the camera"))
    }
    // set stages it with a warning; a save refuses it
    var doc = try! ConfigDocument.parse("[device]\nkind = \"body-worn\"\n", file: "c.toml")
    let warnings = try! doc.set("leds.hit_enabled", text: "true")
    #expect(warnings.map(\.key).contains("leds.hit_enabled"))
    let dir = tempDir()
    #expect(throws: ConfigError.self) { try ConfigStore.save(doc, to: dir + "/c.toml") }
    #expect(access(dir + "/c.toml", F_OK) != 0)
}

@Test func ledLinesMustDiffer() {
    #expect(throws: ConfigError.self) { try ConfigDocument.parse("[leds]\nstatus = 4\nfault = 4\n", file: "c") }
}

@Test func everyBoardProfileLoadsAndRendersBack() throws {
    let names = BoardProfile.available(in: [profileDir])
    #expect(Set(["raspberry-pi-4", "raspberry-pi-5", "generic"]).isSubset(of: Set(names)))
    for name in names {
        let p = try BoardProfile.load(name, from: [profileDir])
        #expect(!p.description.isEmpty)
        #expect(p.document.string("board") == name)
        #expect(p.document.cameraCount >= 1)
        // the rendered file reads back to the same values
        let again = try ConfigDocument.parse(p.document.render(), file: "r")
        #expect(again.values == p.document.values, "\(name)")
    }
    let body = try BoardProfile.load("raspberry-pi-4-bodycam", from: [profileDir]).document
    #expect(body.ledWiring.hitEnabled == false && body.ledWiring.hit == nil)
    #expect(try BoardProfile.load("raspberry-pi-4", from: [profileDir]).document.ledWiring.hitEnabled == true)
    do { _ = try BoardProfile.load("raspbery-pi-4", from: [profileDir]); Issue.record("found") } catch {
        #expect(error.description.contains("did you mean 'raspberry-pi-4'"))
    }
}

@Test func setUnsetDiffAndCameras() throws {
    var doc = ConfigDocument.defaults
    let old = doc
    try doc.set("leds.status", text: "17")
    try doc.set("detection.rate_hz", text: "7.5")
    try doc.set("camera.0.device", text: "/dev/video10")   // adds camera 0 with defaults
    try doc.set("camera.1.fps", text: "10")
    #expect(doc.cameraCount == 2 && doc.cameras[1].fps == 10 && doc.cameras[0].name == "cam0")
    #expect(throws: ConfigError.self) { try doc.set("camera.5.fps", text: "10") }
    #expect(throws: ConfigError.self) { try doc.set("leds.status", text: "seventeen") }
    #expect(throws: ConfigError.self) { try doc.set("config_version", text: "9") }
    do { try doc.set("led.status", text: "1"); Issue.record("accepted") } catch {
        #expect(error.description.contains("did you mean 'leds.status'"))
    }
    let d = old.diff(to: doc).map(\.key)
    #expect(d.contains("leds.status") && d.contains("detection.rate_hz") && d.contains("camera.1.fps"))
    #expect(doc.restartNeeded(comparedTo: old).contains("leds.status"))
    #expect(!doc.restartNeeded(comparedTo: old).contains("detection.rate_hz"))
    try doc.unset("camera.0")
    #expect(doc.cameraCount == 1 && doc.cameras[0].fps == 10)
    try doc.unset("leds.status")
    #expect(doc.int("leds.status") == -1)
}

@Test func savesAreAtomicAndVersionedWithThePreviousKept() throws {
    let dir = tempDir()
    let path = dir + "/vigil.toml"
    var doc = try BoardProfile.load("generic", from: [profileDir]).document
    let v1 = try ConfigStore.save(doc, to: path)
    #expect(v1.version == 1)
    #expect(access(path + ".prev", F_OK) != 0)
    doc = try ConfigStore.load(path)
    try doc.set("leds.chip", text: "vigil-leds")
    let v2 = try ConfigStore.save(doc, to: path)
    #expect(v2.version == 2)
    #expect(try ConfigStore.load(path).string("leds.chip") == "vigil-leds")
    #expect(try ConfigStore.load(path + ".prev").string("leds.chip") == "gpiochip0")
    #expect(try ConfigStore.load(path + ".prev").version == 1)
    #expect(access(path + ".tmp", F_OK) != 0)
    var st = stat()
    stat(path, &st)
    #expect(st.st_mode & 0o777 == 0o640)
    // a save of a stale document still goes above the file's version
    _ = try ConfigStore.save(v1, to: path)
    #expect(try ConfigStore.load(path).version == 3)
    // unreadable file: one issue naming it
    do { _ = try ConfigStore.load(dir + "/missing.toml"); Issue.record("loaded") } catch {
        #expect(error.issues.count == 1 && error.issues[0].file == dir + "/missing.toml")
    }
}

@Test func dailyWindows() {
    let w = DailyWindow("22:30-04:00")!
    #expect(w.contains(minuteOfDay: 23 * 60) && w.contains(minuteOfDay: 60) && !w.contains(minuteOfDay: 12 * 60))
    #expect(DailyWindow("01:00-05:00")!.contains(minuteOfDay: 4 * 60 + 59))
    #expect(DailyWindow("25:00-01:00") == nil && DailyWindow("1:00-2:00") == nil && DailyWindow("01:00-01:00") == nil)
}
