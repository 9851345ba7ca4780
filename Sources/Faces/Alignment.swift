import Imaging
import VigilCore

/// Cuts a face out of a frame as the embedder expects it: rotated upright, scaled and placed so
/// the keypoints land on the embedder's template (a similarity transform: rotation, uniform
/// scale, translation — no shear, so the face is not distorted).
public struct FaceAligner: Hashable, Sendable {
    public let chipSize: Size
    /// Where each keypoint belongs in the chip, in the detector's keypoint order.
    public let template: [Point]

    public init(chipSize: Size, template: [Point]) {
        self.chipSize = chipSize
        self.template = template
    }

    /// dlib's face-recognition ResNet: 150x150 chips framed like dlib's `get_face_chip_details`
    /// (padding 0.25). Eye centres and the nose come from dlib's 5-point template (eye corners
    /// averaged); mouth centre from its 68-point mean shape. Order = BlazeFace's first four
    /// keypoints: right eye (image left), left eye, nose tip, mouth centre.
    public static let dlibFromBlazeFace = FaceAligner(
        chipSize: Size(width: 150, height: 150),
        template: [
            Point(x: 47.73, y: 47.14), Point(x: 100.28, y: 47.12),
            Point(x: 74.90, y: 80.50), Point(x: 74.90, y: 103.00),
        ])

    /// The transform from chip coordinates to frame coordinates for `landmarks`, or nil when the
    /// keypoints are degenerate (all on one spot).
    public func transform(for landmarks: [Point]) -> AffineTransform? {
        let n = min(template.count, landmarks.count)
        guard n >= 2 else { return nil }
        return AffineTransform.similarity(from: Array(template.prefix(n)), to: Array(landmarks.prefix(n)))
    }

    /// The aligned chip, or nil for degenerate keypoints.
    public func align(_ frame: RGBImage, landmarks: [Point]) -> RGBImage? {
        guard let t = transform(for: landmarks) else { return nil }
        return frame.warpedAffine(t, outputSize: chipSize)
    }
}

/// A face embedding: L2-normalised, so similarity is a dot product (cosine).
public struct Embedding: Hashable, Sendable {
    public let values: [Float]

    /// Normalises `raw` (the embedder's output); nil for a zero or non-finite vector.
    public init?(raw: [Float]) {
        var n2: Double = 0
        for v in raw { n2 += Double(v) * Double(v) }
        guard n2 > 0, n2.isFinite else { return nil }
        let inv = Float(1 / n2.squareRoot())
        values = raw.map { $0 * inv }
    }

    /// Cosine similarity in -1...1.
    public func cosine(_ o: Embedding) -> Double {
        var s: Double = 0
        for (a, b) in zip(values, o.values) { s += Double(a) * Double(b) }
        return s
    }

    /// The int8 form stored in watchlists: each component × 127, rounded, saturated; with unit
    /// length input the scale is exactly 1/127.
    public var int8: [Int8] {
        values.map { Int8(clamping: Int(($0 * 127).rounded())) }
    }
    public static let int8Scale: Float = 1 / 127
}
