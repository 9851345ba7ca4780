// A configuration as a flat map of schema keys to values, read from and written to TOML.
//
// Flat keys (`leds.chip`, `camera.0.fps`) are what a technician types on the console and what
// the audit log records, so the document is kept in that form; the TOML tree exists only while
// reading.

import VigilCore

/// One problem in a configuration file: the file, the line (0 when not tied to one), the key.
public struct ConfigIssue: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var key: String
    public var message: String
    public init(file: String, line: Int, key: String, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }
    public var description: String {
        var s = file
        if line > 0 { s += ":\(line)" }
        if !key.isEmpty { s += ": \(key)" }
        return s + ": " + message
    }
}

/// Every problem found (reading continues past the first one so a technician fixes them in one go).
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public init(_ issues: [ConfigIssue]) { self.issues = issues }
    public init(file: String, line: Int = 0, key: String = "", _ message: String) {
        issues = [ConfigIssue(file: file, line: line, key: key, message: message)]
    }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

public struct ConfigDocument: Equatable, Sendable {
    /// Set values by flat key. Keys with a default are always present after `resolved()`.
    public internal(set) var values: [String: ConfigValue] = [:]
    public private(set) var cameraCount = 0
    /// Where each key was read from (for errors found after parsing).
    public var lines: [String: Int] = [:]
    public var file = "config"

    public init() {}

    /// The schema defaults, no cameras.
    public static var defaults: ConfigDocument {
        var d = ConfigDocument()
        for s in ConfigSchema.settings { if let v = s.defaultValue { d.values[s.key] = v } }
        return d
    }

    public subscript(key: String) -> ConfigValue? { values[key] }

    public var version: Int64 { int("config_version") ?? 0 }

    public func string(_ key: String) -> String? {
        if case .string(let s)? = values[key] { return s }
        return nil
    }
    public func int(_ key: String) -> Int64? {
        if case .int(let v)? = values[key] { return v }
        return nil
    }
    public func double(_ key: String) -> Double? {
        switch values[key] {
        case .double(let v)?: return v
        case .int(let v)?: return Double(v)
        default: return nil
        }
    }
    public func bool(_ key: String) -> Bool? {
        if case .bool(let v)? = values[key] { return v }
        return nil
    }

    /// Keys in schema order, cameras last (each camera's keys in schema order).
    public var orderedKeys: [String] {
        var keys = ConfigSchema.settings.map(\.key).filter { values[$0] != nil }
        for c in 0..<cameraCount {
            for s in ConfigSchema.cameraSettings {
                let k = "camera.\(c).\(s.name)"
                if values[k] != nil { keys.append(k) }
            }
        }
        return keys
    }

    // MARK: reading

