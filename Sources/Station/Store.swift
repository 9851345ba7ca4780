// The station's storage. One schema, versioned migrations; SQLite through GRDB is the embedded
// default (one file). What is stored of a hit is what the queue needs plus the *sealed* record as
// it arrived: the crop inside it stays encrypted to the agency key and is opened on view only, so
// neither the database nor its backups hold a face in plaintext (issue 17, item 3).
import Foundation
import GRDB
import VigilCore

/// What the queue shows of one ingested hit (no crop: that stays sealed in `sealed`).
public struct StoredHit: Sendable, Equatable {
    public var recordID: String
    public var deviceKeyID: String
    public var device: String
    public var sequence: UInt64
    public var createdMillis: Int64
    /// Station clock, seconds: the arrival order retirement and replays are judged by.
    public var receivedSeconds: Int64
    public var captureMillis: Int64
    public var clockSynchronized: Bool?
    public var camera: String
    public var listVersion: UInt64
    public var entryID: String
    public var score: Double
    public var threshold: Double
    public var estimatedFalseMatchRate: Double?
    public var mode: String
    /// The record's bytes, still sealed (HPKE to the agency key, signed by the device).
    public var sealed: [UInt8]
    public var sha256: String

    public init(recordID: String, deviceKeyID: String, device: String, sequence: UInt64, createdMillis: Int64, receivedSeconds: Int64,
                captureMillis: Int64, clockSynchronized: Bool?, camera: String, listVersion: UInt64, entryID: String, score: Double,
                threshold: Double, estimatedFalseMatchRate: Double?, mode: String, sealed: [UInt8], sha256: String) {
        self.recordID = recordID; self.deviceKeyID = deviceKeyID; self.device = device; self.sequence = sequence
        self.createdMillis = createdMillis; self.receivedSeconds = receivedSeconds; self.captureMillis = captureMillis
        self.clockSynchronized = clockSynchronized; self.camera = camera; self.listVersion = listVersion; self.entryID = entryID
        self.score = score; self.threshold = threshold; self.estimatedFalseMatchRate = estimatedFalseMatchRate; self.mode = mode
        self.sealed = sealed; self.sha256 = sha256
    }
}

public struct QuarantinedRecord: Sendable, Equatable {
    public var name: String
    public var reason: String
    public var sha256: String
    public var receivedSeconds: Int64

    public init(name: String, reason: String, sha256: String, receivedSeconds: Int64) {
        self.name = name; self.reason = reason; self.sha256 = sha256; self.receivedSeconds = receivedSeconds
    }
}

public enum StationStoreError: Error, Sendable, CustomStringConvertible {
    case database(String)
    public var description: String {
        switch self { case .database(let s): "station database: \(s)" }
    }
}

/// The outcome of storing a hit.
public enum InsertOutcome: Sendable, Equatable {
    case inserted
    /// The same record id with the same bytes is already stored: our own earlier ingest, cut
    /// short before the file was moved (kill -9); nothing is doubled.
    case alreadyStored
    /// The same record id with *other* bytes: a replay or a forgery under a known id.
    case conflicting
}

/// SQLite storage (GRDB). Every write is one transaction; WAL mode, so the web server's reads do
/// not wait for an ingest.
public final class StationStore: Sendable {
    let db: DatabaseQueue
    public let path: String

