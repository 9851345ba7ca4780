import Imaging
import VigilCore

/// Cuts a face out of a frame as the embedder expects it: rotated upright, scaled and placed so
/// the keypoints land on the embedder's template (a similarity transform: rotation, uniform
/// scale, translation — no shear, so the face is not distorted).
public struct FaceAligner: Hashable, Sendable {
    public let chipSize: Size
    /// Where each keypoint belongs in the chip, in the detector's keypoint order.
    public let template: [Point]

    /// Cut the chip exactly as dlib's extract_image_chip does (see `transform(for:)` and
    /// `RGBImage.warpedAffineDlib`): for the 5-point alignment, whose chips must be the ones dlib's
    /// ResNet was trained on, pixel for pixel.
    public let dlibSampling: Bool

    public init(chipSize: Size, template: [Point], dlibSampling: Bool = false) {
        self.chipSize = chipSize
        self.template = template
        self.dlibSampling = dlibSampling
    }

    /// dlib's face-recognition ResNet: 150x150 chips framed like dlib's `get_face_chip_details`
    /// (padding 0.25), aligned on the two eyes only: the eye centres of dlib's 5-point template
    /// (the means of its eye-corner points, mapped by (p + 0.25) / 1.5 × 150). The model
    /// pipeline calibrates on chips cut the same way (scripts/models/blazeface.py), so the int8
    /// embedder sees what it was calibrated on. Order = BlazeFace's first two keypoints: the
    /// subject's right eye (image left), then the left eye.
    public static let dlibFromBlazeFace = FaceAligner(
        chipSize: Size(width: 150, height: 150),
        template: [
            dlibTemplate((0.1205750620789 + 0.3340850613712) / 2, (0.2137274526848 + 0.2290642403242) / 2),
            dlibTemplate((0.8595674595992 + 0.6460604764104) / 2, (0.2134981538014 + 0.2289674387677) / 2),
        ])

    /// dlib's face-recognition ResNet on dlib's own 5 landmarks (`shape_predictor_5_face_landmarks`,
    /// read by `ShapePredictor`): the chip `get_face_chip_details(shape, 150, 0.25)` cuts, i.e. the
    /// ResNet's training framing. Order = dlib's parts: subject's left eye outer and inner corner,
    /// right eye outer and inner corner, then the bottom of the nose; all five in the least-squares fit.
    public static let dlib5Point = FaceAligner(
        chipSize: Size(width: 150, height: 150),
        template: [
            dlibTemplate(0.8595674595992, 0.2134981538014),
            dlibTemplate(0.6460604764104, 0.2289674387677),
            dlibTemplate(0.1205750620789, 0.2137274526848),
            dlibTemplate(0.3340850613712, 0.2290642403242),
            dlibTemplate(0.4901123135679, 0.6277975316475),
        ],
        dlibSampling: true)

    static func dlibTemplate(_ x: Double, _ y: Double) -> Point {
        Point(x: (x + 0.25) / 1.5 * 150, y: (y + 0.25) / 1.5 * 150)
    }

    /// The transform from chip coordinates to frame coordinates for `landmarks`, or nil when the
    /// keypoints are degenerate (all on one spot).
    public func transform(for landmarks: [Point]) -> AffineTransform? {
        let n = min(template.count, landmarks.count)
        guard n >= 2 else { return nil }
        guard let t = AffineTransform.similarity(from: Array(template.prefix(n)), to: Array(landmarks.prefix(n))) else { return nil }
        guard dlibSampling else { return t }
        // dlib (chip_details + get_mapping_to_chip) turns the similarity T into a rectangle of side
        // W·s − 1 centred on T(W/2) and maps chip pixels 0…W−1 onto its corners, so chip pixel q
        // samples T(W/2 + m·(q − (W−1)/2)) with m = (W − 1/s) / (W − 1), s = T's scale.
        let s = abs(t.a * t.d - t.b * t.c).squareRoot()
        guard s > 0, s.isFinite else { return nil }
        let w = Double(chipSize.width), h = Double(chipSize.height)
        let mx = (w - 1 / s) / (w - 1), my = (h - 1 / s) / (h - 1)
        let kx = w / 2 - mx * (w - 1) / 2, ky = h / 2 - my * (h - 1) / 2
        return AffineTransform(a: t.a * mx, b: t.b * my, c: t.c * mx, d: t.d * my,
                               tx: t.a * kx + t.b * ky + t.tx, ty: t.c * kx + t.d * ky + t.ty)
    }

    /// The aligned chip, or nil for degenerate keypoints.
    public func align(_ frame: RGBImage, landmarks: [Point]) -> RGBImage? {
        guard let t = transform(for: landmarks) else { return nil }
        return dlibSampling ? frame.warpedAffineDlib(t, outputSize: chipSize) : frame.warpedAffine(t, outputSize: chipSize)
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