    /// Reads TOML text: unknown keys, wrong types and out-of-range values are errors naming the
    /// line and key. Keys not in the file keep their defaults (`base`, normally the schema defaults
    /// or a board profile).
    public static func parse(_ text: String, file: String, base: ConfigDocument = .defaults, partial: Bool = false) throws(ConfigError) -> ConfigDocument {
        let root: TOMLTable
        do { root = try parseTOML(text) } catch {
            throw ConfigError([ConfigIssue(file: file, line: error.line, key: "", message: error.message + " (column \(error.column))")])
        }
        var doc = base
        doc.file = file
        var issues: [ConfigIssue] = []

        func visit(_ table: TOMLTable, prefix: String) {
            for key in table.keys {
                guard let node = table[key] else { continue }
                let full = prefix.isEmpty ? key : prefix + "." + key
                if prefix.isEmpty && key == "camera" {
                    guard case .array(let items) = node.value, items.allSatisfy({ if case .table = $0.value { return true }; return false }) else {
                        issues.append(ConfigIssue(file: file, line: node.line, key: "camera", message: "must be a list of [[camera]] tables"))
                        continue
                    }
                    if items.count > ConfigSchema.maxCameras {
                        issues.append(ConfigIssue(file: file, line: items[ConfigSchema.maxCameras].line, key: "camera",
                                                  message: "at most \(ConfigSchema.maxCameras) cameras"))
                    }
                    doc.removeCameras()
                    for (n, item) in items.prefix(ConfigSchema.maxCameras).enumerated() {
                        guard case .table(let t) = item.value else { continue }
                        doc.addCameraDefaults()
                        for ck in t.keys {
                            guard let cn = t[ck] else { continue }
                            let flat = "camera.\(n).\(ck)"
                            guard let s = ConfigSchema.cameraByName[ck] else {
                                let hint = ConfigSchema.suggestion(for: "camera." + ck, among: ConfigSchema.cameraSettings.map(\.key))
                                issues.append(ConfigIssue(file: file, line: cn.line, key: flat,
                                                          message: "unknown key" + (hint.map { " (did you mean '\($0.split(separator: ".").last!)'?)" } ?? "")))
                                continue
                            }
                            switch convert(cn, s) {
                            case .success(let v): doc.values[flat] = v; doc.lines[flat] = cn.line
                            case .failure(let m): issues.append(ConfigIssue(file: file, line: cn.line, key: flat, message: m.text))
                            }
                        }
                        if doc.values["camera.\(n).name"] == nil {
                            issues.append(ConfigIssue(file: file, line: t.line, key: "camera.\(n).name", message: "every [[camera]] needs a name"))
                        }
                    }
                    continue
                }
                if case .table(let sub) = node.value, ConfigSchema.byKey[full] == nil {
                    if ConfigSchema.settings.contains(where: { $0.key.hasPrefix(full + ".") }) {
                        visit(sub, prefix: full)
                    } else {
                        let hint = ConfigSchema.suggestion(for: full, among: Array(Set(ConfigSchema.settings.compactMap { $0.key.contains(".") ? $0.section : nil })) + ["camera"])
                        issues.append(ConfigIssue(file: file, line: node.line, key: full,
                                                  message: "unknown section" + (hint.map { " (did you mean [\($0)]?)" } ?? "")))
                    }
                    continue
                }
                guard let s = ConfigSchema.byKey[full] else {
                    let hint = ConfigSchema.suggestion(for: full)
                    issues.append(ConfigIssue(file: file, line: node.line, key: full,
                                              message: "unknown key" + (hint.map { " (did you mean '\($0)'?)" } ?? "")))
                    continue
                }
                switch convert(node, s) {
                case .success(let v): doc.values[full] = v; doc.lines[full] = node.line
                case .failure(let m): issues.append(ConfigIssue(file: file, line: node.line, key: full, message: m.text))
                }
            }
        }
        visit(root, prefix: "")
        if issues.isEmpty && !partial { issues = doc.crossCheck() }
        if !issues.isEmpty { throw ConfigError(issues) }
        return doc
    }

    mutating func removeCameras() {
        for k in values.keys where k.hasPrefix("camera.") { values[k] = nil; lines[k] = nil }
        cameraCount = 0
    }

    mutating func addCameraDefaults() {
        let n = cameraCount
        for s in ConfigSchema.cameraSettings { if let v = s.defaultValue { values["camera.\(n).\(s.name)"] = v } }
        cameraCount += 1
    }

    /// A TOML node as a value of the setting's kind, or why not.
    static func convert(_ node: TOMLNode, _ s: Setting) -> Result<ConfigValue, ConfigIssueMessage> {
        switch (s.kind, node.value) {
        case (.bool, .boolean(let b)): return .success(.bool(b))
        case (.int, .integer(let v)), (.gpioLine, .integer(let v)), (.intChoice, .integer(let v)):
            return check(.int(v), s)
        case (.double, .integer(let v)): return check(.double(Double(v)), s)
        case (.double, .float(let v)): return check(.double(v), s)
        case (.string, .string(let v)), (.recordText, .string(let v)), (.path, .string(let v)), (.httpsURL, .string(let v)),
             (.choice, .string(let v)), (.window, .string(let v)):
            return check(.string(v), s)
        default:
            return .failure(ConfigIssueMessage("expected \(s.allowed), found \(node.typeName)"))
        }
    }

