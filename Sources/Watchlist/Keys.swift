// Key files: who signs lists (authority, Ed25519), who signs hit records (device, Ed25519), who
// can open hit records (agency, X25519). Private keys live in files readable by their owner only;
// a file anyone else can read is refused, because the key must then be presumed copied.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import VigilCore

public enum KeyRole: String, Sendable, CaseIterable {
    /// Signs watchlist bundles (agency side, kept offline).
    case authority
    /// Seals hit records to the agency (X25519): only the agency's private key opens them.
    case agency
    /// Signs hit records on the device.
    case device

    var kind: String { self == .agency ? "x25519" : "ed25519" }
}

/// The text format of a key file (`vigil-key 1`, role, kind, hex key): greppable, diffable,
/// and never mistaken for another tool's PEM.
struct KeyFile {
    var role: KeyRole
    var isPrivate: Bool
    var raw: [UInt8]

    var text: String {
        "vigil-key 1\nrole \(role.rawValue)\nkind \(role.kind)-\(isPrivate ? "private" : "public")\nkey \(hex(raw))\n"
    }

    static func parse(_ bytes: [UInt8], path: String) throws(WatchlistError) -> KeyFile {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count == 4, lines[0] == "vigil-key 1" else { throw .key("\(path): not a Vigil key file") }
        guard lines[1].hasPrefix("role "), let role = KeyRole(rawValue: String(lines[1].dropFirst(5))) else {
            throw .key("\(path): bad role line")
        }
        let kind = String(lines[2].dropFirst(5))
        guard lines[2].hasPrefix("kind "), kind == "\(role.kind)-private" || kind == "\(role.kind)-public" else {
            throw .key("\(path): bad kind line for role \(role.rawValue)")
        }
        guard lines[3].hasPrefix("key "), let raw = unhex(String(lines[3].dropFirst(4))), raw.count == 32 else {
            throw .key("\(path): bad key line")
        }
        return KeyFile(role: role, isPrivate: kind.hasSuffix("private"), raw: raw)
    }

    /// Reads a key file; private keys must not be readable by group or others, public keys (trust
    /// anchors: whoever can rewrite authority.pub decides which lists a device matches, whoever can
    /// rewrite a device's .pub decides which records an agency believes) must not be writable by
    /// group or others.
    static func load(_ path: String, role: KeyRole, isPrivate: Bool) throws(WatchlistError) -> KeyFile {
        var st = stat()
        // a private key is refused behind a symlink (lstat); a public one may be linked, its target is checked
        guard (isPrivate ? lstat(path, &st) : stat(path, &st)) == 0 else { throw .storage(FileError(path: path, operation: "stat", errno: .current)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .key("\(path): not a regular file" + (isPrivate ? " (symlinks are refused for private keys)" : ""))
        }
        let perms = st.st_mode & 0o777
        guard perms & (isPrivate ? 0o077 : 0o022) == 0 else {
            throw .key(isPrivate
                ? "\(path): permissions \(String(perms, radix: 8)) let others read this private key; it must be 600 (chmod 600, and consider the key compromised)"
                : "\(path): permissions \(String(perms, radix: 8)) let others replace this trust anchor; it must not be group- or world-writable (chmod 644)")
        }
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.key) } catch { throw .storage(error) }
        let f = try parse(bytes, path: path)
        guard f.role == role else { throw .key("\(path): a \(f.role.rawValue) key, expected \(role.rawValue)") }
        guard f.isPrivate == isPrivate else { throw .key("\(path): a \(f.isPrivate ? "private" : "public") key, expected \(isPrivate ? "private" : "public")") }
        return f
    }
}

/// SHA-256 of the raw public key: the key's id inside bundles and records.
func keyID(_ raw: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: raw)) }

/// "SHA256:ab12 cd34 …" over the first 16 bytes: what an operator reads aloud to compare keys.
public func fingerprint(ofPublicKey raw: [UInt8]) -> String {
    let h = hex(keyID(raw).prefix(16))
    var groups: [Substring] = []
    var i = h.startIndex
    while i < h.endIndex { let j = h.index(i, offsetBy: 4); groups.append(h[i..<j]); i = j }
    return "SHA256:" + groups.joined(separator: " ")
}

// Crypto's key types are immutable values without a Sendable annotation on Linux.
public struct AuthorityPublicKey: @unchecked Sendable {
    public let key: Curve25519.Signing.PublicKey
    public var raw: [UInt8] { Array(key.rawRepresentation) }
    public var keyID: [UInt8] { Watchlist.keyID(raw) }
    public var fingerprint: String { Watchlist.fingerprint(ofPublicKey: raw) }

    public init(file path: String) throws(WatchlistError) {
        let f = try KeyFile.load(path, role: .authority, isPrivate: false)
        do { key = try Curve25519.Signing.PublicKey(rawRepresentation: f.raw) } catch { throw .key("\(path): invalid Ed25519 public key") }
    }
    public init(_ key: Curve25519.Signing.PublicKey) { self.key = key }
}

public struct AuthorityPrivateKey: @unchecked Sendable {
    public let key: Curve25519.Signing.PrivateKey
    public var publicKey: AuthorityPublicKey { AuthorityPublicKey(key.publicKey) }

