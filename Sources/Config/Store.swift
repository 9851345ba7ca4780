// Loading and saving the configuration file, and board profiles.
//
// Saves are atomic (temp file + fsync + rename + directory fsync, VigilCore.writeFileAtomically)
// and versioned: `config_version` goes up by one and the file being replaced is kept as
// `FILE.prev`, so `config revert previous` (console) or a technician with a shell can go back
// one step after a bad commit, and a power cut at any moment leaves a whole file.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilCore

public enum ConfigStore {
    /// Reads and validates a configuration file. A file that cannot be read is one issue naming it.
    public static func load(_ path: String, base: ConfigDocument = .defaults) throws(ConfigError) -> ConfigDocument {
        // The mode first (issue 16): whoever can rewrite the configuration decides whether the
        // device matches, where hits go and which keys it trusts. Group- or world-writable is
        // refused, as for the trust anchors (Watchlist/Keys.swift); a link is followed (an admin's
        // choice in /etc) and its target checked.
        var st = stat()
        if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_mode & 0o022 != 0 {
            throw ConfigError(file: path, "permissions \(String(st.st_mode & 0o777, radix: 8)) let others rewrite the configuration; it must not be group- or world-writable (chmod 640)")
        }
        // Bounded before reading: a 1 MiB configuration limit checked after reading /dev/zero
        // is no limit (issue 16); a FIFO or device is refused without blocking.
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.config) } catch {
            if error.errno == .fileTooLarge { throw ConfigError(file: path, "larger than 1 MiB: not a configuration file") }
            throw ConfigError(file: path, "cannot \(error.operation): \(error.errno)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            var line = 1
            for l in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
                if String(validating: l, as: UTF8.self) == nil { break }
                line += 1
            }
            throw ConfigError(file: path, line: line, "not valid UTF-8 (a configuration file is UTF-8 text)")
        }
        return try ConfigDocument.parse(text, file: path, base: base)
    }

    /// Writes `doc` over `path` as version (current file's version + 1), keeping the current file
    /// as `path.prev`. Returns the saved document (with its new version).
    @discardableResult
    public static func save(_ doc: ConfigDocument, to path: String, header: String? = nil) throws(ConfigError) -> ConfigDocument {
        var next = doc
        var current: Int64 = doc.version
        let old = try? readFile(path, maximumBytes: ReadLimit.config)
        if let old, let text = String(validating: old, as: UTF8.self), let parsed = try? ConfigDocument.parse(text, file: path, partial: true) {
            current = max(current, parsed.version)
        }
        next.values["config_version"] = .int(current + 1)
        next.file = path
        // Everything that can refuse the save comes before FILE.prev is touched: a refused save
        // must leave the real previous version for `config revert previous` (issue 16). The
        // rendered file is read back as `load` will read it, so nothing is saved that would not
        // load (the agent could not start on it).
        let issues = next.crossCheck()
        if !issues.isEmpty { throw ConfigError(issues) }
        let text = next.render(header: header)
        do { _ = try ConfigDocument.parse(text, file: path) } catch {
            throw ConfigError(error.issues.map { ConfigIssue(file: $0.file, line: $0.line, key: $0.key, message: "would not read back: " + $0.message) })
        }
        if let old {
            do { try writeFileAtomically(path + ".prev", old, mode: 0o640) } catch {
                throw ConfigError(file: path + ".prev", "cannot keep the previous version: \(error.errno)")
            }
        }
        do { try writeFileAtomically(path, Array(text.utf8), mode: 0o640) } catch {
            throw ConfigError(file: path, "cannot save: \(error.errno)")
        }
        return next
    }
}

/// A board profile: a partial configuration (`board/profiles/NAME.toml`) whose keys become the
/// defaults of a new configuration, plus a one-line description.
public struct BoardProfile: Sendable {
    public var name: String
    public var description: String
    public var document: ConfigDocument

    /// The places profiles are looked up, in order: `$VIGIL_BOARD_DIR`, the installed copy
    /// (`/usr/share/vigil/board/profiles`, written by board/install.sh), the source tree's
    /// `board/profiles` (development: found from this file's compile-time path).
    public static func searchDirectories(sourceFile: String = #filePath) -> [String] {
        var dirs: [String] = []
        if let e = getenv("VIGIL_BOARD_DIR") { dirs.append(String(cString: e)) }
        dirs.append("/usr/share/vigil/board/profiles")
        var parts = sourceFile.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count > 3 {
            parts.removeLast(3)  // Sources/Config/Store.swift
            dirs.append(parts.joined(separator: "/") + "/board/profiles")
        }
        return dirs
    }

    /// Names of the profiles found (sorted, unique).
    public static func available(in dirs: [String] = searchDirectories()) -> [String] {
        var names = Set<String>()
        for d in dirs {
            guard let dir = opendir(d) else { continue }
            while let e = readdir(dir) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if n.hasSuffix(".toml") && !n.hasPrefix(".") { names.insert(String(n.dropLast(5))) }
            }
            closedir(dir)
        }
        return names.sorted()
    }

    /// Loads `NAME.toml` from the first directory that has it.
    public static func load(_ name: String, from dirs: [String] = searchDirectories()) throws(ConfigError) -> BoardProfile {
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
            throw ConfigError(file: name, "a board name is lowercase letters, digits and '-'")
        }
        for d in dirs {
            let path = d + "/" + name + ".toml"
            guard let bytes = try? readFile(path, maximumBytes: ReadLimit.config) else { continue }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw ConfigError(file: path, "not valid UTF-8") }
            // `[profile] description = "…"` is the profile's own; the rest is configuration.
            var description = ""
            var body: [Substring] = []
            var inProfile = false
            for l in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let t = l.trimmingBlanks
                if t.hasPrefix("[") { inProfile = t == "[profile]" }
                if inProfile {
                    if t.hasPrefix("description") , let q = t.firstIndex(of: "\"") {
                        description = String(t[t.index(after: q)...].dropLast(t.hasSuffix("\"") ? 1 : 0))
                    }
                    body.append("")  // keep line numbers
                } else { body.append(l) }
            }
            var doc = try ConfigDocument.parse(body.joined(separator: "\n"), file: path)
            doc.file = path
            if doc.string("board") != name {
                throw ConfigError(file: path, key: "board", "the profile file \(name).toml must say board = \"\(name)\"")
            }
            return BoardProfile(name: name, description: description, document: doc)
        }
        let known = available(in: dirs)
        let hint = ConfigSchema.suggestion(for: name, among: known)
        throw ConfigError(file: name, "no board profile '\(name)'" + (hint.map { " (did you mean '\($0)'?)" } ?? "")
                          + (known.isEmpty ? " (no profiles found in " + dirs.joined(separator: ", ") + ")" : "; known: " + known.joined(separator: ", ")))
    }
}

extension Substring {
    var trimmingBlanks: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}