    /// Range and format checks of one value.
    static func check(_ v: ConfigValue, _ s: Setting) -> Result<ConfigValue, ConfigIssueMessage> {
        func bad(_ m: String) -> Result<ConfigValue, ConfigIssueMessage> { .failure(ConfigIssueMessage(m)) }
        switch (s.kind, v) {
        case (.int(let r), .int(let x)):
            return r.contains(x) ? .success(v) : bad("\(x) is out of range: expected \(s.allowed)")
        case (.gpioLine, .int(let x)):
            return (-1...1023).contains(x) ? .success(v) : bad("\(x) is out of range: expected \(s.allowed)")
        case (.intChoice(let c), .int(let x)):
            return c.contains(x) ? .success(v) : bad("\(x) is not allowed: expected \(s.allowed)")
        case (.double(let r), .double(let x)):
            return x.isFinite && r.contains(x) ? .success(v) : bad("\(x) is out of range: expected \(s.allowed)")
        case (.bool, .bool): return .success(v)
        case (.string, .string(let x)):
            if x.isEmpty { return bad("must not be empty") }
            if x.unicodeScalars.contains(where: isControl) { return bad("control characters are not allowed") }
            if x.utf8.count > 256 { return bad("longer than 256 bytes") }
            return .success(v)
        case (.recordText, .string(let x)):
            if x.isEmpty { return bad("must not be empty") }
            if let why = SealedText.problem(x) { return bad(why) }
            return .success(v)
        case (.path, .string(let x)):
            if !x.hasPrefix("/") { return bad("'\(x)' is not an absolute path") }
            if x.utf8.count > 1024 || x.unicodeScalars.contains(where: isControl) { return bad("not a usable path") }
            return .success(v)
        case (.httpsURL, .string(let x)):
            guard x.hasPrefix("https://"), x.count > 8, !x.contains(" "),
                  !x.unicodeScalars.contains(where: isControl) else {
                return bad("'\(x)' is not an https:// URL (plain http is refused)")
            }
            return .success(v)
        case (.choice(let c), .string(let x)):
            return c.contains(x) ? .success(v) : bad("'\(x)' is not allowed: expected \(s.allowed)")
        case (.window, .string(let x)):
            return DailyWindow(x) != nil ? .success(v) : bad("'\(x)' is not a daily window \"HH:MM-HH:MM\"")
        default:
            return bad("expected \(s.allowed)")
        }
    }