    public init(path: String) throws(StationStoreError) {
        self.path = path
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            db = try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(db)
        } catch { throw .database("\(path): \(error)") }
    }

    /// Versioned migrations: a station upgraded in place runs the ones it has not run yet.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: hits, quarantine, device sequences") { db in
            try db.execute(sql: """
                CREATE TABLE hit (
                    record_id TEXT PRIMARY KEY NOT NULL,
                    device_key_id TEXT NOT NULL,
                    device TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    created_ms INTEGER NOT NULL,
                    received_s INTEGER NOT NULL,
                    capture_ms INTEGER NOT NULL,
                    clock_synchronized INTEGER,
                    camera TEXT NOT NULL,
                    list_version INTEGER NOT NULL,
                    entry_id TEXT NOT NULL,
                    score REAL NOT NULL,
                    threshold REAL NOT NULL,
                    estimated_fmr REAL,
                    mode TEXT NOT NULL,
                    sealed BLOB NOT NULL,
                    sha256 TEXT NOT NULL,
                    UNIQUE (device_key_id, sequence)
                );
                CREATE INDEX hit_received ON hit (received_s);
                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    received_s INTEGER NOT NULL
                );
                """)
        }
        addDecisions(&m)
        addPurge(&m)
        addUsers(&m)
        return m
    }

    /// Stores `hit` unless its id (or its device's sequence number) is already taken.
    public func insert(_ hit: StoredHit) throws(StationStoreError) -> InsertOutcome {
        do {
            return try db.write { db -> InsertOutcome in
                if let row = try Row.fetchOne(db, sql: "SELECT sha256 FROM hit WHERE record_id = ?", arguments: [hit.recordID]) {
                    return (row["sha256"] as String) == hit.sha256 ? .alreadyStored : .conflicting
                }
                // another record under a sequence number the device already used: a replay of a
                // forged or re-sealed record (the device never reuses one)
                if try Row.fetchOne(db, sql: "SELECT 1 FROM hit WHERE device_key_id = ? AND sequence = ?",
                                    arguments: [hit.deviceKeyID, Int64(bitPattern: hit.sequence)]) != nil {
                    return .conflicting
                }
                try db.execute(sql: """
                    INSERT INTO hit (record_id, device_key_id, device, sequence, created_ms, received_s, capture_ms,
                                     clock_synchronized, camera, list_version, entry_id, score, threshold, estimated_fmr,
                                     mode, sealed, sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [hit.recordID, hit.deviceKeyID, hit.device, Int64(bitPattern: hit.sequence), hit.createdMillis,
                                     hit.receivedSeconds, hit.captureMillis, hit.clockSynchronized, hit.camera,
                                     Int64(bitPattern: hit.listVersion), hit.entryID, hit.score, hit.threshold,
                                     hit.estimatedFalseMatchRate, hit.mode, Data(hit.sealed), hit.sha256])
                return .inserted
            }
        } catch { throw .database("\(error)") }
    }

    public func quarantine(_ q: QuarantinedRecord) throws(StationStoreError) {
        do {
            try db.write { db in
                try db.execute(sql: "INSERT INTO quarantine (name, reason, sha256, received_s) VALUES (?, ?, ?, ?)",
                               arguments: [q.name, q.reason, q.sha256, q.receivedSeconds])
            }
        } catch { throw .database("\(error)") }
    }

    public func hits() throws(StationStoreError) -> [StoredHit] {
        do {
            return try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM hit ORDER BY received_s, device_key_id, sequence").map(Self.hit)
            }
        } catch { throw .database("\(error)") }
    }

    public func quarantined() throws(StationStoreError) -> [QuarantinedRecord] {
        do {
            return try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM quarantine ORDER BY id").map {
                    QuarantinedRecord(name: $0["name"], reason: $0["reason"], sha256: $0["sha256"], receivedSeconds: $0["received_s"])
                }
            }
        } catch { throw .database("\(error)") }
    }

    /// Each device's missing sequence numbers: between 1 and the highest received, those never
    /// received (a record deleted on the device, or lost). Ranges, so a large gap is one line.
    public func sequenceGaps() throws(StationStoreError) -> [String: [ClosedRange<UInt64>]] {
        do {
            return try db.read { db in
                var out: [String: [ClosedRange<UInt64>]] = [:]
                var device = "", expected: UInt64 = 1
                for row in try Row.fetchAll(db, sql: "SELECT device_key_id, sequence FROM hit ORDER BY device_key_id, sequence") {
                    let d: String = row["device_key_id"]
                    let s = UInt64(bitPattern: row["sequence"] as Int64)
                    if d != device { device = d; expected = 1 }
                    if s > expected { out[d, default: []].append(expected...(s - 1)) }
                    expected = max(expected, s &+ 1)
                }
                return out
            }
        } catch { throw .database("\(error)") }
    }

    static func hit(_ r: Row) -> StoredHit {
        StoredHit(recordID: r["record_id"], deviceKeyID: r["device_key_id"], device: r["device"],
                  sequence: UInt64(bitPattern: r["sequence"] as Int64), createdMillis: r["created_ms"],
                  receivedSeconds: r["received_s"], captureMillis: r["capture_ms"], clockSynchronized: r["clock_synchronized"],
                  camera: r["camera"], listVersion: UInt64(bitPattern: r["list_version"] as Int64), entryID: r["entry_id"],
                  score: r["score"], threshold: r["threshold"], estimatedFalseMatchRate: r["estimated_fmr"], mode: r["mode"],
                  sealed: [UInt8](r["sealed"] as Data), sha256: r["sha256"])
    }
}

// MARK: decisions

/// A decision as stored: the decision, its place on the hit, and the station's signature over
/// both and the record's digest — so a verified hit carries two signed verdicts that can be
/// checked without trusting the database (issue 17, item 6).
public struct SignedDecision: Sendable, Equatable {
    public var recordID: String
    public var index: Int
    public var role: StationRole
    public var decision: ReviewDecision
    public var signature: [UInt8]

    /// The exact bytes signed: one line per field, in a fixed order.
    public static func message(recordID: String, recordSHA256: String, index: Int, role: StationRole, _ d: ReviewDecision) -> [UInt8] {
        let fields = ["vigil-station-decision 1", recordID, recordSHA256, String(index), d.kind.rawValue, role.rawValue, d.user,
                      d.verdict.rawValue, String(d.time), d.amends.map(String.init) ?? "-",
                      JSON.quote(d.reason), JSON.quote(d.reference)]
        return Array(fields.joined(separator: "\n").utf8)
    }
}

extension StationStore {
    static func addDecisions(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2: decisions") { db in
            try db.execute(sql: """
                CREATE TABLE decision (
                    record_id TEXT NOT NULL REFERENCES hit(record_id),
                    idx INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    role TEXT NOT NULL,
                    user TEXT NOT NULL,
                    verdict TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    reference TEXT NOT NULL,
                    time INTEGER NOT NULL,
                    amends INTEGER,
                    signature BLOB NOT NULL,
                    PRIMARY KEY (record_id, idx)
                );
                """)
        }
    }

    /// The decisions on one hit, in order.
    public func decisions(recordID: String) throws(StationStoreError) -> [SignedDecision] {
        do { return try db.read { db in try Self.decisions(db, recordID) } } catch { throw .database("\(error)") }
    }

    static func decisions(_ db: Database, _ recordID: String) throws -> [SignedDecision] {
        try Row.fetchAll(db, sql: "SELECT * FROM decision WHERE record_id = ? ORDER BY idx", arguments: [recordID]).map { r in
            SignedDecision(recordID: r["record_id"], index: r["idx"], role: StationRole(rawValue: r["role"]) ?? .auditor,
                           decision: ReviewDecision(kind: ReviewDecision.Kind(rawValue: r["kind"]) ?? .review, user: r["user"],
                                                    verdict: Verdict(rawValue: r["verdict"]) ?? .inconclusive, reason: r["reason"],
                                                    reference: r["reference"], time: r["time"], amends: r["amends"]),
                           signature: [UInt8](r["signature"] as Data))
        }
    }

    /// Records `d` on `recordID` under the two-person rule, in one transaction: the rule is
    /// checked against the decisions as stored at that moment, so two reviewers deciding at the
    /// same time cannot both be "second". `sign` signs the decision's message.
    public func decide(recordID: String, _ d: ReviewDecision, role: StationRole,
                       sign: @Sendable ([UInt8]) throws -> [UInt8]) throws -> (SignedDecision, ReviewState) {
        try db.write { db -> (SignedDecision, ReviewState) in
            guard let row = try Row.fetchOne(db, sql: "SELECT sha256 FROM hit WHERE record_id = ?", arguments: [recordID]) else {
                throw StationStoreError.database("no hit \(recordID)")
            }
            let existing = try Self.decisions(db, recordID)
            var review = TwoPersonReview(decisions: existing.map(\.decision))
            try review.record(d, role: role)
            let index = existing.count
            let signature = try sign(SignedDecision.message(recordID: recordID, recordSHA256: row["sha256"], index: index, role: role, d))
            try db.execute(sql: """
                INSERT INTO decision (record_id, idx, kind, role, user, verdict, reason, reference, time, amends, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [recordID, index, d.kind.rawValue, role.rawValue, d.user, d.verdict.rawValue, d.reason,
                                 d.reference, d.time, d.amends, Data(signature)])
            return (SignedDecision(recordID: recordID, index: index, role: role, decision: d, signature: signature), review.state)
        }
    }
}

// MARK: retention

extension StationStore {
    static func addPurge(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3: purge") { db in
            try db.execute(sql: "ALTER TABLE hit ADD COLUMN purged_s INTEGER")
        }
    }

    /// Ids of the hits whose sealed record is still kept.
    public func unpurged() throws(StationStoreError) -> [(recordID: String, receivedSeconds: Int64)] {
        do {
            return try db.read { db in
                try Row.fetchAll(db, sql: "SELECT record_id, received_s FROM hit WHERE purged_s IS NULL ORDER BY received_s").map {
                    (recordID: $0["record_id"] as String, receivedSeconds: $0["received_s"] as Int64)
                }
            }
        } catch { throw .database("\(error)") }
    }

    /// Deletes a hit's sealed record (crop and body); the row, its decisions and its counts stay.
    public func purge(recordID: String, at time: Int64) throws(StationStoreError) {
        do {
            try db.write { db in
                try db.execute(sql: "UPDATE hit SET sealed = X'', purged_s = ? WHERE record_id = ? AND purged_s IS NULL",
                               arguments: [time, recordID])
            }
        } catch { throw .database("\(error)") }
    }

    public func purgedAt(recordID: String) throws(StationStoreError) -> Int64? {
        do {
            return try db.read { db in
                try Row.fetchOne(db, sql: "SELECT purged_s FROM hit WHERE record_id = ?", arguments: [recordID])?["purged_s"]
            }
        } catch { throw .database("\(error)") }
    }
}
