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

/// detect (whole frame + tiles) → landmarks → align → quality gate → embed: the face half of the
/// frame path.
public final class FaceAnalyzer {
    public let detector: DetectorModel
    public let embedder: FaceEmbedder?
    public var gate: QualityGate?
    public var options: DetectionOptions
    /// dlib's 5-point landmarks, when given: chips are cut from them (`FaceAligner.dlib5Point`, the
    /// framing dlib's ResNet was trained on) instead of from the detector's two eye keypoints.
    public let landmarks: ShapePredictor?

    public init(detector: DetectorModel, embedder: FaceEmbedder? = nil, gate: QualityGate? = nil,
                options: DetectionOptions = DetectionOptions(), landmarks: ShapePredictor? = nil) {
        self.detector = detector
        self.embedder = embedder
        self.gate = gate
        self.options = options
        self.landmarks = landmarks
    }

    /// The chip for `d`: from the 5-point landmarks when there is a predictor, else from the
    /// detector's keypoints with the embedder's own aligner.
    public func chip(for d: Detection, in image: RGBImage, embedder: FaceEmbedder) -> RGBImage? {
        guard let landmarks else { return embedder.aligner.align(image, landmarks: d.landmarks) }
        // dlib keeps landmarks as whole pixels (rounded half up) and cuts face_recognition's chips
        // from those: the same here, so the chip is dlib's.
        let points = landmarks.predict(image, rect: ShapePredictor.dlibRect(for: d.box))
            .map { Point(x: ($0.x + 0.5).rounded(.down), y: ($0.y + 0.5).rounded(.down)) }
        return FaceAligner.dlib5Point.align(image, landmarks: points)
    }

    /// Faces in `image`, largest first. Embeddings are computed only for faces that pass the
    /// gate (all faces when there is no gate).
    public func analyze(_ image: RGBImage, embed: Bool) throws -> [AnalyzedFace] {
        var t = StageTimes()
        var all = TileRotation(perFrame: 0)
        return try analyze(image, embed: embed, times: &t, rotation: &all)
    }

    /// Time spent per stage, added up over calls: the agent's per-stage budget comes from here,
    /// measured on the real frame path rather than estimated from the model benchmarks.
    public struct StageTimes: Sendable {
        public var detect: Duration = .zero
        /// Alignment (the affine warp to the embedder's chip) and the quality gate.
        public var alignAndGate: Duration = .zero
        public var embed: Duration = .zero
        public var faces = 0
        public var embedded = 0
        public init() {}
    }

    /// As `analyze(_:embed:)`, adding each stage's time to `times` and searching the tiles
    /// `rotation` picks (one rotation per camera; see `TileRotation`).
    public func analyze(_ image: RGBImage, embed: Bool, times: inout StageTimes, rotation: inout TileRotation) throws -> [AnalyzedFace] {
        let t0 = MonotonicInstant.now()
        let found = try detectFaces(in: image, model: detector, options: options, rotation: &rotation)
            .sorted { $0.box.area > $1.box.area }
        var t1 = MonotonicInstant.now()
        times.detect += t0.duration(to: t1)
        times.faces += found.count
        var out: [AnalyzedFace] = []
        out.reserveCapacity(found.count)
        for d in found {
            var face = AnalyzedFace(detection: d, quality: nil, embedding: nil)
            defer { out.append(face) }
            guard embed || gate != nil, let embedder else { continue }
            let chip = chip(for: d, in: image, embedder: embedder)
            if let chip, let gate {
                let q = gate.assess(d, chip: chip)
                face.quality = q
                if !q.passed {
                    let t2 = MonotonicInstant.now(); times.alignAndGate += t1.duration(to: t2); t1 = t2
                    continue
                }
            }
            let t2 = MonotonicInstant.now()
            times.alignAndGate += t1.duration(to: t2)
            t1 = t2
            guard let chip, embed else { continue }
            face.embedding = try embedder.embed(chip: chip)
            let t3 = MonotonicInstant.now()
            times.embed += t2.duration(to: t3)
            times.embedded += 1
            t1 = t3
        }
        return out
    }
}