    /// Rules across keys.
    public func crossCheck() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func issue(_ key: String, _ m: String) { issues.append(ConfigIssue(file: file, line: lines[key] ?? 0, key: key, message: m)) }
        if string("device.kind") == "body-worn" && bool("leds.hit_enabled") == true {
            issue("leds.hit_enabled", "the hit LED is not allowed on a body-worn device: it would alert the person in front of the camera")
        }
        var used: [Int64: String] = [:]
        for role in ["leds.status", "leds.fault", "leds.hit"] {
            guard let l = int(role), l >= 0 else { continue }
            if let other = used[l] { issue(role, "line \(l) is already used by \(other)") } else { used[l] = role }
        }
        if bool("leds.hit_enabled") == true && (int("leds.hit") ?? -1) < 0 {
            issue("leds.hit_enabled", "the hit LED is enabled but leds.hit names no line")
        }
        var names: [String: Int] = [:]
        var devices: [String: Int] = [:]
        for c in 0..<cameraCount {
            if let n = string("camera.\(c).name") {
                if let o = names[n] { issue("camera.\(c).name", "'\(n)' is also the name of camera \(o)") } else { names[n] = c }
            }
            if let d = string("camera.\(c).device") {
                if let o = devices[d] { issue("camera.\(c).device", "'\(d)' is also used by camera \(o)") } else { devices[d] = c }
            }
        }
        for (group, keys) in [("sync", ["sync.ca"]), ("upload", ["upload.ca"])] where values[group + ".url"] != nil {
            for k in keys where values[k] == nil { issue(k, "required when \(group).url is set (the server's CA is pinned)") }
        }
        for group in ["sync", "upload"] where (values[group + ".client_cert"] == nil) != (values[group + ".client_key"] == nil) {
            issue(group + ".client_key", "\(group).client_cert and \(group).client_key go together")
        }
        // A face is at most as tall as the frame, and the detector needs some margin around it:
        // a minimum above half a camera's height leaves that camera nothing to compare.
        if let px = int("detection.min_face_px"),
           let (c, h) = (0..<cameraCount).compactMap({ c in int("camera.\(c).height").map { (c, $0) } }).min(by: { $0.1 < $1.1 }), px > h / 2 {
            issue("detection.min_face_px", "\(px) px is more than half the height of camera \(c) (\(h) px): no face it can show would be compared")
        }
        return issues
    }

    // MARK: editing

    /// Sets one key from console text (`true`, `15`, `/dev/video1`, `"quoted string"`).
    /// `camera.N.key` with N = the camera count adds a camera. The value is checked (type, range,
    /// format) and refused with the document unchanged; the rules *across* keys are returned as
    /// warnings instead, because fixing them can take several sets (a client certificate and its
    /// key) — a save refuses a document that still breaks them.
    @discardableResult
    public mutating func set(_ key: String, text: String) throws(ConfigError) -> [ConfigIssue] {
        guard let s = ConfigSchema.setting(for: key) else {
            let pool = ConfigSchema.settings.map(\.key) + (0..<max(cameraCount, 1)).flatMap { c in ConfigSchema.cameraSettings.map { "camera.\(c).\($0.name)" } }
            let hint = ConfigSchema.suggestion(for: key, among: pool)
            throw ConfigError(file: file, key: key, "unknown key" + (hint.map { " (did you mean '\($0)'?)" } ?? ""))
        }
        if key == "config_version" { throw ConfigError(file: file, key: key, "managed by Vigil (incremented on every save)") }
        var raw = text
        if raw.count >= 2, raw.first == "\"", raw.last == "\"" { raw = String(raw.dropFirst().dropLast()) }
        let value: ConfigValue
        switch s.kind {
        case .bool:
            guard let b = ["true": true, "false": false, "on": true, "off": false, "yes": true, "no": false][raw.lowercased()] else {
                throw ConfigError(file: file, key: key, "'\(text)': expected true or false")
            }
            value = .bool(b)
        case .int, .gpioLine, .intChoice:
            guard let v = Int64(raw.filter { $0 != "_" }) else { throw ConfigError(file: file, key: key, "'\(text)': expected \(s.allowed)") }
            value = .int(v)
        case .double:
            guard let v = Double(raw), v.isFinite else { throw ConfigError(file: file, key: key, "'\(text)': expected \(s.allowed)") }
            value = .double(v)
        default:
            value = .string(raw)
        }
        var copy = self
        if key.hasPrefix("camera.") {
            let n = Int(key.split(separator: ".")[1])!
            if n > cameraCount || n >= ConfigSchema.maxCameras {
                throw ConfigError(file: file, key: key, n >= ConfigSchema.maxCameras ? "at most \(ConfigSchema.maxCameras) cameras" : "no camera \(n): the next new camera is camera.\(cameraCount)")
            }
            if n == cameraCount {
                copy.addCameraDefaults()
                copy.values["camera.\(n).name"] = .string("cam\(n)")
            }
        }
        switch Self.check(value, s) {
        case .success(let v): copy.values[key] = v
        case .failure(let m): throw ConfigError(file: file, key: key, m.text)
        }
        copy.lines[key] = nil
        self = copy
        return crossCheck()
    }

    /// Removes an optional key (or a whole camera: `camera.N`), restoring a default where there is
    /// one. Rules across keys come back as warnings, as for `set`.
    @discardableResult
    public mutating func unset(_ key: String) throws(ConfigError) -> [ConfigIssue] {
        var copy = self
        let parts = key.split(separator: ".")
        if parts.count == 2, parts[0] == "camera", let n = Int(parts[1]), n < cameraCount {
            var cams: [[String: ConfigValue]] = []
            for c in 0..<cameraCount where c != n {
                var m: [String: ConfigValue] = [:]
                for s in ConfigSchema.cameraSettings { m[s.name] = values["camera.\(c).\(s.name)"] }
                cams.append(m)
            }
            copy.removeCameras()
            for m in cams {
                let i = copy.cameraCount
                copy.cameraCount += 1
                for (k, v) in m { copy.values["camera.\(i).\(k)"] = v }
            }
        } else {
            guard let s = ConfigSchema.setting(for: key), !key.hasPrefix("camera.") else {
                throw ConfigError(file: file, key: key, "unknown key (or a camera key: unset the whole camera.N)")
            }
            if key == "config_version" { throw ConfigError(file: file, key: key, "managed by Vigil") }
            copy.values[key] = s.defaultValue
        }
        self = copy
        return crossCheck()
    }

    /// What differs, key by key, in display order: (key, old, new).
    public func diff(to other: ConfigDocument) -> [(key: String, old: ConfigValue?, new: ConfigValue?)] {
        var keys = orderedKeys
        for k in other.orderedKeys where !keys.contains(k) { keys.append(k) }
        return keys.compactMap { k in
            k == "config_version" || values[k] == other.values[k] ? nil : (k, values[k], other.values[k])
        }
    }

    // MARK: writing

    /// The whole configuration as commented TOML, every key in schema order (unset optional keys
    /// as comments), so the file documents itself.
    public func render(header: String? = nil) -> String {
        var out = "# Vigil configuration. Check with `vigil config check FILE`; keys are documented in\n"
        out += "# README.md (field technician's page). Unknown keys are errors.\n"
        if let header { out += "# " + header + "\n" }
        out += "\n"
        var section = ""
        for s in ConfigSchema.settings {
            let parts = s.key.split(separator: ".")
            let sec = parts.count > 1 ? String(parts[0]) : ""
            if sec != section {
                out += "\n[\(sec)]\n"
                section = sec
            }
            out += "# " + s.doc + " (" + s.allowed + ")" + s.remarks + "\n"
            let name = parts.count > 1 ? String(parts[1]) : s.key
            if let v = values[s.key] { out += "\(name) = \(v.toml)\n" } else { out += "# \(name) =\n" }
        }
        for c in 0..<cameraCount {
            out += "\n[[camera]]\n"
            for s in ConfigSchema.cameraSettings {
                if let v = values["camera.\(c).\(s.name)"] { out += "\(s.name) = \(v.toml)  # \(s.doc)\n" }
            }
        }
        return out
    }
}

