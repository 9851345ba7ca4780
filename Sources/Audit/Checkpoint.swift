// The checkpoint: a copy of the newest record, signed with the device key, kept beside the log.
//
// The hash chain protects every record except the newest (nothing after it names its hash) and
// cannot show that records were cut from the end. Hit records carry the head off the device,
// but only when there are hits; the checkpoint pins the head on the device itself:
//   vigil-audit-checkpoint-v1
//   sig <128 hex: Ed25519 over "vigil-audit-checkpoint-v1\n" + SHA-256 of the line> | sig -
//   <the newest record line, whole>
// Every writer replaces it atomically *before* it appends the line, under the writers' lock. So
// at any moment the log's last record either is the checkpoint's line, or (the append was cut
// short by a power cut) is the one the checkpoint's line chains onto — and then the line is
// restored from the checkpoint. Anything else is a cut or edited tail. Holding the whole line
// (not only seq and hash) is what makes the crash window recoverable instead of ambiguous: an
// attacker deleting the last line gets it written back.
//
// Limits: root with the device key can rewrite the log and re-sign the checkpoint; root without
// the key can still write an unsigned checkpoint (writers without the key write those), which
// only `vigil audit verify --device-key` refuses. The off-device anchors are the heads inside hit
// records.
import Crypto
import VigilCore

let checkpointMagic = "vigil-audit-checkpoint-v1"

/// A key to sign checkpoints with (the device's Ed25519 key). A box so the log stays `Sendable`
/// whatever the Crypto version says of its key types; the key is only ever read.
struct CheckpointKey: @unchecked Sendable {
    let key: Curve25519.Signing.PrivateKey
    var publicKey: [UInt8] { Array(key.publicKey.rawRepresentation) }
}

/// One parsed `audit.checkpoint`.
struct AuditCheckpoint {
    var line: [UInt8]
    var record: ParsedAuditRecord
    /// nil: written by a writer without the device key.
    var signature: [UInt8]?
    var hash: [UInt8] { auditLineHash(line) }

    static func signedMessage(_ lineHash: [UInt8]) -> [UInt8] { Array((checkpointMagic + "\n").utf8) + lineHash }

    /// The file's bytes for `line`, signed when there is a key.
    static func text(line: [UInt8], key: CheckpointKey?) throws(AuditError) -> [UInt8] {
        var sig = "-"
        if let key {
            do { sig = auditHex(Array(try key.key.signature(for: signedMessage(auditLineHash(line))))) } catch {
                throw .invalidArgument("cannot sign the audit checkpoint: \(error)")
            }
        }
        return Array((checkpointMagic + "\nsig " + sig + "\n").utf8) + line + [0x0A]
    }

    func isSigned(by publicKey: [UInt8]) -> Bool {
        guard let signature, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: Self.signedMessage(hash))
    }

    /// Parses the file; a reason on any deviation from the format above.
    static func parse(_ bytes: [UInt8]) -> (checkpoint: AuditCheckpoint?, error: String) {
        let (lines, partial) = splitLines(bytes)
        guard partial.isEmpty, lines.count == 3, String(decoding: lines[0], as: UTF8.self) == checkpointMagic else {
            return (nil, "not a \(checkpointMagic) file")
        }
        let sigLine = String(decoding: lines[1], as: UTF8.self)
        guard sigLine.hasPrefix("sig ") else { return (nil, "line 2 is not `sig …`") }
        let sigText = sigLine.dropFirst(4)
        var signature: [UInt8]?
        if sigText != "-" {
            guard sigText.utf8.count == 128, let raw = auditUnhex(sigText) else { return (nil, "the signature is not 128 hex digits") }
            signature = raw
        }
        let parsed = parseAuditRecord(lines[2])
        guard let record = parsed.record else { return (nil, "line 3 is not an audit record: \(parsed.error)") }
        return (AuditCheckpoint(line: Array(lines[2]), record: record, signature: signature), "")
    }

    /// The checkpoint in `directory`: nil when there is none; a reason when it is unreadable.
    static func load(_ directory: String) throws(AuditError) -> (checkpoint: AuditCheckpoint?, error: String?) {
        guard let bytes = try readIfExists(directory + "/" + auditCheckpointFileName) else { return (nil, nil) }
        let p = parse(bytes)
        return (p.checkpoint, p.checkpoint == nil ? p.error : nil)
    }

    /// How the log's last record (nil: an empty log) stands to this checkpoint.
    enum Fit: Equatable {
        case matches
        /// The checkpoint's line chains onto the log's last record: the append after the
        /// checkpoint was cut short (or the last line deleted); the line can be restored.
        case oneAhead
        case mismatch(String)
    }

    func fit(lastSeq: UInt64?, lastHash: [UInt8]?) -> Fit {
        let c = record.seq
        guard let lastSeq, let lastHash else {
            if c == 1 && record.prev == auditZeroHash { return .oneAhead }
            return .mismatch("the log is empty but its checkpoint is at seq \(c): \(seqRange(1, c)) missing at the end")
        }
        if c == lastSeq {
            return lastHash == hash ? .matches
                : .mismatch("the last record (seq \(c)) does not match the checkpoint: it was changed after it was written")
        }
        if c > lastSeq {
            if c - lastSeq == 1 && record.prev == lastHash { return .oneAhead }
            return .mismatch("\(seqRange(lastSeq + 1, c)) missing at the end of the log (the checkpoint is at seq \(c)): the tail was cut")
        }
        return .mismatch("\(seqRange(c + 1, lastSeq)) follow the checkpoint (seq \(c)): written by something other than a Vigil writer")
    }
}

/// "record 5" or "records 5…9".
func seqRange(_ lo: UInt64, _ hi: UInt64) -> String { lo == hi ? "record \(lo)" : "records \(lo)…\(hi)" }

/// Lower-case hex (as `auditHex` writes it) to bytes; nil on anything else.
func auditUnhex(_ s: Substring) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(u.count / 2)
    for k in stride(from: 0, to: u.count, by: 2) {
        guard let hi = hexNibble(u[k]), let lo = hexNibble(u[k + 1]) else { return nil }
        out.append(hi << 4 | lo)
    }
    return out
}
