#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilCore

/// A 2-D affine map: `x' = a*x + b*y + tx`, `y' = c*x + d*y + ty`.
///
/// Used to warp images (`RGBImage.warpedAffine`) and, via `similarity(from:to:)`, to align faces
/// to a canonical landmark template before recognition.
public struct AffineTransform: Sendable, Equatable, CustomStringConvertible {
    public var a: Double
    public var b: Double
    public var c: Double
    public var d: Double
    public var tx: Double
    public var ty: Double

    public init(a: Double, b: Double, c: Double, d: Double, tx: Double, ty: Double) {
        self.a = a; self.b = b; self.c = c; self.d = d; self.tx = tx; self.ty = ty
    }

    public static let identity = AffineTransform(a: 1, b: 0, c: 0, d: 1, tx: 0, ty: 0)

    public static func translation(x: Double, y: Double) -> AffineTransform {
        AffineTransform(a: 1, b: 0, c: 0, d: 1, tx: x, ty: y)
    }

    /// Rotation by `radians` about the origin, counter-clockwise in the maths sense; with y
    /// pointing down (pixel coordinates) that appears clockwise on screen.
    public static func rotation(radians: Double) -> AffineTransform {
        let cs = cos(radians), sn = sin(radians)
        return AffineTransform(a: cs, b: -sn, c: sn, d: cs, tx: 0, ty: 0)
    }

    public static func scale(_ s: Double) -> AffineTransform {
        AffineTransform(a: s, b: 0, c: 0, d: s, tx: 0, ty: 0)
    }

    public func apply(_ p: Point) -> Point {
        Point(x: a * p.x + b * p.y + tx, y: c * p.x + d * p.y + ty)
    }

    /// `self` first, then `next`: `t.followed(by: u).apply(p) == u.apply(t.apply(p))`.
    public func followed(by next: AffineTransform) -> AffineTransform {
        AffineTransform(
            a: next.a * a + next.b * c, b: next.a * b + next.b * d,
            c: next.c * a + next.d * c, d: next.c * b + next.d * d,
            tx: next.a * tx + next.b * ty + next.tx, ty: next.c * tx + next.d * ty + next.ty)
    }

    /// The inverse map, or nil when the linear part is singular (relative to its magnitude) or a
    /// coefficient is not finite.
    public func inverted() -> AffineTransform? {
        let det = a * d - b * c
        let magnitude = max(abs(a), abs(b), abs(c), abs(d))
        guard det.isFinite, magnitude.isFinite, abs(det) > 1e-12 * magnitude * magnitude else { return nil }
        let ia = d / det, ib = -b / det, ic = -c / det, id = a / det
        let inverse = AffineTransform(
            a: ia, b: ib, c: ic, d: id, tx: -(ia * tx + ib * ty), ty: -(ic * tx + id * ty))
        return inverse.isFinite ? inverse : nil
    }

    /// True when every coefficient is finite (no NaN or infinity).
    public var isFinite: Bool {
        a.isFinite && b.isFinite && c.isFinite && d.isFinite && tx.isFinite && ty.isFinite
    }

    /// The least-squares similarity (rotation, uniform scale, translation; no reflection) taking
    /// `from[i]` to `to[i]`: Umeyama's estimator restricted to 2-D proper rotations.
    ///
    /// In 2-D, writing points as complex numbers, Umeyama's solution with det(R) = +1 reduces to
    /// the closed form `z = sum(conj(p_i) * q_i) / sum(|p_i|^2)` on centred points, with
    /// `s * e^(i*theta) = z` and `t = mean(q) - z * mean(p)`; that is what is computed here, in
    /// doubles, with no iteration.
    ///
    /// Returns nil for degenerate input: different counts, fewer than 2 points, non-finite
    /// coordinates, all `from` points coincident, or all `to` points coincident (scale 0).
    public static func similarity(from: [Point], to: [Point]) -> AffineTransform? {
        guard from.count == to.count, from.count >= 2 else { return nil }
        guard from.allSatisfy({ $0.x.isFinite && $0.y.isFinite }),
              to.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else { return nil }
        let n = Double(from.count)
        let mpx = from.reduce(0) { $0 + $1.x } / n, mpy = from.reduce(0) { $0 + $1.y } / n
        let mqx = to.reduce(0) { $0 + $1.x } / n, mqy = to.reduce(0) { $0 + $1.y } / n
        var dot = 0.0, cross = 0.0, varP = 0.0, varQ = 0.0
        for (p, q) in zip(from, to) {
            let px = p.x - mpx, py = p.y - mpy, qx = q.x - mqx, qy = q.y - mqy
            dot += px * qx + py * qy
            cross += px * qy - py * qx
            varP += px * px + py * py
            varQ += qx * qx + qy * qy
        }
        // Coincident points: relative to the coordinates' magnitude, so pixel-scale and
        // normalised-scale landmarks are judged alike.
        let magnitude = max(1, abs(mpx), abs(mpy), abs(mqx), abs(mqy))
        let tiny = 1e-12 * magnitude * magnitude * n
        guard varP > tiny, varQ > tiny else { return nil }
        let re = dot / varP, im = cross / varP
        let t = AffineTransform(
            a: re, b: -im, c: im, d: re,
            tx: mqx - (re * mpx - im * mpy), ty: mqy - (im * mpx + re * mpy))
        return t.isFinite ? t : nil
    }

    public var description: String { "[\(a) \(b) \(tx); \(c) \(d) \(ty)]" }
}
