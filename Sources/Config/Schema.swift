// The schema of Vigil's configuration file: every key, its type, range, default and meaning.
//
// One table drives everything: parsing and validation, `config show`, the console's
// `config set`/`diff`, the commented file `config init` writes, and the README's key list. A key
// that is not in this table is an error ("did you mean …"), never silently ignored: a typo in
// `threshold` must not leave a device matching at a value nobody chose.

import VigilCore

/// A configuration value. Paths, URLs, choices and windows are strings with extra checks.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)

    /// As written in TOML.
    public var toml: String {
        switch self {
        case .string(let s): return tomlQuote(s)
        case .int(let v): return String(v)
        case .double(let v):
            var s = String(v)
            if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += ".0" }
            return s
        case .bool(let b): return b ? "true" : "false"
        }
    }
    /// As shown on the console (strings unquoted).
    public var description: String {
        if case .string(let s) = self { return s }
        return toml
    }
}

/// One key of the schema.
public struct Setting: Sendable {
    public enum Kind: Sendable, Equatable {
        case string
        /// Text sealed into every hit record (a camera's name, the device id): printable ASCII,
        /// at most `SealedText.maxBytes` — the record's own rule (VigilCore/TextRules.swift), so a
        /// name the configuration accepts never makes a hit fail to seal.
        case recordText
        /// An absolute path.
        case path
        /// An `https://` URL (sync and upload never go over plain HTTP).
        case httpsURL
        case int(ClosedRange<Int64>)
        /// One of the listed integers (serial baud rates).
        case intChoice([Int64])
        case double(ClosedRange<Double>)
        case bool
        case choice([String])
        /// A daily time window `HH:MM-HH:MM` (local time; may wrap past midnight).
        case window
        /// A GPIO line offset, or -1 for "not wired".
        case gpioLine
    }
    public let key: String
    public let kind: Kind
    /// nil: optional, absent unless set.
    public let defaultValue: ConfigValue?
    public let doc: String
    /// Applied by a running agent without a restart (`config commit` says which changes need one).
    public let live: Bool
    /// Never shown or logged in clear (the audit log records "***").
    public let secret: Bool
    /// Changed only by root on the device (`vigil config set`), never over the serial console:
    /// see `ConfigSchema.consoleMayChange`.
    public let rootOnly: Bool
    /// How the key bears on recall (nil: it does not): a value on the lowering side of the
    /// default is named in health and in `vigil report` (`ConfigDocument.recallLowered`).
    public let recall: Recall?

    /// How a key bears on recall: whether a face in front of a camera is compared with the list
    /// and can become a hit at all.
    public enum Recall: Sendable, Equatable {
        /// Values above the default let fewer faces through (a larger minimum face, a longer cooldown).
        case lowerAbove
        /// Values below the default do (a smaller outbox refuses new hits sooner).
        case lowerBelow
        /// An optional key that can only make matching stricter (the configured threshold only
        /// ever raises the list's signed floor): any value set counts.
        case lowerWhenSet
    }

    public init(_ key: String, _ kind: Kind, _ defaultValue: ConfigValue?, live: Bool = false, secret: Bool = false,
                root: Bool = false, recall: Recall? = nil, _ doc: String) {
        self.key = key; self.kind = kind; self.defaultValue = defaultValue; self.doc = doc
        self.live = live; self.secret = secret; self.rootOnly = root; self.recall = recall
    }

    /// The section (`leds` for `leds.chip`; `camera` for camera keys).
    public var section: String { String(key.split(separator: ".").first ?? "") }
    public var name: String { String(key.split(separator: ".").last ?? "") }

