import Faces
import Imaging
import Testing
import VigilCore
import VigilTestSupport

func det(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ s: Double, _ lm: [Point] = []) -> Detection {
    Detection(box: Box(x: x, y: y, width: w, height: h), score: s, landmarks: lm)
}

@Suite("Boxes and non-maximum suppression")
struct NMSTests {
    @Test func iou() {
        let a = Box(x: 0, y: 0, width: 10, height: 10)
        #expect(a.iou(a) == 1)
        #expect(a.iou(Box(x: 5, y: 0, width: 10, height: 10)) == 50.0 / 150.0)
        #expect(a.iou(Box(x: 20, y: 20, width: 5, height: 5)) == 0)
        #expect(a.iou(Box(x: 0, y: 0, width: 0, height: 0)) == 0)
    }

    @Test func weightedNMSAveragesAClusterAndKeepsSeparateFaces() {
        let a = det(0, 0, 10, 10, 0.9, [Point(x: 2, y: 2)])
        let b = det(2, 0, 10, 10, 0.6, [Point(x: 4, y: 2)])  // overlaps a (IoU 0.67)
        let c = det(50, 50, 10, 10, 0.8, [Point(x: 52, y: 52)])
        let out = NonMaxSuppression.weighted([b, c, a], iouThreshold: 0.3)
        #expect(out.count == 2)
        #expect(out[0].score == 0.9)
        #expect(abs(out[0].box.x - 0.8) < 1e-9)  // (0*0.9 + 2*0.6) / 1.5
        #expect(abs(out[0].landmarks[0].x - 2.8) < 1e-9)
        #expect(out[1] == c)
        #expect(NonMaxSuppression.hard([b, c, a], iouThreshold: 0.3) == [a, c])
    }
}

@Suite("BlazeFace decoding")
struct BlazeFaceTests {
    @Test func anchorsFollowMediaPipeFullRange() {
        let d = BlazeFaceDecoder()
        #expect(d.anchors.count == 2304)
        #expect(d.anchors[0] == Point(x: 0.5 / 48, y: 0.5 / 48))
        #expect(d.anchors[48] == Point(x: 0.5 / 48, y: 1.5 / 48))
        #expect(d.anchors[2303] == Point(x: 47.5 / 48, y: 47.5 / 48))
    }

    @Test func decodesOneFaceFromNearbyAnchorsAndDropsLowScores() {
        let d = BlazeFaceDecoder()
        var reg = [Float](repeating: 0, count: 2304 * 16)
        var scores = [Float](repeating: -10, count: 2304)
        // A 48x48 px face centred at (96, 96) px: anchors around cell (24, 24) all vote for it.
        for (cy, cx) in [(23, 23), (23, 24), (24, 23), (24, 24)] {
            let i = cy * 48 + cx
            let a = d.anchors[i]
            reg[i * 16 + 0] = Float((0.5 - a.x) * 192)
            reg[i * 16 + 1] = Float((0.5 - a.y) * 192)
            reg[i * 16 + 2] = 48
            reg[i * 16 + 3] = 48
            for k in 0..<6 {  // keypoints at the centre, offset by k px in x
                reg[i * 16 + 4 + 2 * k] = Float((0.5 - a.x) * 192 + Double(k))
                reg[i * 16 + 5 + 2 * k] = Float((0.5 - a.y) * 192)
            }
            scores[i] = 3
        }
        scores[100] = 0.2  // probability 0.55 < 0.6: dropped
        let out = d.decode(regressors: reg, scores: scores)
        #expect(out.count == 1)
        let f = out[0]
        #expect(abs(f.box.center.x - 0.5) < 1e-6 && abs(f.box.center.y - 0.5) < 1e-6)
        #expect(abs(f.box.width - 0.25) < 1e-6)
        #expect(abs(f.score - 1 / (1 + exp(-3.0))) < 1e-9)
        #expect(f.landmarks.count == 6)
        #expect(abs(f.landmarks[5].x - (0.5 + 5.0 / 192)) < 1e-6)
        #expect(d.decode(regressors: [], scores: []).isEmpty, "short outputs give no faces, not a crash")
    }
}