/// C0 and C1 control characters and DEL: a terminal acts on them, a log line breaks on them.
func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) }

/// A validation message (a type so Result can carry it).
public struct ConfigIssueMessage: Error, Equatable, Sendable {
    public var text: String
    public init(_ text: String) { self.text = text }
}

/// A daily `HH:MM-HH:MM` window; it may wrap past midnight (`22:00-04:00`).
public struct DailyWindow: Equatable, Sendable, CustomStringConvertible {
    public var startMinute: Int
    public var endMinute: Int
    public init?(_ text: String) {
        let halves = text.split(separator: "-", omittingEmptySubsequences: false)
        guard halves.count == 2, let a = Self.minute(halves[0]), let b = Self.minute(halves[1]), a != b else { return nil }
        startMinute = a; endMinute = b
    }
    static func minute(_ s: Substring) -> Int? {
        let p = s.split(separator: ":", omittingEmptySubsequences: false)
        guard p.count == 2, p[0].count == 2, p[1].count == 2, let h = Int(p[0]), let m = Int(p[1]),
              (0...23).contains(h), (0...59).contains(m) else { return nil }
        return h * 60 + m
    }
    /// Is minute-of-day `m` inside the window?
    public func contains(minuteOfDay m: Int) -> Bool {
        startMinute < endMinute ? (m >= startMinute && m < endMinute) : (m >= startMinute || m < endMinute)
    }
    public var description: String {
        func f(_ m: Int) -> String { let h = m / 60, mm = m % 60; return (h < 10 ? "0" : "") + "\(h):" + (mm < 10 ? "0" : "") + "\(mm)" }
        return f(startMinute) + "-" + f(endMinute)
    }
}