    /// Human description of the allowed values.
    public var allowed: String {
        switch kind {
        case .string: return "a string"
        case .recordText: return "printable ASCII, 1 to \(SealedText.maxBytes) characters (sealed into hit records)"
        case .path: return "an absolute path"
        case .httpsURL: return "an https:// URL"
        case .int(let r): return "an integer from \(r.lowerBound) to \(r.upperBound)"
        case .intChoice(let c): return "one of " + c.map(String.init).joined(separator: ", ")
        case .double(let r): return "a number from \(r.lowerBound) to \(r.upperBound)"
        case .bool: return "true or false"
        case .choice(let c): return "one of " + c.map { "\"\($0)\"" }.joined(separator: ", ")
        case .window: return "a daily window \"HH:MM-HH:MM\""
        case .gpioLine: return "a GPIO line offset from 0 to 1023, or -1 (not wired)"
        }
    }

    /// Who may change the key and what it does to recall, for the file `config init` writes
    /// (empty for most keys).
    public var remarks: String {
        var r: [String] = []
        if rootOnly { r.append("root only: not over the console") }
        let d = defaultValue?.description ?? ""
        switch recall {
        case .lowerAbove?: r.append("above \(d) lowers recall: health and `vigil report` say so")
        case .lowerBelow?: r.append("below \(d) lowers recall: health and `vigil report` say so")
        case .lowerWhenSet?: r.append("when set, lowers recall: health and `vigil report` say so")
        case nil: break
        }
        return r.isEmpty ? "" : " " + r.map { $0 + "." }.joined(separator: " ").capitalizedFirst
    }
}

public enum ConfigSchema {
    /// The highest number of `[[camera]]` entries (a Raspberry Pi handles two at detector rate).
    public static let maxCameras = 4