@Suite("Letterbox and tiles")
struct LetterboxTests {
    @Test func letterboxMapsBackExactly() {
        let lb = Letterbox(source: Size(width: 1280, height: 720), target: Size(width: 192, height: 192))
        #expect(lb.content == Rect(x: 0, y: 42, width: 192, height: 108))
        // A face at (640, 360, 100x100) in the frame...
        let s = lb.scaleX
        let inModel = det(640 * s, 360 * lb.scaleY + 42, 100 * s, 100 * lb.scaleY, 1, [Point(x: 700 * s, y: 400 * lb.scaleY + 42)])
        let back = lb.unmap(pixels: inModel)
        #expect(abs(back.box.x - 640) < 1e-9 && abs(back.box.y - 360) < 1e-9)
        #expect(abs(back.box.width - 100) < 1e-9 && abs(back.box.height - 100) < 1e-9)
        #expect(abs(back.landmarks[0].x - 700) < 1e-9 && abs(back.landmarks[0].y - 400) < 1e-9)
        let norm = lb.unmap(normalized: inModel.mapped(scaleX: 1.0 / 192, scaleY: 1.0 / 192, dx: 0, dy: 0))
        #expect(abs(norm.box.x - 640) < 1e-9)
    }

    @Test func letterboxImagePadsWithBlackAroundTheContent() {
        let img = SyntheticImages.generate(width: 64, height: 32) { _, _ in (200, 100, 50) }
        let lb = Letterbox(source: img.size, target: Size(width: 32, height: 32))
        let out = lb.apply(img)
        #expect(out.size == Size(width: 32, height: 32))
        #expect(out.pixel(x: 16, y: 2) == (0, 0, 0))
        #expect(out.pixel(x: 16, y: 16) == (200, 100, 50))
        #expect(out.pixel(x: 16, y: 29) == (0, 0, 0))
    }

    @Test func tilesCoverTheFrameWithOverlap() {
        let plan = TilePlan(frame: Size(width: 1280, height: 720), tileSize: Size(width: 480, height: 480), minOverlap: 96)
        #expect(plan.tiles.count == 8)  // 4 across (3 would cover only 1248 px with 96 px overlaps), 2 down
        #expect(plan.tiles.first == Rect(x: 0, y: 0, width: 480, height: 480))
        #expect(plan.tiles.last == Rect(x: 800, y: 240, width: 480, height: 480))
        for y in stride(from: 0, to: 720, by: 37) {
            for x in stride(from: 0, to: 1280, by: 41) {
                #expect(plan.tiles.contains { x >= $0.x && x < $0.maxX && y >= $0.y && y < $0.maxY })
            }
        }
        // Neighbours overlap by at least minOverlap.
        #expect(plan.tiles[0].maxX - plan.tiles[1].x >= 96)
        #expect(TilePlan(frame: Size(width: 320, height: 240), tileSize: Size(width: 480, height: 480), minOverlap: 96).tiles == [Rect(x: 0, y: 0, width: 320, height: 240)])
    }

    @Test func cutFacesAtInnerTileEdgesAreDroppedAndDuplicatesMerged() {
        let plan = TilePlan(frame: Size(width: 1280, height: 720), tileSize: Size(width: 480, height: 480), minOverlap: 96)
        let whole = [det(100, 100, 200, 200, 0.9)]  // a large face, seen by the whole-frame pass
        var perTile = Array(repeating: [Detection](), count: plan.tiles.count)
        perTile[0] = [det(102, 101, 198, 199, 0.8),  // the same face, also whole in tile 0
                      det(440, 300, 40, 40, 0.7)]    // cut by tile 0's right edge (x 480)
        perTile[1] = [det(450, 300, 40, 40, 0.75)]   // the same small face, whole in tile 1
        let merged = plan.merge(whole: whole, perTile: perTile)
        #expect(merged.count == 2)
        #expect(merged.contains { abs($0.box.x - 450) < 1e-9 })
    }
}

@Suite("Tile rotation (small faces searched in turn)")
struct TileRotationTests {
    let plan = TilePlan(frame: Size(width: 1280, height: 720), tileSize: Size(width: 384, height: 384), minOverlap: 96)