    public init(file path: String) throws(WatchlistError) {
        let f = try KeyFile.load(path, role: .authority, isPrivate: true)
        do { key = try Curve25519.Signing.PrivateKey(rawRepresentation: f.raw) } catch { throw .key("\(path): invalid Ed25519 private key") }
    }
    public init(_ key: Curve25519.Signing.PrivateKey = .init()) { self.key = key }
}

/// `vigil keys generate`: a new key pair for `role` in `directory` (created 0700 if missing):
/// ROLE.key (0600) and ROLE.pub. Existing files are never overwritten — replacing a key is a
/// deliberate act (delete the old files first).
public struct GeneratedKey: Sendable {
    public var role: KeyRole
    public var privatePath: String
    public var publicPath: String
    public var fingerprint: String
}

public func generateKey(role: KeyRole, directory: String) throws(WatchlistError) -> GeneratedKey {
    if mkdir(directory, 0o700) != 0 && errno != EEXIST {
        throw .storage(FileError(path: directory, operation: "create directory", errno: .current))
    }
    let priv = directory + "/" + role.rawValue + ".key", pub = directory + "/" + role.rawValue + ".pub"
    for p in [priv, pub] where access(p, F_OK) == 0 {
        throw .key("\(p) exists: refusing to overwrite a key (remove it first if you really mean to replace it)")
    }
    let privateRaw: [UInt8], publicRaw: [UInt8]
    switch role {
    case .authority, .device:
        let k = Curve25519.Signing.PrivateKey()
        privateRaw = Array(k.rawRepresentation); publicRaw = Array(k.publicKey.rawRepresentation)
    case .agency:
        let k = Curve25519.KeyAgreement.PrivateKey()
        privateRaw = Array(k.rawRepresentation); publicRaw = Array(k.publicKey.rawRepresentation)
    }
    do {
        try writeFileAtomically(priv, Array(KeyFile(role: role, isPrivate: true, raw: privateRaw).text.utf8), mode: 0o600)
        try writeFileAtomically(pub, Array(KeyFile(role: role, isPrivate: false, raw: publicRaw).text.utf8), mode: 0o644)
    } catch { throw .storage(error) }
    return GeneratedKey(role: role, privatePath: priv, publicPath: pub, fingerprint: fingerprint(ofPublicKey: publicRaw))
}

/// Hex (either case) to bytes; nil for an odd length or a non-hex digit.
package func unhex(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    func v(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(u.count / 2)
    var i = 0
    while i < u.count {
        guard let a = v(u[i]), let b = v(u[i + 1]) else { return nil }
        out.append(a << 4 | b)
        i += 2
    }
    return out
}

// MARK: device and agency keys (hit records)

/// The device's Ed25519 key: signs every hit record it seals.
public struct DeviceSigningKey: @unchecked Sendable {
    public let key: Curve25519.Signing.PrivateKey
    public var publicKey: DevicePublicKey { DevicePublicKey(key.publicKey) }
    public init(file path: String) throws(WatchlistError) {
        let f = try KeyFile.load(path, role: .device, isPrivate: true)
        do { key = try Curve25519.Signing.PrivateKey(rawRepresentation: f.raw) } catch { throw .key("\(path): invalid Ed25519 private key") }
    }
    public init(_ key: Curve25519.Signing.PrivateKey = .init()) { self.key = key }
}

public struct DevicePublicKey: @unchecked Sendable {
    public let key: Curve25519.Signing.PublicKey
    public var raw: [UInt8] { Array(key.rawRepresentation) }
    public var keyID: [UInt8] { Watchlist.keyID(raw) }
    public var fingerprint: String { Watchlist.fingerprint(ofPublicKey: raw) }
    public init(file path: String) throws(WatchlistError) {
        let f = try KeyFile.load(path, role: .device, isPrivate: false)
        do { key = try Curve25519.Signing.PublicKey(rawRepresentation: f.raw) } catch { throw .key("\(path): invalid Ed25519 public key") }
    }
    public init(_ key: Curve25519.Signing.PublicKey) { self.key = key }
}

/// The agency's X25519 key: hit records are sealed to its public half; only the private half
/// (never on a device) opens them.
public struct AgencyPublicKey: @unchecked Sendable {
    public let key: Curve25519.KeyAgreement.PublicKey
    public var raw: [UInt8] { Array(key.rawRepresentation) }
    public var keyID: [UInt8] { Watchlist.keyID(raw) }
    public init(file path: String) throws(WatchlistError) {
        let f = try KeyFile.load(path, role: .agency, isPrivate: false)
        do { key = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: f.raw) } catch { throw .key("\(path): invalid X25519 public key") }
    }
    public init(_ key: Curve25519.KeyAgreement.PublicKey) { self.key = key }
}

public struct AgencyPrivateKey: @unchecked Sendable {
    public let key: Curve25519.KeyAgreement.PrivateKey
    public var publicKey: AgencyPublicKey { AgencyPublicKey(key.publicKey) }
    public init(file path: String) throws(WatchlistError) {
        let f = try KeyFile.load(path, role: .agency, isPrivate: true)
        do { key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: f.raw) } catch { throw .key("\(path): invalid X25519 private key") }
    }
    public init(_ key: Curve25519.KeyAgreement.PrivateKey = .init()) { self.key = key }
}