    /// Keys outside `[[camera]]`, in the order the file lists them.
    public static let settings: [Setting] = [
        Setting("config_version", .int(0...Int64(Int32.max)), .int(0),
                "Managed by Vigil: +1 on every save; the previous file is kept as FILE.prev."),
        Setting("board", .string, .string("generic"), "The board profile this file started from (board/profiles/NAME.toml)."),

        Setting("device.id", .recordText, .string("vigil-device"), "This device's name in hit records, logs and the console."),
        Setting("device.kind", .choice(["fixed", "body-worn"]), .string("fixed"), root: true,
                "body-worn forbids the hit LED: it would alert the person in front of the camera."),
        Setting("device.data_dir", .path, .string("/var/lib/vigil"), root: true,
                "Watchlist store, outbox and state; must be on persistent storage."),

        Setting("models.detector", .path, .string("/usr/share/vigil/models/blazeface_full_int8.onnx"), root: true, "int8 face detector (ONNX)."),
        Setting("models.embedder", .path, .string("/usr/share/vigil/models/dlib_resnet_int8.onnx"), root: true,
                "int8 face embedder (ONNX); must be the one the watchlist was enrolled with."),
        Setting("models.landmarks", .path, nil, root: true,
                "dlib 5-point landmark model the chips are cut from (unset: shape_predictor_5.dat beside models.embedder when present, else the detector's eye keypoints). Part of the embedder identity a list is enrolled under."),

        Setting("detection.rate_hz", .double(1...30), .double(5), live: true,
                "Frames per second given to the detector, per camera (at least one: a face in view for a second is analysed)."),
        Setting("detection.threads", .int(1...8), .int(1), "Inference threads (a Raspberry Pi 4 has 4 cores; leave some for capture)."),
        Setting("detection.min_face_px", .int(16...256), .int(40), live: true, recall: .lowerAbove,
                "Smaller faces are not compared (too little detail to be fair). At most half the smallest camera's height (a larger face does not fit the frame)."),
        Setting("detection.tiles_per_frame", .int(0...64), .int(5),
                "Tiles searched per frame for small faces, in turn (0: all tiles every frame; a 1280x720 frame has 15)."),

        Setting("matching.threshold", .double(0...0.97), nil, live: true, root: true, recall: .lowerWhenSet,
                "Optional: raises the watchlist's signed threshold floor. A value below the floor is never used (the floor applies); above 0.97 almost nobody on the list would match."),
        Setting("matching.min_quality", .double(0...0.8), .double(0.5), live: true, recall: .lowerAbove,
                "Faces under this detector score are not compared (at most 0.8: higher would pass almost no face)."),

        Setting("policy.hit_cooldown_s", .int(10...3600), .int(300), live: true, recall: .lowerAbove,
                "One hit per entry per track, and no repeat for the same entry within this time (at most an hour)."),

        Setting("sync.url", .httpsURL, nil, root: true, "Agency watchlist server (manifest and bundles). Unset: no sync."),
        Setting("sync.ca", .path, nil, root: true, "CA certificate the sync server must chain to (pinned)."),
        Setting("sync.client_cert", .path, nil, root: true, "This device's TLS client certificate."),
        Setting("sync.client_key", .path, nil, root: true, "This device's TLS client key (file mode 0600)."),
        Setting("sync.window", .window, .string("01:00-05:00"), live: true, root: true, "Daily window for the automatic sync (body-cams: while docked)."),
        Setting("sync.max_kbps", .int(0...10_000_000), .int(0), live: true, root: true, "Download bandwidth cap in kbit/s; 0 = none."),

        Setting("upload.url", .httpsURL, nil, root: true, "Agency hit server (sealed records are PUT here). Unset: hits wait in the outbox."),
        Setting("upload.ca", .path, nil, root: true, "CA certificate the hit server must chain to (pinned)."),
        Setting("upload.client_cert", .path, nil, root: true, "This device's TLS client certificate."),
        Setting("upload.client_key", .path, nil, root: true, "This device's TLS client key (file mode 0600)."),

        Setting("keys.authority_public", .path, .string("/etc/vigil/keys/authority.pub"), root: true, "Watchlist authority's Ed25519 public key."),
        Setting("keys.agency_public", .path, .string("/etc/vigil/keys/agency.pub"), root: true, "Agency's X25519 public key: hit records are sealed to it."),
        Setting("keys.device_signing", .path, .string("/var/lib/vigil/keys/device.key"), root: true, "This device's Ed25519 signing key (0600)."),

        Setting("leds.chip", .string, .string("gpiochip0"), "gpiochip name, path or label (libgpiod lookup)."),
        Setting("leds.status", .gpioLine, .int(-1), "Line of the status LED (health: heartbeat = ok, blink = degraded)."),
        Setting("leds.fault", .gpioLine, .int(-1), "Line of the fault LED (on = fault)."),
        Setting("leds.hit", .gpioLine, .int(-1), "Line of the hit LED (alert-mode lists only)."),
        Setting("leds.active_low", .bool, .bool(false), "LEDs wired to light when the line is low."),
        Setting("leds.hit_enabled", .bool, .bool(false), live: true,
                "Light the hit LED on a hit (alert-mode lists only; never on body-worn devices)."),
        Setting("leds.panel", .bool, .bool(false), "Also draw the LEDs in the terminal (demo)."),

        Setting("console.tty", .path, nil, root: true, "Serial console device (e.g. /dev/ttyAMA0, USB gadget /dev/ttyGS0); unset: no console."),
        Setting("console.baud", .intChoice([9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600]), .int(115_200), "Serial speed (8N1)."),
        Setting("console.pin_file", .path, .string("/var/lib/vigil/console.pin"), root: true, "Technician PIN hash (scrypt, 0600; `vigil console set-pin`)."),
        Setting("console.idle_logout_min", .int(1...240), .int(30), live: true, "Log out after this many idle minutes."),
        Setting("console.lockout_failures", .int(3...20), .int(5), live: true, root: true, "Failed logins before the lockout."),
        Setting("console.lockout_min", .int(1...1440), .int(10), live: true, root: true, "Lockout length in minutes."),

        Setting("storage.outbox_max_mb", .int(16...4096), .int(64), live: true, root: true, recall: .lowerBelow,
                "Outbox cap: new hits are refused (and counted) beyond it, never old ones dropped (at least 16 MiB: hundreds of records while the server is away)."),
        Setting("storage.audit_dir", .path, .string("/var/lib/vigil/audit"), root: true, "Audit log directory (hash-chained JSON lines)."),
        Setting("storage.audit_file_kb", .int(16...65_536), .int(1024), root: true, "Audit file size before rotation."),
        Setting("storage.audit_keep_files", .int(1...10_000), .int(64), root: true, "Rotated audit files kept."),
    ]

