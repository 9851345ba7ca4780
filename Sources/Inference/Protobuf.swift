/// A bounds-checked reader of the protobuf wire format, just enough for ONNX.
///
/// Every read checks the remaining length first and throws `ModelError.malformed` otherwise; no
/// read allocates more than the bytes it covers, so a hostile length cannot exhaust memory.
struct ProtoReader {
    let data: [UInt8]
    private(set) var position: Int
    let end: Int

    init(_ data: [UInt8]) { self.data = data; position = 0; end = data.count }
    init(_ data: [UInt8], range: Range<Int>) { self.data = data; position = range.lowerBound; end = range.upperBound }

    var isAtEnd: Bool { position >= end }

    enum WireType: Int { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ModelError.malformed("truncated varint at byte \(position)") }
            let byte = data[position]
            position += 1
            if shift == 63 && byte > 1 { throw ModelError.malformed("varint overflow at byte \(position)") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ModelError.malformed("varint too long at byte \(position)") }
        }
    }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wire: WireType)? {
        guard !isAtEnd else { return nil }
        let key = try varint()
        guard let wire = WireType(rawValue: Int(key & 7)) else {
            throw ModelError.malformed("unsupported wire type \(key & 7) at byte \(position)")
        }
        let number = Int(truncatingIfNeeded: key >> 3)
        guard number > 0 else { throw ModelError.malformed("field number 0 at byte \(position)") }
        return (number, wire)
    }

    mutating func lengthDelimited() throws -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - position) else {
            throw ModelError.malformed("length \(length) past the end of the message at byte \(position)")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw ModelError.malformed("truncated fixed32 at byte \(position)") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(data[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    mutating func fixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw ModelError.malformed("truncated fixed64 at byte \(position)") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(data[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        }
    }

    mutating func string() throws -> String {
        let r = try lengthDelimited()
        return String(decoding: data[r], as: UTF8.self)
    }

    mutating func int64() throws -> Int64 { Int64(bitPattern: try varint()) }

    /// A repeated varint field, packed (one length-delimited run) or not (one value).
    mutating func repeatedVarint(_ wire: WireType, into out: inout [Int64]) throws {
        if wire == .lengthDelimited {
            let r = try lengthDelimited()
            var sub = ProtoReader(data, range: r)
            while !sub.isAtEnd { out.append(Int64(bitPattern: try sub.varint())) }
        } else if wire == .varint {
            out.append(try int64())
        } else {
            throw ModelError.malformed("repeated integer field with wire type \(wire)")
        }
    }

    /// A repeated float field, packed or not.
    mutating func repeatedFloat(_ wire: WireType, into out: inout [Float]) throws {
        if wire == .lengthDelimited {
            let r = try lengthDelimited()
            guard r.count % 4 == 0 else { throw ModelError.malformed("packed float run of \(r.count) bytes") }
            var sub = ProtoReader(data, range: r)
            out.reserveCapacity(out.count + r.count / 4)
            while !sub.isAtEnd { out.append(Float(bitPattern: try sub.fixed32())) }
        } else if wire == .fixed32 {
            out.append(Float(bitPattern: try fixed32()))
        } else {
            throw ModelError.malformed("repeated float field with wire type \(wire)")
        }
    }

    /// A repeated double field, packed or not.
    mutating func repeatedDouble(_ wire: WireType, into out: inout [Double]) throws {
        if wire == .lengthDelimited {
            let r = try lengthDelimited()
            guard r.count % 8 == 0 else { throw ModelError.malformed("packed double run of \(r.count) bytes") }
            var sub = ProtoReader(data, range: r)
            while !sub.isAtEnd { out.append(Double(bitPattern: try sub.fixed64())) }
        } else if wire == .fixed64 {
            out.append(Double(bitPattern: try fixed64()))
        } else {
            throw ModelError.malformed("repeated double field with wire type \(wire)")
        }
    }
}
