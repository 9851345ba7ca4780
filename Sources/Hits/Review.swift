// What `hits open` shows a reviewer: which files of a drop it reads, and each opened record as
// one JSON object. Library code, so the command stays thin and the rules are unit-tested: a
// record's text fields (camera name, embedder id) come from a device, and file names from a
// WebDAV drop any fleet certificate can write to — none of it may break the JSON or reach the
// terminal as control characters.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilCore
import Watchlist

/// The files of a hits drop (or an outbox copy) that are records, and the ones passed over.
public struct RecordFileListing: Sendable, Equatable {
    /// Record files to open, each directory's sorted by name.
    public var files: [String]
    /// Names passed over and why (`.hidden`, `x.tmp`, the outbox's `sequence` file, a
    /// sub-directory, a symlink): counted in the summary line, so nothing disappears silently.
    public var skipped: [(path: String, reason: String)]

    public static func == (a: Self, b: Self) -> Bool {
        a.files == b.files && a.skipped.map(\.path) == b.skipped.map(\.path) && a.skipped.map(\.reason) == b.skipped.map(\.reason)
    }

    /// Expands `paths`: a directory gives its entries (not recursively), anything else is taken
    /// as a record file (and fails later, with its own error, if it is not one).
    public static func collect(_ paths: [String]) throws(FileError) -> RecordFileListing {
        var out = RecordFileListing(files: [], skipped: [])
        for p in paths {
            var st = stat()
            guard stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { out.files.append(p); continue }
            guard let d = opendir(p) else { throw FileError(path: p, operation: "open directory", errno: .current) }
            var names: [String] = []
            while let e = readdir(d) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if n != "." && n != ".." { names.append(n) }
            }
            closedir(d)
            for n in names.sorted() {
                let full = p + "/" + n
                var ls = stat()
                let kind: mode_t = lstat(full, &ls) == 0 ? ls.st_mode & S_IFMT : 0
                if n.hasPrefix(".") { out.skipped.append((full, "hidden")) }
                else if n.hasSuffix(".tmp") { out.skipped.append((full, "temporary (an upload in progress)")) }
                else if n == "sequence" { out.skipped.append((full, "the outbox's sequence file")) }
                else if kind == S_IFLNK { out.skipped.append((full, "a symbolic link")) }
                else if kind != S_IFREG { out.skipped.append((full, "not a regular file")) }
                else { out.files.append(full) }
            }
        }
        return out
    }
}

/// A record id in lowercase 8-4-4-4-12 form: the only thing that goes into an upload URL, and
/// the only file name the hits drop (and the station's ingest) accepts.
public func isRecordID(_ s: String) -> Bool {
    let u = Array(s.utf8)
    guard u.count == 36 else { return false }
    for (i, c) in u.enumerated() {
        if i == 8 || i == 13 || i == 18 || i == 23 { if c != 0x2D { return false } } else if !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) { return false }
    }
    return true
}

extension HitBody {
    /// The record and its body as one JSON object (one line), every string escaped.
    public func json(record r: SealedRecord) -> JSON {
        var fields: [(String, JSON)] = [
            ("record", .string(r.idString)), ("sequence", .uint(r.sequence)),
            ("created_ms", .int(Int(r.createdMillis))), ("device", .string(hex(r.deviceKeyID.prefix(8)))),
            ("camera", .string(cameraID)), ("capture_ms", .int(Int(captureWallMillis))),
            ("clock_synchronized", clockSynchronized.map { JSON.bool($0) } ?? .null),
            ("watchlist_version", .uint(watchlistVersion)), ("entry", .string(hex(entryID))),
            ("score", .float(score)), ("threshold", .float(threshold)),
            ("embedder", .string(embedderID)), ("quality", .float(quality)),
            ("box", .array(box.map { .float($0) })), ("mode", .string(mode.description)),
            ("crop_bytes", .int(crop.count)),
        ]
        fields.append(("estimated_false_match_rate", estimatedFalseMatchRate.map { JSON.double($0) } ?? .null))
        fields.append(("operating_point", operatingPoint.map { JSON.double($0) } ?? .null))
        fields.append(("note", .string(HitBody.marker)))
        return .object(fields)
    }
}
