import Hits
import Testing
import VigilCore
import Watchlist

@Suite("Hit record body version 3 (estimated false-match rate, operating point)")
struct RecordV3Tests {
    let device = DeviceSigningKey(), agency = AgencyPrivateKey()

    func body(rate: Double?, point: Double?) -> HitBody {
        var b = sampleBody(9, crop: 40)
        b.clockSynchronized = true
        b.estimatedFalseMatchRate = rate
        b.operatingPoint = point
        return b
    }

    func sealOpen(_ b: HitBody) throws -> HitBody {
        let r = try SealedRecord.seal(b, id: makeUUIDv7(millis: 1_795_000_000_000), sequence: 1, createdMillis: 1_795_000_000_000,
                                      device: device, agency: agency.publicKey)
        return try SealedRecord(parsing: r.bytes).open(agency: agency, devices: [device.publicKey])
    }

    @Test func roundTrip() throws {
        let b = body(rate: 2.08e-5, point: 1e-4)
        let opened = try sealOpen(b)
        #expect(opened == b)
        #expect(opened.estimatedFalseMatchRate == 2.08e-5 && opened.operatingPoint == 1e-4)
        // unknown (a v1 list) stays unknown, not 0
        let unknown = try sealOpen(body(rate: nil, point: nil))
        #expect(unknown.estimatedFalseMatchRate == nil && unknown.operatingPoint == nil)
        #expect(try SealedRecord.encodeBody(b)[0] == 3)
    }

    @Test func versionOneAndTwoBodiesStillOpen() throws {
        let b = body(rate: 3e-6, point: 1e-4)
        let v1 = try SealedRecord.decodeBody(try SealedRecord.encodeBody(b, version: 1))
        let v2 = try SealedRecord.decodeBody(try SealedRecord.encodeBody(b, version: 2))
        #expect(v1.clockSynchronized == nil && v1.estimatedFalseMatchRate == nil && v1.operatingPoint == nil)
        #expect(v2.clockSynchronized == true && v2.estimatedFalseMatchRate == nil && v2.operatingPoint == nil)
        var expected = b
        expected.estimatedFalseMatchRate = nil; expected.operatingPoint = nil
        #expect(v2 == expected)
        expected.clockSynchronized = nil
        #expect(v1 == expected)
        // sizes differ exactly by the fields each version adds
        #expect(try SealedRecord.encodeBody(b, version: 3).count == SealedRecord.encodeBody(b, version: 2).count + 16)
        #expect(try SealedRecord.encodeBody(b, version: 2).count == SealedRecord.encodeBody(b, version: 1).count + 1)
    }

    @Test func outOfRangeRatesAreRefused() throws {
        #expect(throws: HitRecordError.self) { try SealedRecord.encodeBody(body(rate: 1.5, point: 1e-4)) }
        #expect(throws: HitRecordError.self) { try SealedRecord.encodeBody(body(rate: -1e-3, point: nil)) }
        #expect(throws: HitRecordError.self) { try SealedRecord.encodeBody(body(rate: nil, point: .infinity)) }
        // a body claiming a rate of 2 or infinity is malformed, not shown
        var p = try SealedRecord.encodeBody(body(rate: 1e-5, point: 1e-4))
        for (i, byte) in Double(2).bitPattern.littleEndianBytes.enumerated() { p[p.count - 16 + i] = byte }
        #expect(throws: HitRecordError.self) { try SealedRecord.decodeBody(p) }
        // a truncated v3 body (rates cut off) is refused, not read as v2
        let q = try SealedRecord.encodeBody(body(rate: 1e-5, point: 1e-4))
        #expect(throws: HitRecordError.self) { try SealedRecord.decodeBody(Array(q.dropLast(8))) }
    }
}

extension UInt64 {
    var littleEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * UInt64($0))) } }
}
