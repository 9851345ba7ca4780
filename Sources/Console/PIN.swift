// The technician PIN: stored only as a salted scrypt hash in a 0600 file.
//
// Why scrypt (swift-crypto's _CryptoExtras) and these costs: a PIN has little entropy, so the
// hash must be slow and memory-hard for someone who copies the file off a stolen device.
// N = 2^15, r = 8 (32 MiB, ~0.1 s on x86-64, ~0.4 s on a Raspberry Pi 4) is the interactive
// setting from the scrypt paper; the lockout (5 failures → 10 minutes) limits guessing on the
// device itself. The parameters are stored in the file so they can be raised later.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import _CryptoExtras
import VigilCore

public enum PINError: Error, Equatable, CustomStringConvertible, Sendable {
    case notSet(path: String)
    case unreadable(path: String, errno: Errno)
    case malformed(path: String, reason: String)
    case insecureMode(path: String, mode: UInt32)
    case weak(String)
    case cannotSave(path: String, errno: Errno)

    public var description: String {
        switch self {
        case .notSet(let p): return "no technician PIN is set (\(p) missing): run `vigil console set-pin` on the device"
        case .unreadable(let p, let e): return "\(p): cannot read the PIN file: \(e)"
        case .malformed(let p, let r): return "\(p): not a PIN file: \(r)"
        case .insecureMode(let p, let m): return "\(p): mode \(String(m, radix: 8)) lets others read the PIN hash; chmod 600 it"
        case .weak(let r): return "PIN refused: \(r)"
        case .cannotSave(let p, let e): return "\(p): cannot save the PIN: \(e)"
        }
    }
}

/// A PIN hash as stored: `vigil-pin-v1 scrypt N r p salt-hex hash-hex`.
public struct PINHash: Equatable, Sendable {
    public var logN: Int
    public var r: Int
    public var p: Int
    public var salt: [UInt8]
    public var hash: [UInt8]

    public static let defaultLogN = 15

    /// How many digits a PIN has (the console also redacts any such word it audits).
    public static let digitCount = 6...16

    /// 6 to 16 digits: typed on a serial terminal, read from a sealed envelope.
    public static func checkPolicy(_ pin: String) throws(PINError) {
        let digits = pin.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        guard digits, digitCount.contains(pin.utf8.count) else { throw .weak("a PIN is 6 to 16 digits") }
        let u = Array(pin.utf8)
        if Set(u).count == 1 { throw .weak("all digits the same") }
        let steps = zip(u, u.dropFirst()).map { Int($1) - Int($0) }
        if Set(steps).count == 1 && (steps[0] == 1 || steps[0] == -1) { throw .weak("a run like 123456") }
    }

    public static func make(pin: String, logN: Int = defaultLogN) throws(PINError) -> PINHash {
        try checkPolicy(pin)
        var salt = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = rng.next() }
        return PINHash(logN: logN, r: 8, p: 1, salt: salt, hash: derive(pin, salt: salt, logN: logN, r: 8, p: 1))
    }

    static func derive(_ pin: String, salt: [UInt8], logN: Int, r: Int, p: Int) -> [UInt8] {
        let key = try? KDF.Scrypt.deriveKey(from: Array(pin.utf8), salt: salt, outputByteCount: 32,
                                            rounds: 1 << logN, blockSize: r, parallelism: p)
        return key.map { $0.withUnsafeBytes { Array($0) } } ?? []
    }

    /// Constant-time check (the comparison does not stop at the first differing byte).
    public func matches(_ pin: String) -> Bool {
        let candidate = Self.derive(pin, salt: salt, logN: logN, r: r, p: p)
        guard candidate.count == hash.count, !hash.isEmpty else { return false }
        var diff: UInt8 = 0
        for i in hash.indices { diff |= candidate[i] ^ hash[i] }
        return diff == 0
    }

    public var line: String { "vigil-pin-v1 scrypt \(logN) \(r) \(p) \(hex(salt)) \(hex(hash))\n" }

    public init(logN: Int, r: Int, p: Int, salt: [UInt8], hash: [UInt8]) {
        self.logN = logN; self.r = r; self.p = p; self.salt = salt; self.hash = hash
    }

    public init(parsing text: String, path: String) throws(PINError) {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard f.count == 7, f[0] == "vigil-pin-v1", f[1] == "scrypt", let n = Int(f[2]), let r = Int(f[3]), let p = Int(f[4]),
              (10...22).contains(n), (1...32).contains(r), (1...16).contains(p),
              let salt = unhex(f[5]), let hash = unhex(f[6]), salt.count >= 16, hash.count == 32 else {
            throw .malformed(path: path, reason: "expected `vigil-pin-v1 scrypt N r p SALT HASH`")
        }
        self.init(logN: n, r: r, p: p, salt: salt, hash: hash)
    }

    /// Reads the PIN file; refuses one that others can read.
    public static func load(_ path: String) throws(PINError) -> PINHash {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { throw .notSet(path: path) }
            throw .unreadable(path: path, errno: .current)
        }
        if (st.st_mode & S_IFMT) != S_IFREG { throw .malformed(path: path, reason: "not a regular file") }
        if st.st_mode & 0o077 != 0 { throw .insecureMode(path: path, mode: UInt32(st.st_mode & 0o777)) }
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.key, symlinks: .refuse) } catch { throw .unreadable(path: path, errno: error.errno) }
        guard bytes.count < 512, let text = String(validating: bytes, as: UTF8.self) else {
            throw .malformed(path: path, reason: "not text")
        }
        return try PINHash(parsing: text, path: path)
    }

    public func save(_ path: String) throws(PINError) {
        do { try writeFileAtomically(path, Array(line.utf8), mode: 0o600) } catch {
            throw .cannotSave(path: path, errno: error.errno)
        }
    }
}

func hex(_ b: [UInt8]) -> String {
    let d = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(b.count * 2)
    for x in b { out.append(d[Int(x >> 4)]); out.append(d[Int(x & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

func unhex(_ s: Substring) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    func v(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
    var out = [UInt8]()
    var i = 0
    while i < u.count {
        guard let a = v(u[i]), let b = v(u[i + 1]) else { return nil }
        out.append(a << 4 | b); i += 2
    }
    return out
}
