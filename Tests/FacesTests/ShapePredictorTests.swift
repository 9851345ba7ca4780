import Foundation
import Imaging
import Testing
import VigilCore
import Faces

/// The dlib 5-point model, read by our own parser: from models/ when `make models` put it there.
private func realModelBytes() -> [UInt8]? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return FileManager.default.contents(atPath: root.appendingPathComponent("models/shape_predictor_5.dat").path).map { [UInt8]($0) }
}

/// dlib integer encoding, for building small predictors by hand.
private func enc(_ v: Int64) -> [UInt8] {
    var m = v.magnitude, b = [UInt8]()
    while m > 0 { b.append(UInt8(m & 0xFF)); m >>= 8 }
    return [UInt8(b.count) | (v < 0 ? 0x80 : 0)] + b
}

/// dlib float encoding m·2^e with a 24-bit mantissa: exact for any float.
private func encf(_ f: Float) -> [UInt8] {
    if f == 0 { return enc(0) + enc(0) }
    let e = Int64(f.exponent) - 23
    let m = Int64((Double(f) / pow(2, Double(e))).rounded())
    return enc(m) + enc(e)
}

/// A 2-landmark, 1-cascade, 1-tree (depth 1) predictor with 2 feature pixels.
private func tinyPredictorBytes(idx1: Int64 = 0, anchor: Int64 = 1) -> [UInt8] {
    var b = enc(1)
    b += enc(-4) + enc(-1) + [0.3, 0.4, 0.7, 0.6].flatMap(encf)
    b += enc(1) + enc(1)                                  // one cascade of one tree
    b += enc(1) + enc(idx1) + enc(1) + encf(10)           // one split
    b += enc(2)
    b += enc(-4) + enc(-1) + [0.01, 0, 0, 0].flatMap(encf)
    b += enc(-4) + enc(-1) + [-0.01, 0, 0, 0].flatMap(encf)
    b += enc(1) + enc(2) + enc(0) + enc(anchor)           // anchor_idx
    b += enc(1) + enc(2) + [0.05, 0, -0.05, 0].flatMap(encf)
    return b
}

@Suite struct ShapePredictorTests {
    @Test func parsesTheTinyPredictorAndPredicts() throws {
        let p = try ShapePredictor(serialized: tinyPredictorBytes())
        #expect(p.landmarkCount == 2)
        var img = RGBImage(width: 100, height: 100)
        for i in 0..<img.pixels.count { img.pixels[i] = 200 }
        let pts = p.predict(img, rect: Box(x: 0, y: 0, width: 100, height: 100))
        // Both features are 200: 0 > 10 is false → right leaf (-0.01 on x0).
        #expect(abs(pts[0].x - 29) < 1e-3)
        #expect(abs(pts[1].x - 70) < 1e-3)
    }

    @Test func everyTruncationIsATypedError() {
        let b = tinyPredictorBytes()
        for n in 0..<b.count {
            #expect(throws: ShapePredictorError.self) { _ = try ShapePredictor(serialized: Array(b.prefix(n))) }
        }
        #expect(throws: ShapePredictorError.trailingBytes(count: 1)) { _ = try ShapePredictor(serialized: b + [0]) }
    }

    @Test func badIndicesAndHugeCountsAreRefused() {
        #expect(throws: ShapePredictorError.badIndex(field: "cascade 0 split 0", index: 2, limit: 2)) {
            _ = try ShapePredictor(serialized: tinyPredictorBytes(idx1: 2))
        }
        #expect(throws: ShapePredictorError.badIndex(field: "anchor_idx[0]", index: 2, limit: 2)) {
            _ = try ShapePredictor(serialized: tinyPredictorBytes(anchor: 2))
        }
        let huge = enc(1) + enc(-4) + enc(-1) + [0.3, 0.4, 0.7, 0.6].flatMap(encf) + enc(1 << 40)
        #expect(throws: ShapePredictorError.outOfRange(field: "forests", value: 1 << 40)) {
            _ = try ShapePredictor(serialized: huge)
        }
        #expect(throws: ShapePredictorError.self) { _ = try ShapePredictor(serialized: [0x8F] + [UInt8](repeating: 0xFF, count: 20)) }
    }

    @Test func parsesDlibsFivePointModel() throws {
        let bytes = try #require(realModelBytes(), "models/shape_predictor_5.dat (make models)")
        let p = try ShapePredictor(serialized: bytes)
        #expect(p.landmarkCount == 5)
        #expect(p.cascades.count == 15)
    }

    @Test func dlibsFivePointsMapOntoTheTemplate() throws {
        let t = FaceAligner.dlib5Point.template
        #expect(t.count == 5)
        let tr = try #require(FaceAligner.dlib5Point.transform(for: t))
        // dlib samples chip pixel q at T(W/2 + m·(q − (W−1)/2)); with T the identity (s = 1,
        // m = 1) that is q + 0.5: dlib's half-pixel convention, reproduced.
        for q in t {
            let m = tr.apply(q)
            #expect(abs(m.x - q.x - 0.5) < 1e-9 && abs(m.y - q.y - 0.5) < 1e-9)
        }
    }
}