    @Test func zeroMeansEveryTileEveryFrame() {
        var r = TileRotation(perFrame: 0)
        #expect(plan.tiles.count == 15)
        for _ in 0..<3 { #expect(r.pick(plan) == Array(0..<15)) }
        var big = TileRotation(perFrame: 40)
        #expect(big.pick(plan) == Array(0..<15))
    }

    @Test func everyTileWithinCeilTilesOverPerFrameFrames() {
        var r = TileRotation(perFrame: 4)
        var seen: [Int] = []
        for _ in 0..<4 {  // ⌈15 / 4⌉ = 4 frames
            let p = r.pick(plan)
            #expect(p.count == 4)
            seen += p
        }
        #expect(Set(seen) == Set(0..<15))
        #expect(seen.count == 16)  // one tile twice: the rotation wraps
    }

    @Test func aFaceOnlyTilesFoundIsSearchedAgainInTheNextFrame() {
        var r = TileRotation(perFrame: 3)
        _ = r.pick(plan)  // tiles 0, 1, 2
        // a small face far right, found by a tile; the whole-frame pass found only the big one
        let small = det(1180, 600, 30, 30, 0.8), big = det(100, 100, 200, 200, 0.9)
        r.update(result: [big, small], whole: [big])
        #expect(r.focus == [small.box])
        let next = r.pick(plan)  // rotation: 3, 4, 5 — plus the tile holding the small face
        let holding = next.filter { i in
            let t = plan.tiles[i]
            return 1180 >= t.x && 600 >= t.y && 1210 <= t.maxX && 630 <= t.maxY
        }
        #expect(next.count == 4 && holding.count == 1 && holding[0] == 14)
        // a face the whole-frame pass sees needs no tile
        r.update(result: [big], whole: [big])
        #expect(r.focus.isEmpty && r.pick(plan).count == 3)
    }

    @Test func aNewFrameSizeStartsOver() {
        var r = TileRotation(perFrame: 5)
        _ = r.pick(plan)
        r.update(result: [det(1180, 600, 30, 30, 0.8)], whole: [])
        let other = TilePlan(frame: Size(width: 1920, height: 1080), tileSize: Size(width: 384, height: 384), minOverlap: 96)
        #expect(r.pick(other) == [0, 1, 2, 3, 4])
        #expect(r.focus.isEmpty)
    }
}

@Suite("Quality gate, alignment, embeddings")
struct QualityTests {
    let frontal = [Point(x: 40, y: 50), Point(x: 80, y: 50), Point(x: 60, y: 70), Point(x: 60, y: 85)]

    @Test func yawFromKeypoints() {
        #expect(QualityGate.yaw(frontal) == 0)
        let turned = [Point(x: 40, y: 50), Point(x: 80, y: 50), Point(x: 76, y: 70)]
        #expect(abs(QualityGate.yaw(turned) - 0.4) < 1e-9)
    }

    @Test func sharpDetailPassesBlurAndSmallFacesFail() {
        let sharp = SyntheticImages.checkerboard(width: 150, height: 150, cell: 3)
        let flat = SyntheticImages.generate(width: 150, height: 150) { _, _ in (120, 120, 120) }
        let gate = QualityGate()
        let good = gate.assess(det(0, 0, 100, 100, 0.9, frontal), chip: sharp)
        #expect(good.passed, "\(good.reasons)")
        let blurred = gate.assess(det(0, 0, 100, 100, 0.9, frontal), chip: flat)
        #expect(blurred.reasons.count == 1 && blurred.reasons[0].hasPrefix("blurred"))
        let small = gate.assess(det(0, 0, 20, 20, 0.9, frontal), chip: sharp)
        #expect(small.reasons.count == 1 && small.reasons[0].hasPrefix("too small"))
        #expect(QualityGate.sharpness(sharp) > 1000)
        #expect(QualityGate.sharpness(flat) == 0)
    }

