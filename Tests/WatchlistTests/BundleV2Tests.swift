import Crypto
import Testing
import VigilCore
import Watchlist

/// A list whose entry `i` has one row at cosine `cosines[i]` to the probe `e0` (the row is
/// cos·e0 + sin·e(i+1)), calibrated to `thresholds[i]` when given (format v2), floor 0.5.
struct ScoredList {
    var header: WatchlistHeader
    var entries: [WatchlistEntry] = []
    var matrix: [Int8] = []
    var scales: [Float] = []
    var calibrations: [EntryCalibration]?

    init(cosines: [Float], thresholds: [Float]?, floor: Float = 0.5, dimension: Int = 128) {
        header = WatchlistHeader(listVersion: 3, issued: t0 - day, expires: t0 + 30 * day, maximumStaleness: 14 * day,
                                 embedder: testEmbedder, mode: .alert, thresholdFloor: floor, dimension: dimension,
                                 targetFalseMatchRate: thresholds == nil ? nil : 1e-4)
        for (i, c) in cosines.enumerated() {
            var id = [UInt8](repeating: 0, count: 16)
            id[0] = UInt8(i & 0xff); id[1] = UInt8(i >> 8); id[15] = 0xC2
            entries.append(WatchlistEntry(id: id, expires: t0 + 30 * day, category: 1, legalBasis: "case \(i)", firstRow: i, rowCount: 1))
            var v = [Float](repeating: 0, count: dimension)
            v[0] = c; v[1 + i % (dimension - 1)] = (1 - c * c).squareRoot()
            let (q, s) = WatchlistIndex.quantize(v)
            matrix += q; scales.append(s)
        }
        calibrations = thresholds.map { ts in
            ts.map { EntryCalibration(threshold: $0, tailStart: 0.4, tailScale: 0.05, tailMass: 0.02) }
        }
    }

    func build(_ signer: AuthorityPrivateKey) throws -> [UInt8] {
        try WatchlistBundle.build(header: header, entries: entries, matrix: matrix, scales: scales,
                                  calibrations: calibrations, signer: signer)
    }

    static var probe: [Float] { var f = [Float](repeating: 0, count: 128); f[0] = 1; return f }
}

/// Re-signs `bytes` after `edit` changed its signed part: the parser, not the signature or the
/// builder, is then what must refuse.
func resigned(_ bytes: [UInt8], _ signer: AuthorityPrivateKey, _ edit: (inout [UInt8]) -> Void) throws -> [UInt8] {
    var body = Array(bytes.dropLast(BundleLayout.signatureSize))
    edit(&body)
    return body + Array(try signer.key.signature(for: body))
}

func putF32(_ b: inout [UInt8], at o: Int, _ v: Float) {
    let u = v.bitPattern
    for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: u >> (8 * UInt32(i))) }
}

@Suite("Watchlist bundle format 2 (per-entry calibration)")
struct BundleV2Tests {
    let active = WatchlistHealth.active(version: 3)

    @Test func roundTrip() throws {
        let key = AuthorityPrivateKey()
        let list = ScoredList(cosines: [0.9, 0.8, 0.7], thresholds: [0.6, 0.75, 0.95])
        let bytes = try list.build(key)
        let b = try WatchlistBundle(parsing: bytes)
        try b.verify(with: key.publicKey)
        #expect(b.formatVersion == 2)
        #expect(b.calibrations == list.calibrations)
        #expect(b.header.targetFalseMatchRate == Double(Float(1e-4)))
        #expect(b.entries == list.entries && b.matrix == list.matrix && b.scales == list.scales)
        #expect(bytes.count == BundleLayout.signedSizeV2(entries: 3, rows: 3, dimension: 128) + 64)
        #expect(BundleLayout.calibrationsOffset(entries: 3, rows: 3, dimension: 128) % 16 == 0)
        #expect(b.entryThreshold(2) == 0.95)
        // the same list without calibrations is format 1, byte for byte the old layout
        var v1 = list; v1.calibrations = nil
        let old = try WatchlistBundle(parsing: try v1.build(key))
        #expect(old.formatVersion == 1 && old.calibrations == nil && old.header.targetFalseMatchRate == nil)
        #expect(old.raw.count == BundleLayout.signedSize(entries: 3, rows: 3, dimension: 128) + 64)
        #expect(old.entryThreshold(2) == 0.5)
    }