    /// Keys of one `[[camera]]` entry.
    public static let cameraSettings: [Setting] = [
        Setting("camera.name", .recordText, nil, "Short name (hit records and the console say which camera)."),
        Setting("camera.device", .path, .string("/dev/video0"), "V4L2 device; prefer the stable /dev/vigil/camN names from udev."),
        Setting("camera.format", .choice(["auto", "mjpeg", "yuyv"]), .string("auto"), "Pixel format (auto: MJPEG when offered)."),
        Setting("camera.width", .int(160...4096), .int(1280), "Capture width."),
        Setting("camera.height", .int(120...2160), .int(720), "Capture height."),
        Setting("camera.fps", .int(1...60), .int(15), "Capture frame rate."),
    ]

    static let byKey: [String: Setting] = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0) })
    static let cameraByName: [String: Setting] = Dictionary(uniqueKeysWithValues: cameraSettings.map { ($0.name, $0) })

    /// Whether the serial console may change `key`: not when the table marks it `root`. Those are
    /// where hits and lists travel and whom the device trusts (sync, upload, keys), where its
    /// records live and how long the audit is kept (data and audit directories, audit rotation,
    /// the PIN file), which models it runs, the device kind (a body-worn device must never light
    /// a hit LED), the console's own lockout (a PIN holder must not weaken the guessing limit for
    /// whoever tries next), and whether it matches at all where a bound cannot keep that safe
    /// (the configured threshold raises the signed floor; the outbox cap decides when new hits
    /// are refused). The other keys that decide whether faces are matched are open to the
    /// console only inside ranges that cannot switch matching off, and a value that lowers
    /// recall shows in health and `vigil report` (`ConfigDocument.recallLowered`).
    /// A PIN on a pole is a weaker credential than root on the device: a console user who could
    /// point `upload.url` and `upload.ca` elsewhere would send the agency's hits to a server of
    /// their choosing (and the outbox deletes what a server acknowledges). Root-only keys change
    /// only with `vigil config set` as root (provisioning), and a console `config revert
    /// previous` that would touch them is refused as well. An unknown key is not refused here:
    /// `set` names it as unknown.
    public static func consoleMayChange(_ key: String) -> Bool { setting(for: key)?.rootOnly != true }

    /// The schema entry for a flat key (`leds.chip`, `camera.1.fps`).
    public static func setting(for key: String) -> Setting? {
        if let s = byKey[key] { return s }
        let parts = key.split(separator: ".")
        if parts.count == 3, parts[0] == "camera", Int(parts[1]) != nil { return cameraByName[String(parts[2])] }
        return nil
    }

    /// The closest known key, for "did you mean" (edit distance ≤ 3, or a unique suffix match).
    public static func suggestion(for key: String, among candidates: [String]? = nil) -> String? {
        let pool = candidates ?? settings.map(\.key)
        var best: (String, Int)?
        for c in pool {
            let d = editDistance(key, c)
            if d <= max(2, min(3, c.count / 3)) && d < (best?.1 ?? .max) { best = (c, d) }
        }
        if let best { return best.0 }
        let tail = key.split(separator: ".").last.map(String.init) ?? key
        let bySuffix = pool.filter { $0.hasSuffix("." + tail) }
        return bySuffix.count == 1 ? bySuffix[0] : nil
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

/// Levenshtein distance (keys are short; O(n·m) is fine).
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8), y = Array(b.utf8)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count)
    var cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        cur[0] = i
        for j in 1...y.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[y.count]
}