    @Test func alignmentPutsKeypointsOnTheTemplate() throws {
        let aligner = FaceAligner.dlibFromBlazeFace
        // Keypoints = template rotated by 20°, scaled ×2, shifted: the chip transform undoes it.
        let angle = 20.0 * Double.pi / 180
        let lm = aligner.template.map { p in
            Point(x: 2 * (p.x * cos(angle) - p.y * sin(angle)) + 300, y: 2 * (p.x * sin(angle) + p.y * cos(angle)) + 100)
        }
        let t = try #require(aligner.transform(for: lm))
        for (tp, p) in zip(aligner.template, lm) {
            let q = t.apply(tp)
            #expect(abs(q.x - p.x) < 1e-6 && abs(q.y - p.y) < 1e-6)
        }
        let frame = SyntheticImages.gradient(width: 640, height: 480)
        let chip = try #require(aligner.align(frame, landmarks: lm))
        #expect(chip.size == Size(width: 150, height: 150))
        #expect(aligner.align(frame, landmarks: [Point(x: 1, y: 1), Point(x: 1, y: 1)]) == nil)
    }

    @Test func embeddingsAreUnitLengthWithAnInt8Form() throws {
        let e = try #require(Embedding(raw: [3, 4]))
        #expect(e.values == [0.6, 0.8])
        #expect(abs(e.cosine(e) - 1) < 1e-6)
        #expect(e.int8 == [76, 102])
        #expect(Embedding(raw: [0, 0]) == nil)
        #expect(Embedding(raw: [.nan, 1]) == nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif

@Suite("YuNet decoding")
struct YuNetTests {
    @Test func decodesACellIntoAFaceAndAppliesTheScoreProduct() {
        let input = Size(width: 64, height: 32)
        #expect(YuNetDecoder.paddedSize(Size(width: 1280, height: 721)) == Size(width: 1280, height: 736))
        var heads: [YuNetDecoder.Head] = []
        for s in YuNetDecoder.strides {
            let cells = (64 / s) * (32 / s)
            heads.append(.init(cls: .init(repeating: 0, count: cells), obj: .init(repeating: 0, count: cells),
                               bbox: .init(repeating: 0, count: cells * 4), kps: .init(repeating: 0, count: cells * 10)))
        }
        // Stride 8: 8 cols x 4 rows; cell (row 1, col 2) = index 10.
        heads[0].cls[10] = 0.95; heads[0].obj[10] = 0.99
        heads[0].bbox[40] = 0.5; heads[0].bbox[41] = 0.25; heads[0].bbox[42] = Float(log(2.0)); heads[0].bbox[43] = 0
        heads[0].kps[100] = 0.5; heads[0].kps[101] = 0.5
        // A weak cell: sqrt(0.9 * 0.8) = 0.85 < 0.9.
        heads[0].cls[3] = 0.9; heads[0].obj[3] = 0.8
        let out = YuNetDecoder().decode(heads: heads, inputSize: input)
        #expect(out.count == 1)
        let f = out[0]
        #expect(abs(f.score - (0.95 * 0.99).squareRoot()) < 1e-6)
        #expect(abs(f.box.center.x - 20) < 1e-6 && abs(f.box.center.y - 10) < 1e-6)  // (2 + 0.5) * 8, (1 + 0.25) * 8
        #expect(abs(f.box.width - 16) < 1e-5 && abs(f.box.height - 8) < 1e-5)
        #expect(f.landmarks.count == 5 && abs(f.landmarks[0].x - 20) < 1e-6 && abs(f.landmarks[0].y - 12) < 1e-6)
        #expect(YuNetDecoder().decode(heads: [], inputSize: input).isEmpty)
    }
}

@Suite("Detection over whole frames and tiles")
struct DetectionTests {
    /// A grey 1280x720 frame with red squares ("faces") of the given sides at the given places.
    func frame(_ faces: [(Int, Int, Int)]) -> RGBImage {
        var img = SyntheticImages.generate(width: 1280, height: 720) { _, _ in (90, 90, 90) }
        for (fx, fy, side) in faces {
            for y in fy..<(fy + side) { for x in fx..<(fx + side) {
                let o = (y * 1280 + x) * 3
                img.pixels[o] = 230; img.pixels[o + 1] = 20; img.pixels[o + 2] = 20
            } }
        }
        return img
    }

    @Test func smallFacesNeedTilesAndComeBackInFramePixels() throws {
        let faces = [(100, 100, 24), (610, 300, 28), (1200, 650, 30), (400, 380, 200)]
        let img = frame(faces)
        let model = RedSquareDetector()
        let wholeOnly = try detectFaces(in: img, model: model, options: DetectionOptions(tiles: false))
        #expect(wholeOnly.count == 1, "at 192 px a 24-30 px face is ~4 px: only the large one is seen")
        let tiled = try detectFaces(in: img, model: model)
        #expect(tiled.count == 4)
        for (fx, fy, side) in faces {
            let truth = Box(x: Double(fx), y: Double(fy), width: Double(side), height: Double(side))
            #expect(tiled.contains { $0.box.iou(truth) > 0.6 }, "face at \(fx),\(fy) found in frame coordinates")
        }
    }

    @Test func aFaceAcrossATileBorderIsFoundOnce() throws {
        // 384 px tiles (96 px overlap) start at x = 0, 224, 448, 672, 896: a face at x 470..510 straddles tile borders.
        let img = frame([(470, 200, 40)])
        let found = try detectFaces(in: img, model: RedSquareDetector())
        #expect(found.count == 1)
        #expect(abs(found[0].box.x - 470) < 3 && abs(found[0].box.width - 40) < 6)
    }

    @Test func smallFramesAreNotTiled() throws {
        let model = RedSquareDetector()
        let img = SyntheticImages.generate(width: 320, height: 240) { _, _ in (0, 0, 0) }
        // No tiles: the whole frame, then (nothing found) the zoomed-out close-up pass.
        #expect(try detectFaces(in: img, model: model).isEmpty)
        #expect(model.calls == 2)
        let plain = RedSquareDetector()
        #expect(try detectFaces(in: img, model: plain, options: DetectionOptions(closeUpZoom: nil)).isEmpty)
        #expect(plain.calls == 1)
    }

    @Test func theCloseUpPassRunsOnlyWhenTheWholeFrameFoundNothing() throws {
        let model = RedSquareDetector()
        let img = frame([(100, 60, 40)])
        #expect(try detectFaces(in: img, model: model, options: DetectionOptions(tiles: false)).count == 1)
        #expect(model.calls == 1)
    }
}

@Suite("Verification metrics")
struct VerificationTests {
    let s = VerificationScores(genuine: [0.95, 0.90, 0.85, 0.60], impostor: [0.2, 0.3, 0.5, 0.88, 0.1, 0.0, 0.4, 0.35, 0.45, 0.25])

    @Test func ratesAtAThreshold() {
        #expect(s.falseMatchRate(at: 0.86) == 0.1)   // 0.88
        #expect(s.falseNonMatchRate(at: 0.86) == 0.5)  // 0.85, 0.60
        #expect(s.falseMatchRate(at: 0.95) == 0 && s.falseNonMatchRate(at: 0.95) == 0.75)
        #expect(abs(s.accuracy(at: 0.86) - (2 + 9) / 14.0) < 1e-12)
    }

    @Test func bestThresholdAndTAR() {
        let best = s.bestThreshold
        #expect(abs(best.accuracy - 13 / 14.0) < 1e-12)  // t in (0.5, 0.6]: only the 0.88 impostor is wrong
        #expect(best.threshold == 0.6)
        #expect(s.trueAcceptRate(atFalseMatchRate: 0.1) == 1.0)    // one impostor allowed above
        #expect(s.trueAcceptRate(atFalseMatchRate: 0.0) == 0.5)    // threshold just above 0.88
    }

    @Test func pairsFromLabels() throws {
        let e = { (x: Float, y: Float) in Embedding(raw: [x, y])! }
        let v = VerificationScores(labelled: [("a", e(1, 0)), ("a", e(1, 0.1)), ("b", e(0, 1))])
        #expect(v.genuine.count == 1 && v.impostor.count == 2)
        #expect(v.genuine[0] > 0.99)
    }
}
