import ArgumentParser
import Faces
import Imaging
import Inference
import Pipeline
import VigilCore
import Watchlist

/// Options shared by the face commands: where the models are.
struct ModelOptions: ParsableArguments {
    @Option(help: "Directory with the generated models (make models).")
    var models: String = "models"

    @Option(help: "Detector model file (default: MODELS/blazeface_full_int8.onnx).")
    var detector: String?

    @Option(help: "Embedder model file (default: MODELS/dlib_resnet_int8.onnx).")
    var embedder: String?

    @Option(help: "dlib 5-point landmark model the chips are cut from (default: shape_predictor_5.dat beside the embedder, if present), or 'none' for the detector's eye keypoints. Part of the embedder's identity: a list is installed, searched and matched only with the alignment it was enrolled with.")
    var landmarks: String?

    var detectorPath: String { detector ?? models + "/blazeface_full_int8.onnx" }
    var embedderPath: String { embedder ?? models + "/dlib_resnet_int8.onnx" }
    var landmarksPath: String? { EmbeddingPipeline.landmarksPath(embedder: embedderPath, explicit: landmarks) }

    /// The identity lists are enrolled, installed and searched under: the embedder and the landmark model.
    func embedderIdentity() throws -> EmbedderIdentity {
        try EmbedderIdentity(modelFile: embedderPath, landmarksFile: landmarksPath)
    }

    func analyzer(embed: Bool) throws -> FaceAnalyzer {
        let det = try BlazeFaceModel(path: detectorPath)
        let emb = embed ? try DlibEmbedder(path: embedderPath) : nil
        let sp = embed ? try landmarksPath.map { try ShapePredictor(file: $0) } : nil
        return FaceAnalyzer(detector: det, embedder: emb, landmarks: sp)
    }
}

/// Runs `body` per image; a bad image is one line on stderr and a non-zero exit at the end, the
/// other images are still processed.
func forEachImage(_ paths: [String], _ body: (String, RGBImage, Double) throws -> Void) throws {
    var failed = false
    for path in paths {
        do {
            let (img, scale) = try ImageFile.load(path)
            try body(path, img, scale)
        } catch {
            _ = fail("\(error)")
            failed = true
        }
    }
    if failed { throw ExitCode(1) }
}

/// `vigil detect` and `vigil embed`: one line per image (JSON or text), boxes and keypoints in
/// the file's pixels (undoing any downscale of huge photos), paths exactly as given.
func listFaces(_ images: [String], json: Bool, embed: Bool, models: ModelOptions) throws {
    let analyzer: FaceAnalyzer
    do { analyzer = try models.analyzer(embed: embed) } catch { throw fail("\(error)") }
    try forEachImage(images) { path, img, scale in
        let faces = try analyzer.analyze(img, embed: embed).map {
            (detection: $0.detection.mapped(scaleX: scale, scaleY: scale, dx: 0, dy: 0), embedding: $0.embedding)
        }
        if json {
            let list = faces.map { JSON.face($0.detection, embedding: embed ? $0.embedding : nil) }
            print(JSON.object([("image", .string(path)), ("faces", .array(list))]).text)
            return
        }
        print("\(path): \(faces.count) face(s)")
        for f in faces {
            var line = "  box \(JSON.box(f.detection.box).text) score \(format2(f.detection.score))"
            if embed { line += f.embedding == nil ? " no embedding (alignment failed)" : " embedding 128-d" }
            print(line)
        }
    }
}

extension Vigil {
    struct Detect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find faces in JPEG images.")
        @Argument(help: "JPEG files.") var images: [String]
        @Flag(help: "One JSON object per image and line.") var json = false
        @OptionGroup var modelOptions: ModelOptions

        func run() throws { try listFaces(images, json: json, embed: false, models: modelOptions) }
    }

    struct Embed: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find faces in JPEG images and compute their embeddings.")
        @Argument(help: "JPEG files.") var images: [String]
        @Flag(help: "One JSON object per image and line.") var json = false
        @OptionGroup var modelOptions: ModelOptions

        func run() throws { try listFaces(images, json: json, embed: true, models: modelOptions) }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the largest face of two JPEG images.",
            discussion: "A match is a lead for human review, never an identification.")
        @Argument(help: "First JPEG.") var a: String
        @Argument(help: "Second JPEG.") var b: String
        @Option(help: "Cosine similarity at or above which the faces are called a match.")
        var threshold: Double = FaceMatching.defaultThreshold
        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            let analyzer: FaceAnalyzer
            do { analyzer = try modelOptions.analyzer(embed: true) } catch { throw fail("\(error)") }
            var embeddings: [Embedding] = []
            try forEachImage([a, b]) { path, img, _ in
                guard let e = try analyzer.analyze(img, embed: true).first?.embedding else {
                    throw ImageFile.LoadError(path: path, reason: "no usable face found")
                }
                embeddings.append(e)
            }
            let s = embeddings[0].cosine(embeddings[1])
            let verdict = s >= threshold ? "match (a lead for human review, not an identification)" : "no match"
            print("similarity \(format3(s)), threshold \(format3(threshold)): \(verdict)")
        }
    }
}

func format3(_ v: Double) -> String {
    let scaled = Int((abs(v) * 1000).rounded())
    let frac = scaled % 1000
    return (v < 0 ? "-" : "") + "\(scaled / 1000)." + String(repeating: "0", count: frac < 10 ? 2 : frac < 100 ? 1 : 0) + "\(frac)"
}

extension JSON {
    static func box(_ b: Box) -> JSON { .array([.number(b.x), .number(b.y), .number(b.width), .number(b.height)]) }

    static func face(_ d: Detection, embedding: Embedding?) -> JSON {
        var fields: [(String, JSON)] = [
            ("box", box(d.box)), ("score", .number(d.score)),
            ("landmarks", .array(d.landmarks.map { .array([.number($0.x), .number($0.y)]) })),
        ]
        if let embedding { fields.append(("embedding", .array(embedding.values.map { .number(Double($0)) }))) }
        return .object(fields)
    }
}
