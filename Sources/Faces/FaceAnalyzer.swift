import Imaging
import VigilCore

/// An embedder behind Vigil's engine: aligned chip in, embedding out.
public protocol FaceEmbedder: AnyObject {
    /// How chips for this embedder are cut.
    var aligner: FaceAligner { get }
    /// The embedding of an aligned chip, or nil for a degenerate output.
    func embed(chip: RGBImage) throws -> Embedding?
}

/// One face found in an image, with what the later stages made of it.
public struct AnalyzedFace: Sendable {
    public var detection: Detection
    /// Nil when no quality gate was applied.
    public var quality: QualityGate.Assessment?
    /// Nil when not asked for, when the face failed the quality gate, or when alignment failed.
    public var embedding: Embedding?
}

/// detect (whole frame + tiles) → align → quality gate → embed: the face half of the frame path.
public final class FaceAnalyzer {
    public let detector: DetectorModel
    public let embedder: FaceEmbedder?
    public var gate: QualityGate?
    public var options: DetectionOptions

    public init(detector: DetectorModel, embedder: FaceEmbedder? = nil, gate: QualityGate? = nil,
                options: DetectionOptions = DetectionOptions()) {
        self.detector = detector
        self.embedder = embedder
        self.gate = gate
        self.options = options
    }

    /// Faces in `image`, largest first. Embeddings are computed only for faces that pass the
    /// gate (all faces when there is no gate).
    public func analyze(_ image: RGBImage, embed: Bool) throws -> [AnalyzedFace] {
        let found = try detectFaces(in: image, model: detector, options: options)
            .sorted { $0.box.area > $1.box.area }
        return try found.map { d in
            var face = AnalyzedFace(detection: d, quality: nil, embedding: nil)
            guard embed || gate != nil, let embedder else { return face }
            guard let chip = embedder.aligner.align(image, landmarks: d.landmarks) else { return face }
            if let gate {
                let q = gate.assess(d, chip: chip)
                face.quality = q
                guard q.passed else { return face }
            }
            if embed { face.embedding = try embedder.embed(chip: chip) }
            return face
        }
    }
}
