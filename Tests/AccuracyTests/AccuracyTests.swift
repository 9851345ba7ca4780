import Faces
import FastKernels
import Inference
import Imaging
import Pipeline
import Testing
import VigilCore
import VigilTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Accuracy on photos every fresh machine gets from PyPI (the face_recognition and insightface
/// sdists, fetched and SHA-256-checked by `make setup`), with the int8 models built by
/// `make models`, on Vigil's own engine: the same checks as face_recognition's own tests.
@Suite("Accuracy on PyPI photos (int8 models on Vigil's engine)")
struct AccuracyTests {
    static let repo: String = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()
    static let photos = repo + "/.cache/photos"
    /// insightface's group photo, extracted (and SHA-256-checked) by the model pipeline.
    static let t1 = repo + "/.cache/models-work/inputs/t1.jpg"

    static func analyzer(embed: Bool) throws -> FaceAnalyzer {
        let models = repo + "/models"
        guard access(models + "/blazeface_full_int8.onnx", R_OK) == 0, access(models + "/dlib_resnet_int8.onnx", R_OK) == 0 else {
            throw Missing(what: "models missing in \(models): run `make models`")
        }
        return FaceAnalyzer(
            detector: try BlazeFaceModel(path: models + "/blazeface_full_int8.onnx"),
            embedder: embed ? try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx") : nil)
    }

    struct Missing: Error, CustomStringConvertible { var what: String; var description: String { what } }

    func largestFace(_ name: String, _ analyzer: FaceAnalyzer) throws -> Embedding {
        let (img, _) = try ImageFile.load(Self.photos + "/" + name)
        let faces = try analyzer.analyze(img, embed: true)
        return try #require(faces.first?.embedding, "\(name): no embedded face")
    }

    /// The issue's bar for the fast backend: embeddings of real faces from the fast and the
    /// reference backend have cosine ≥ 0.9999 — here they must be identical, as every int8 step is.
    @Test func fastAndReferenceBackendsGiveTheSameEmbeddings() throws {
        let models = Self.repo + "/models"
        let detector = try BlazeFaceModel(path: models + "/blazeface_full_int8.onnx")
        let fast = FaceAnalyzer(detector: detector, embedder: try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx", backend: FastBackend()))
        let reference = FaceAnalyzer(detector: detector, embedder: try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx", backend: ReferenceBackend()))
        for name in ["obama.jpg", "biden.jpg"] {
            let a = try largestFace(name, fast), b = try largestFace(name, reference)
            let c = a.cosine(b)
            print("\(name): fast vs reference embedding cosine \(c)")
            #expect(c >= 0.9999)
            #expect(a.values == b.values, "\(name): the fast backend's embedding differs from the reference's")
        }
    }

    @Test func obamaPhotosMatchAndBidenDoesNot() throws {
        let a = try Self.analyzer(embed: true)
        let obama = try ["obama.jpg", "obama2.jpg", "obama3.jpg"].map { try largestFace($0, a) }
        let biden = try largestFace("biden.jpg", a)
        let t = FaceMatching.defaultThreshold
        for i in 0..<3 {
            for j in (i + 1)..<3 {
                let s = obama[i].cosine(obama[j])
                print("obama \(i) ~ obama \(j): \(s)")
                #expect(s >= t, "same person must match at the default threshold")
            }
            let s = obama[i].cosine(biden)
            print("obama \(i) ~ biden: \(s)")
            #expect(s < t, "different people must not match")
        }
    }

    @Test func allSixFacesOfTheInsightfaceGroupPhoto() throws {
        let (img, _) = try ImageFile.load(Self.t1)
        let faces = try Self.analyzer(embed: false).analyze(img, embed: false)
        print("t1.jpg: \(faces.count) faces: \(faces.map { "\($0.detection.box)" })")
        #expect(faces.count == 6)
    }

    @Test func imagesWithoutFacesGiveAnEmptyResult() throws {
        let a = try Self.analyzer(embed: true)
        #expect(try a.analyze(SyntheticImages.gradient(width: 640, height: 480), embed: true).isEmpty)
        #expect(try a.analyze(SyntheticImages.generate(width: 320, height: 240) { _, _ in (0, 0, 0) }, embed: true).isEmpty)
    }

    @Test func theWrongModelFileIsRefusedClearly() throws {
        let models = Self.repo + "/models"
        #expect(throws: ModelMismatch.self) { try BlazeFaceModel(path: models + "/dlib_resnet_int8.onnx") }
        #expect(throws: ModelMismatch.self) { try DlibEmbedder(path: models + "/blazeface_full_int8.onnx") }
    }
}

@Suite("Small faces in a 720p frame (tiles)")
struct SmallFaceTests {
    /// A 1280x720 frame with copies of a real face photo scaled so the face is `side` px wide,
    /// pasted at spread-out places (some across tile borders).
    func mosaic(faceWidth side: Double) throws -> (RGBImage, [Box]) {
        let (photo, _) = try ImageFile.load(AccuracyTests.photos + "/obama.jpg")
        let a = try AccuracyTests.analyzer(embed: false)
        let face = try #require(try a.analyze(photo, embed: false).first).detection.box
        let scale = side / face.width
        // A patch around the face (2x the box), scaled down.
        let crop = Rect(x: Int(face.x - face.width / 2), y: Int(face.y - face.height / 2), width: Int(face.width * 2), height: Int(face.height * 2))
            .intersection(Rect(x: 0, y: 0, width: photo.width, height: photo.height))
        let patch = photo.cropped(to: crop).resized(to: Size(width: Int(Double(crop.width) * scale), height: Int(Double(crop.height) * scale)))
        var frame = SyntheticImages.generate(width: 1280, height: 720) { x, y in (UInt8(90 + x % 7), UInt8(100 + y % 5), 95) }
        var truth: [Box] = []
        for (px, py) in [(60, 80), (470, 300), (900, 120), (1150, 600), (300, 560), (700, 620)] {
            for y in 0..<patch.height where py + y < 720 {
                for x in 0..<patch.width where px + x < 1280 {
                    let p = patch.pixel(x: x, y: y)
                    let o = ((py + y) * 1280 + px + x) * 3
                    frame.pixels[o] = p.0; frame.pixels[o + 1] = p.1; frame.pixels[o + 2] = p.2
                }
            }
            truth.append(Box(x: Double(px) + (face.x - Double(crop.x)) * scale, y: Double(py) + (face.y - Double(crop.y)) * scale,
                             width: face.width * scale, height: face.height * scale))
        }
        return (frame, truth)
    }

    @Test(arguments: [24.0, 30.0])
    func smallFacesAreFoundWithTilesNotWithoutThem(_ width: Double) throws {
        let (frame, truth) = try mosaic(faceWidth: width)
        let a = try AccuracyTests.analyzer(embed: false)
        func found(_ faces: [AnalyzedFace]) -> Int { truth.filter { t in faces.contains { $0.detection.box.iou(t) > 0.4 } }.count }
        let tiled = found(try a.analyze(frame, embed: false))
        a.options.tiles = false
        let whole = found(try a.analyze(frame, embed: false))
        print("\(Int(width)) px faces in 1280x720: whole frame \(whole)/\(truth.count), with tiles \(tiled)/\(truth.count)")
        #expect(tiled >= truth.count - 1)
        #expect(tiled > whole)
    }
}
