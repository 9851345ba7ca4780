// The one way a decision enters the station: the two-person rule checked in the database's
// transaction, the decision signed with the station's Ed25519 key, and an audit record in the
// project's hash-chained format (verifiable with `vigil audit verify`). A decision that cannot
// be audited is not recorded as made: the audit append failing is an error to the caller, never
// ignored (issue 17, item 6).
import Audit
import Crypto
import VigilCore
import Watchlist

/// `@unchecked`: the Ed25519 key is immutable once made (swift-crypto does not mark it Sendable).
public struct ReviewDesk: @unchecked Sendable {
    public let store: StationStore
    let key: Curve25519.Signing.PrivateKey
    let audit: AuditLog

    public init(store: StationStore, key: Curve25519.Signing.PrivateKey, audit: AuditLog) {
        self.store = store; self.key = key; self.audit = audit
    }

    public var publicKey: [UInt8] { Array(key.publicKey.rawRepresentation) }

    @discardableResult
    public func decide(recordID: String, _ d: ReviewDecision, role: StationRole) throws -> ReviewState {
        let raw = key.rawRepresentation  // Sendable, into the database's transaction
        let (signed, state) = try store.decide(recordID: recordID, d, role: role) { message in
            Array(try Curve25519.Signing.PrivateKey(rawRepresentation: raw).signature(for: message))
        }
        _ = try audit.append("station.decision", [
            ("record", .string(recordID)), ("index", .int(Int64(signed.index))), ("kind", .string(d.kind.rawValue)),
            ("user", .string(d.user)), ("role", .string(role.rawValue)), ("verdict", .string(d.verdict.rawValue)),
            ("reference", .string(d.reference)), ("amends", d.amends.map { .int(Int64($0)) } ?? .string("-")),
            ("state", .string(state.label)), ("signature", .string(hex(signed.signature))),
        ])
        return state
    }

    /// Whether `d` carries a valid signature of the station key `publicKey` for the record whose
    /// bytes hash to `recordSHA256`.
    public static func verify(_ d: SignedDecision, recordSHA256: String, publicKey: [UInt8]) -> Bool {
        guard let k = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        let m = SignedDecision.message(recordID: d.recordID, recordSHA256: recordSHA256, index: d.index, role: d.role, d.decision)
        return k.isValidSignature(d.signature, for: m)
    }
}
