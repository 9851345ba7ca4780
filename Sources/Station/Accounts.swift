// Station accounts (issue 17, item 5): roles, memory-hard password hashes, a lock after five
// failed logins, every attempt and every account change audited. The web layer's sessions sit on
// top of `AccountDesk.login`.
//
// Why scrypt at N = 2^15, r = 8 (32 MiB, ~0.1 s): the interactive setting from the scrypt paper,
// the same as the device's console PIN (Console/PIN.swift); a stolen database then costs an
// attacker 32 MiB and 0.1 s per guess per account. The parameters are stored with each hash so
// they can be raised later. Why five failures and a lock an administrator must lift: reviewers
// are few and known; a slow lock-out timer would let a patient guesser through.
import Audit
import Crypto
import Foundation
import GRDB
import _CryptoExtras
import VigilCore
import Watchlist

public struct PasswordHash: Sendable, Equatable {
    public var logN: Int
    public var r: Int
    public var p: Int
    public var salt: [UInt8]
    public var hash: [UInt8]

    public static let defaultLogN = 15
    public static let minimumLength = 12

    public static func make(_ password: String, logN: Int = defaultLogN) throws(AccountError) -> PasswordHash {
        guard password.count >= minimumLength else { throw .weakPassword("at least \(minimumLength) characters") }
        guard password.count <= 1024 else { throw .weakPassword("at most 1024 characters") }
        var salt = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = rng.next() }
        return PasswordHash(logN: logN, r: 8, p: 1, salt: salt, hash: derive(password, salt: salt, logN: logN, r: 8, p: 1))
    }

    static func derive(_ password: String, salt: [UInt8], logN: Int, r: Int, p: Int) -> [UInt8] {
        guard (1...20).contains(logN), (1...16).contains(r), (1...4).contains(p) else { return [] }
        let key = try? KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: 32,
                                            rounds: 1 << logN, blockSize: r, parallelism: p)
        return key.map { $0.withUnsafeBytes { Array($0) } } ?? []
    }

    /// Constant time in the hash's length (no early exit at the first differing byte).
    public func matches(_ password: String) -> Bool {
        guard password.utf8.count <= 4096 else { return false }
        let c = Self.derive(password, salt: salt, logN: logN, r: r, p: p)
        guard c.count == hash.count, !hash.isEmpty else { return false }
        var diff: UInt8 = 0
        for i in hash.indices { diff |= c[i] ^ hash[i] }
        return diff == 0
    }

    /// `scrypt$logN$r$p$salt$hash` (hex).
    public var text: String { "scrypt$\(logN)$\(r)$\(p)$\(hex(salt))$\(hex(hash))" }

    public init(logN: Int, r: Int, p: Int, salt: [UInt8], hash: [UInt8]) {
        self.logN = logN; self.r = r; self.p = p; self.salt = salt; self.hash = hash
    }

    public init?(text: String) {
        let f = text.split(separator: "$", omittingEmptySubsequences: false)
        guard f.count == 6, f[0] == "scrypt", let n = Int(f[1]), let r = Int(f[2]), let p = Int(f[3]),
              let s = unhex(String(f[4])), let h = unhex(String(f[5])) else { return nil }
        self.init(logN: n, r: r, p: p, salt: s, hash: h)
    }
}

public enum AccountError: Error, Sendable, Equatable, CustomStringConvertible {
    case weakPassword(String)
    case badUsername
    case exists(String)
    case noSuchUser(String)
    case notAllowed(String)
    case database(String)

    public var description: String {
        switch self {
        case .weakPassword(let w): "password refused: \(w)"
        case .badUsername: "a user name is 1 to 64 lowercase letters, digits, '.', '-' or '_'"
        case .exists(let u): "user \(u) exists already"
        case .noSuchUser(let u): "no user \(u)"
        case .notAllowed(let w): "not allowed: \(w)"
        case .database(let s): "station database: \(s)"
        }
    }
}

public enum LoginResult: Sendable, Equatable {
    case ok(role: StationRole)
    /// Wrong user or password (the two are not told apart).
    case refused
    /// Locked after `AccountDesk.maximumFailures` failures; an administrator unlocks it.
    case locked
}