    @Test func formatOneStillParsesAndInstalls() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let authority = AuthorityPrivateKey()
        let s = try WatchlistStore(directory: dir, authority: authority.publicKey, embedder: testEmbedder, now: { t0 })
        let v1 = try makeBundle(version: 1, signer: authority)
        #expect(try WatchlistBundle(parsing: v1).calibrations == nil)
        _ = try s.install(v1)
        #expect(s.load().health == .active(version: 1))
        // and a v2 list installs over it and loads back with its calibrations
        var list = ScoredList(cosines: [0.9, 0.8], thresholds: [0.6, 0.7])
        list.header.listVersion = 2
        _ = try s.install(try list.build(authority))
        let (loaded, health) = s.load()
        #expect(health == .active(version: 2))
        #expect(loaded?.calibrations == list.calibrations)
    }

    @Test func everyCalibrationByteIsCovered() throws {
        let key = AuthorityPrivateKey()
        let bytes = try ScoredList(cosines: [0.9, 0.8, 0.7], thresholds: [0.6, 0.75, 0.95]).build(key)
        let start = BundleLayout.calibrationsOffset(entries: 3, rows: 3, dimension: 128)
        #expect(start + 48 == bytes.count - 64)
        // ...and the header's operating point and table offset
        for i in Array(192..<204) + Array(start..<(start + 48)) {
            var t = bytes
            t[i] ^= 0x01
            do {
                let b = try WatchlistBundle(parsing: t)
                #expect(throws: WatchlistError.badSignature) { try b.verify(with: key.publicKey) }
            } catch {
                // refused by structure instead (an out-of-range value): also never used
                #expect(error != .badSignature)
            }
        }
    }

    @Test func parserRefusesBadCalibrations() throws {
        let key = AuthorityPrivateKey()
        let bytes = try ScoredList(cosines: [0.9, 0.8, 0.7], thresholds: [0.6, 0.75, 0.95]).build(key)
        let table = BundleLayout.calibrationsOffset(entries: 3, rows: 3, dimension: 128)
        let cases: [(String, Int, Int, Float)] = [  // what, entry, field, value
            ("threshold below the floor", 1, 0, 0.45),
            ("NaN threshold", 2, 0, .nan),
            ("zero tail scale", 0, 2, 0),
            ("tail mass above 1", 1, 3, 1.5),
            ("infinite tail start", 0, 1, .infinity),
        ]
        for (what, entry, field, value) in cases {
            let bad = try resigned(bytes, key) { putF32(&$0, at: table + entry * 16 + field * 4, value) }
            do {
                _ = try WatchlistBundle(parsing: bad)
                Issue.record("\(what): parsed")
            } catch {
                guard case .badCalibration(let i, let id, let reason) = error else { Issue.record("\(what): \(error)"); continue }
                #expect(i == entry, "\(what)")
                #expect(id.hasPrefix(String(format2hex(UInt8(entry)))), "\(what): \(id)")
                if field == 0 && value == 0.45 { #expect(reason.contains("below the list's floor")) }
                #expect(error.description.contains("entry \(entry)"))
            }
        }
        // an operating point outside (0, 1) and a wrong table offset are refused too
        for (o, v) in [(192, Float(0)), (192, Float(1)), (192, Float.nan)] {
            let bad = try resigned(bytes, key) { putF32(&$0, at: o, v) }
            #expect(throws: WatchlistError.self) { try WatchlistBundle(parsing: bad) }
        }
        let shifted = try resigned(bytes, key) { $0[196] &+= 16 }
        #expect(throws: WatchlistError.badField("calibrations offset \(table + 16)")) { try WatchlistBundle(parsing: shifted) }
        // a v1 file with a nonzero byte where v2 keeps its operating point stays refused
        let v1 = try makeBundle(version: 1, signer: key)
        let dirty = try resigned(v1, key) { $0[193] = 1 }
        #expect(throws: WatchlistError.badField("reserved header bytes are not 0")) { try WatchlistBundle(parsing: dirty) }
        #expect(WatchlistError.unsupportedFormat(3).description.contains("reads 1 and 2"))
    }

    @Test func builderRefusesMismatchedCalibrations() throws {
        var list = ScoredList(cosines: [0.9, 0.8], thresholds: [0.6, 0.7])
        list.calibrations = [list.calibrations![0]]
        #expect(throws: WatchlistError.self) { try list.build(AuthorityPrivateKey()) }
        list = ScoredList(cosines: [0.9, 0.8], thresholds: [0.6, 0.7])
        list.header.targetFalseMatchRate = nil
        #expect(throws: WatchlistError.self) { try list.build(AuthorityPrivateKey()) }
    }

    @Test func matcherJudgesEachEntryByItsOwnThreshold() throws {
        let key = AuthorityPrivateKey()
        // entry 0 scores 0.8 but is calibrated to 0.9; entry 1 scores 0.7 against 0.6
        let b = try WatchlistBundle(parsing: try ScoredList(cosines: [0.8, 0.7], thresholds: [0.9, 0.6]).build(key))
        let m = try WatchlistMatcher(bundle: b, now: t0)
        let r = m.match([ScoredList.probe], now: t0, health: active)[0]
        #expect(r.map { $0.entryID[0] } == [1])
        let hit = try #require(r.first)
        #expect(hit.threshold == 0.6)
        #expect(abs(hit.score - 0.7) < 0.02)
        let rate = try #require(hit.estimatedFalseMatchRate)
        #expect(abs(rate - b.calibrations![1].falseMatchRate(at: hit.score)) < 1e-12)
        // a configured threshold above an entry's raises it (and never lowers entry 0's)
        let strict = try WatchlistMatcher(bundle: b, now: t0, configuredThreshold: 0.75)
        #expect(strict.match([ScoredList.probe], now: t0, health: active)[0].isEmpty)
        let all = strict.search([ScoredList.probe], top: 5, now: t0, health: active)[0]
        #expect(all.map(\.threshold) == [0.9, 0.75])
        #expect(all.map(\.match) == [false, false])
        // a v1 list: the floor for every entry, no stated rate
        var v1 = ScoredList(cosines: [0.8, 0.7], thresholds: nil)
        v1.header.thresholdFloor = 0.65
        let m1 = try WatchlistMatcher(bundle: try WatchlistBundle(parsing: try v1.build(key)), now: t0)
        let r1 = m1.match([ScoredList.probe], now: t0, health: active)[0]
        #expect(r1.map { $0.entryID[0] } == [0, 1])
        #expect(r1.allSatisfy { $0.threshold == 0.65 && $0.estimatedFalseMatchRate == nil })
    }

    /// 40 entries score higher than the one that passes but each fails its own threshold: the
    /// first 32 rows the index returns hold none that pass; the matcher must read on.
    @Test func passingEntryBehindManyFailingRowsIsFound() throws {
        let key = AuthorityPrivateKey()
        let cosines = [Float](repeating: 0.95, count: 40) + [0.8] + [Float](repeating: 0.3, count: 20)
        let thresholds = [Float](repeating: 0.99, count: 40) + [0.6] + [Float](repeating: 0.6, count: 20)
        let b = try WatchlistBundle(parsing: try ScoredList(cosines: cosines, thresholds: thresholds).build(key))
        let m = try WatchlistMatcher(bundle: b, now: t0)
        let faces = [ScoredList.probe, ScoredList.probe.map { -$0 }]  // the second matches nothing
        let r = m.match(faces, now: t0, health: active)
        #expect(r[0].map { $0.entryID[0] } == [40])
        #expect(r[1].isEmpty)
        // search: top 5 are the failing high scorers; top 50 reaches the passing one
        let top5 = m.search(faces, top: 5, now: t0, health: active)[0]
        #expect(top5.count == 5 && top5.allSatisfy { !$0.match && $0.threshold == 0.99 && $0.score > 0.9 })
        let top50 = m.search(faces, top: 50, now: t0, health: active)
        #expect(top50[0].count == 50 && top50[1].count == 50)
        #expect(top50[0].filter(\.match).map(\.row) == [40])
        #expect(zip(top50[0], top50[0].dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(Set(top50[0].map(\.row)).count == 50)  // one entry once
    }

    @Test func searchAgreesWithMatch() throws {
        let key = AuthorityPrivateKey()
        // two rows for entry 1: search reports it once, with its best row
        var list = ScoredList(cosines: [0.9, 0.85, 0.7, 0.62, 0.4], thresholds: [0.95, 0.8, 0.65, 0.6, 0.5])
        list.entries[1].rowCount = 2
        for i in 2..<list.entries.count { list.entries[i].firstRow += 1 }
        var extra = [Float](repeating: 0, count: 128); extra[0] = 0.6; extra[127] = 0.8
        let (q, s) = WatchlistIndex.quantize(extra)
        list.matrix.insert(contentsOf: q, at: 2 * 128); list.scales.insert(s, at: 2)
        let b = try WatchlistBundle(parsing: try list.build(key))
        let m = try WatchlistMatcher(bundle: b, now: t0)
        let faces = [ScoredList.probe, [Float](repeating: 0.088388, count: 128)]
        let searched = m.search(faces, top: 10, now: t0, health: active)
        let matched = m.match(faces, now: t0, health: active)
        // every entry ranked (entry 4 too, below its threshold), best first
        #expect(searched[0].map(\.row) == [0, 1, 2, 3, 4])
        #expect(searched[0].map(\.match) == [false, true, true, true, false])
        for (s, mt) in zip(searched, matched) {
            let kept = s.filter(\.match)
            #expect(kept.map(\.entryID) == mt.map(\.entryID))
            #expect(kept.map(\.score) == mt.map(\.score))
            #expect(kept.map(\.threshold) == mt.map(\.threshold))
            #expect(kept.map(\.estimatedFalseMatchRate) == mt.map(\.estimatedFalseMatchRate))
        }
        // health that forbids matching forbids searching too
        #expect(m.search(faces, top: 10, now: t0, health: .none).allSatisfy { $0.isEmpty })
        #expect(m.search(faces, top: 0, now: t0, health: active).allSatisfy { $0.isEmpty })
    }
}

func format2hex(_ b: UInt8) -> String { hex([b]) }

@Suite("Watchlist bundle format 2: builder forms")
struct BundleV2BuildFormTests {
    @Test func operatingPointPassedApartEqualsInHeader() throws {
        let key = AuthorityPrivateKey()
        var list = ScoredList(cosines: [0.9, 0.8], thresholds: [0.6, 0.7])
        let inHeader = try WatchlistBundle(parsing: try list.build(key))
        list.header.targetFalseMatchRate = nil
        let apart = try WatchlistBundle(parsing: try WatchlistBundle.build(
            header: list.header, entries: list.entries, matrix: list.matrix, scales: list.scales,
            calibrations: list.calibrations!, targetFalseMatchRate: 1e-4, signer: key))
        #expect(apart.signedBytes == inHeader.signedBytes)
        #expect(apart.header.targetFalseMatchRate == Double(Float(1e-4)))
    }
}
