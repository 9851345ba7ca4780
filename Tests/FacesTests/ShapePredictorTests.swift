import Foundation
import Imaging
import Testing
import VigilCore
import Faces
import VigilTestSupport

/// The dlib 5-point model, read by our own parser: from models/ when `make models` put it there.
private func realModelBytes() -> [UInt8]? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return FileManager.default.contents(atPath: root.appendingPathComponent("models/shape_predictor_5.dat").path).map { [UInt8]($0) }
}

private func tinyPredictorBytes(idx1: Int64 = 0, anchor: Int64 = 1) -> [UInt8] {
    DlibShapePredictorWriter.tiny(idx1: idx1, anchor: anchor)
}
private let enc = DlibShapePredictorWriter.integer
private let encf = DlibShapePredictorWriter.float

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
