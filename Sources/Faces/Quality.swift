import Imaging
import VigilCore

/// Decides whether a face is good enough to embed and match. Poor faces are not "probably no
/// match" — they are unknown, so they are never compared: a blurred or turned-away face produces
/// unreliable embeddings and, with them, false leads.
public struct QualityGate: Hashable, Sendable {
    /// Smallest face box width, in frame pixels.
    public var minimumWidth: Double
    /// Smallest variance of the Laplacian over the aligned chip's luma (sharpness).
    public var minimumSharpness: Double
    /// Largest |yaw| proxy: horizontal offset of the nose tip from the eyes' midpoint, in eye
    /// distances (0 = frontal; ~0.5 = profile).
    public var maximumYaw: Double

    public init(minimumWidth: Double = 32, minimumSharpness: Double = 20, maximumYaw: Double = 0.35) {
        self.minimumWidth = minimumWidth
        self.minimumSharpness = minimumSharpness
        self.maximumYaw = maximumYaw
    }

    public struct Assessment: Hashable, Sendable {
        public var width: Double
        public var sharpness: Double
        public var yaw: Double
        /// Why the face fails; empty when it passes.
        public var reasons: [String]
        public var passed: Bool { reasons.isEmpty }
    }

    /// Assesses a detection (frame pixels, keypoints: right eye, left eye, nose tip, …) and its
    /// aligned chip.
    public func assess(_ d: Detection, chip: RGBImage) -> Assessment {
        let yaw = Self.yaw(d.landmarks)
        let sharp = Self.sharpness(chip)
        var reasons: [String] = []
        if d.box.width < minimumWidth { reasons.append("too small (\(Int(d.box.width)) px < \(Int(minimumWidth)))") }
        if sharp < minimumSharpness { reasons.append("blurred (sharpness \(Int(sharp)) < \(Int(minimumSharpness)))") }
        if abs(yaw) > maximumYaw { reasons.append("not frontal (yaw \(Double(Int(yaw * 100)) / 100))") }
        return Assessment(width: d.box.width, sharpness: sharp, yaw: yaw, reasons: reasons)
    }

    /// Nose-tip offset from the eye midpoint along the eye line, in eye distances.
    public static func yaw(_ lm: [Point]) -> Double {
        guard lm.count >= 3 else { return 0 }
        let a = lm[0], b = lm[1], n = lm[2]
        let ex = b.x - a.x, ey = b.y - a.y
        let d2 = ex * ex + ey * ey
        guard d2 > 0 else { return 1 }
        let mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2
        return ((n.x - mx) * ex + (n.y - my) * ey) / d2
    }

    /// Variance of the 4-neighbour Laplacian of the luma: high for sharp detail, low for blur.
    public static func sharpness(_ img: RGBImage) -> Double {
        let w = img.width, h = img.height
        guard w >= 3, h >= 3 else { return 0 }
        var luma = [Int32](repeating: 0, count: w * h)
        img.pixels.withUnsafeBufferPointer { p in
            for i in 0..<(w * h) {
                luma[i] = (77 * Int32(p[3 * i]) + 150 * Int32(p[3 * i + 1]) + 29 * Int32(p[3 * i + 2])) >> 8
            }
        }
        var sum = 0.0, sum2 = 0.0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let i = y * w + x
                let l = Double(luma[i - 1] + luma[i + 1] + luma[i - w] + luma[i + w] - 4 * luma[i])
                sum += l; sum2 += l * l
            }
        }
        let n = Double((w - 2) * (h - 2))
        let mean = sum / n
        return sum2 / n - mean * mean
    }
}