extension StationStore {
    static func addUsers(_ m: inout DatabaseMigrator) {
        m.registerMigration("v4: users") { db in
            try db.execute(sql: """
                CREATE TABLE user (
                    name TEXT PRIMARY KEY NOT NULL,
                    role TEXT NOT NULL,
                    password TEXT NOT NULL,
                    failures INTEGER NOT NULL DEFAULT 0,
                    locked INTEGER NOT NULL DEFAULT 0,
                    created_s INTEGER NOT NULL
                );
                """)
        }
    }
}

/// Accounts over the station's store; every attempt and change audited.
public struct AccountDesk: Sendable {
    public static let maximumFailures = 5
    public let store: StationStore
    public let audit: AuditLog
    /// scrypt cost for new hashes (tests lower it).
    public var logN = PasswordHash.defaultLogN

    public init(store: StationStore, audit: AuditLog) { self.store = store; self.audit = audit }

    static func valid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F
        }
    }

    /// Creates a user. `by` is the administrator doing it, or nil for the command line (the first
    /// administrator is made there, by root on the station's host).
    public func create(_ name: String, role: StationRole, password: String, by admin: (name: String, role: StationRole)?, now: Int64) throws {
        guard Self.valid(name) else { throw AccountError.badUsername }
        if let admin, admin.role != .administrator { throw AccountError.notAllowed("only an administrator creates users") }
        let hash = try PasswordHash.make(password, logN: logN)
        do {
            try store.db.write { db in
                if try Row.fetchOne(db, sql: "SELECT 1 FROM user WHERE name = ?", arguments: [name]) != nil { throw AccountError.exists(name) }
                try db.execute(sql: "INSERT INTO user (name, role, password, created_s) VALUES (?, ?, ?, ?)",
                               arguments: [name, role.rawValue, hash.text, now])
            }
        } catch let e as AccountError { throw e } catch { throw AccountError.database("\(error)") }
        _ = try audit.append("station.user_created", [("user", .string(name)), ("role", .string(role.rawValue)),
                                                      ("by", .string(admin?.name ?? "command line"))])
    }

    /// Checks a login. Five consecutive failures lock the account; a success resets the count.
    public func login(_ name: String, password: String) throws -> LoginResult {
        let result: LoginResult = try {
            do {
                return try store.db.write { db -> LoginResult in
                    guard Self.valid(name), let row = try Row.fetchOne(db, sql: "SELECT * FROM user WHERE name = ?", arguments: [name]) else {
                        _ = PasswordHash.derive(password, salt: [UInt8](repeating: 0, count: 16), logN: logN, r: 8, p: 1)  // same time as a real check
                        return .refused
                    }
                    if (row["locked"] as Int) != 0 { return .locked }
                    let ok = PasswordHash(text: row["password"]).map { $0.matches(password) } ?? false
                    if ok {
                        try db.execute(sql: "UPDATE user SET failures = 0 WHERE name = ?", arguments: [name])
                        return .ok(role: StationRole(rawValue: row["role"]) ?? .auditor)
                    }
                    let failures = (row["failures"] as Int) + 1
                    let lock = failures >= Self.maximumFailures
                    try db.execute(sql: "UPDATE user SET failures = ?, locked = ? WHERE name = ?", arguments: [failures, lock ? 1 : 0, name])
                    return lock ? .locked : .refused
                }
            } catch { throw AccountError.database("\(error)") }
        }()
        let label: String
        switch result { case .ok: label = "ok"; case .refused: label = "refused"; case .locked: label = "locked" }
        _ = try audit.append("station.login", [("user", .string(TerminalText.safe(String(name.prefix(64))))), ("result", .string(label))])
        return result
    }

    public func unlock(_ name: String, by admin: (name: String, role: StationRole)) throws {
        guard admin.role == .administrator else { throw AccountError.notAllowed("only an administrator unlocks accounts") }
        let changed: Int = try {
            do {
                return try store.db.write { db in
                    try db.execute(sql: "UPDATE user SET failures = 0, locked = 0 WHERE name = ?", arguments: [name])
                    return db.changesCount
                }
            } catch { throw AccountError.database("\(error)") }
        }()
        guard changed == 1 else { throw AccountError.noSuchUser(name) }
        _ = try audit.append("station.user_unlocked", [("user", .string(name)), ("by", .string(admin.name))])
    }
}
