import Imaging
import Testing
import VigilCore
import Faces

/// Vigil's own dlib 5-point predictor and 5-point chip against dlib itself (PyPI dlib-bin, what
/// face_recognition runs): scripts/optests/make_landmark_refs.py (make optests) ran dlib on the
/// PyPI photos and their mirrors, for HOG boxes and boxes shifted ±12 % and scaled 0.8–1.25, and
/// saved the exact pixels, dlib's integer landmarks and dlib.get_face_chip(…, 150, 0.25).
@Suite("dlib 5-point landmarks and chips: same as dlib")
struct ShapePredictorParityTests {
    static let dir: String = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/.cache/landmark-refs"
    }()

    struct Case { var image: String; var rect: Box; var points: [Point]; var chip: String }

    func load() throws -> (images: [String: RGBImage], cases: [Case]) {
        let text = String(decoding: try readFile(Self.dir + "/cases.txt"), as: UTF8.self)
        var images: [String: RGBImage] = [:], cases: [Case] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            if f[0] == "image" {
                let w = Int(f[2])!, h = Int(f[3])!
                var img = RGBImage(width: w, height: h)
                img.pixels = try readFile(Self.dir + "/" + f[1] + ".rgb")
                try #require(img.pixels.count == w * h * 3)
                images[f[1]] = img
            } else {
                let v = f[2...15].map { Double($0)! }
                // dlib rectangle(l, t, r, b) → Box(l, t, r - l, b - t) (see ShapePredictor.predict).
                let rect = Box(x: v[0], y: v[1], width: v[2] - v[0], height: v[3] - v[1])
                let pts = (0..<5).map { Point(x: v[4 + 2 * $0], y: v[5 + 2 * $0]) }
                cases.append(Case(image: f[1], rect: rect, points: pts, chip: f[16]))
            }
        }
        return (images, cases)
    }

    @Test func landmarksMatchDlibToItsIntegerRounding() throws {
        let sp = try ShapePredictor(serialized: try readFile(ShapePredictorTests_modelPath))
        let (images, cases) = try load()
        #expect(cases.count >= 100, "make optests writes ~130 cases")
        var worst = 0.0, within = 0, total = 0
        for c in cases {
            let ours = sp.predict(images[c.image]!, rect: c.rect)
            for (o, d) in zip(ours, c.points) {
                // dlib rounds each landmark to a whole pixel; ours is the unrounded value.
                let e = max(abs(o.x - d.x), abs(o.y - d.y))
                worst = max(worst, e)
                if e <= 0.5 + 1e-3 { within += 1 }
                total += 1
            }
        }
        print("landmarks vs dlib: \(within)/\(total) within dlib's rounding (0.5 px), worst \(worst) px")
        #expect(Double(within) >= 0.99 * Double(total))
        #expect(worst <= 1.5)
    }

    @Test func chipsMatchDlibsGetFaceChip() throws {
        let (images, cases) = try load()
        var worstMean = 0.0, large = 0.0
        for c in cases {
            let ours = try #require(FaceAligner.dlib5Point.align(images[c.image]!, landmarks: c.points))
            let theirs = try readFile(Self.dir + "/" + c.chip + ".rgb")
            try #require(ours.width == 150 && ours.height == 150 && theirs.count == ours.pixels.count)
            var sum = 0
            for (a, b) in zip(ours.pixels, theirs) { sum += abs(Int(a) - Int(b)) }
            let mean = Double(sum) / Double(theirs.count)
            let eyes = ((c.points[0].x - c.points[2].x) * (c.points[0].x - c.points[2].x) + (c.points[0].y - c.points[2].y) * (c.points[0].y - c.points[2].y)).squareRoot()
            // Faces whose chip is cut at more than 2× reduction: dlib first builds an image
            // pyramid (pyramid_down<2>) there; Vigil samples the full image (not reproduced).
            if eyes * 150 / 73.5 > 2 * 150 { large = max(large, mean); continue }
            worstMean = max(worstMean, mean)
        }
        print("chips vs dlib.get_face_chip: worst mean |diff| \(worstMean) (0..255); faces above 2x reduction \(large)")
        #expect(worstMean < 0.02)
        #expect(large < 5)
    }
}

let ShapePredictorTests_modelPath: String = {
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/models/shape_predictor_5.dat"
}()
