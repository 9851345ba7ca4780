import CTurboJPEG
import VigilCore

/// TurboJPEG's DCT-domain scaling factors, read once from the library.
///
/// Why this exists: scaling inside the inverse DCT (decoding 8x8 blocks straight to 4x4, 2x2 or
/// 1x1 pixels) skips most of the decode work, which is how a Raspberry Pi turns a 1280x720 MJPEG
/// frame into a 320x180 detector input in a fraction of a full decode. Only reductions (1/8 ... 1)
/// are kept: enlarging in the IDCT costs time and adds no information.
enum TurboJPEGScaling {
    struct Factor: Sendable, Equatable {
        var num: Int32
        var denom: Int32

        /// TJSCALED: ceil(dimension * num / denom), exactly as the decompressor sizes its output.
        func scale(_ dimension: Int) -> Int {
            Int(ctj_scaled(Int32(clamping: dimension), tjscalingfactor(num: num, denom: denom)))
        }
    }

    /// Reduction factors, smallest first. Falls back to 1/1 alone if the library returns none.
    static let reductions: [Factor] = {
        var count: Int32 = 0
        guard let list = tjGetScalingFactors(&count), count > 0 else { return [Factor(num: 1, denom: 1)] }
        var factors: [Factor] = []
        for i in 0..<Int(count) {
            let f = list[i]
            if f.num > 0, f.denom > 0, f.num <= f.denom { factors.append(Factor(num: f.num, denom: f.denom)) }
        }
        if !factors.contains(where: { $0.num == $0.denom }) { factors.append(Factor(num: 1, denom: 1)) }
        // Sort by value (num/denom) ascending, compared exactly by cross-multiplication.
        return factors.sorted { Int($0.num) * Int($1.denom) < Int($1.num) * Int($0.denom) }
    }()

    /// The smallest reduction whose output covers `target` in both dimensions; 1/1 when none does
    /// (the target is larger than the image) or there is no target.
    static func factor(for size: Size, atLeast target: Size?) -> Factor {
        guard let target else { return Factor(num: 1, denom: 1) }
        for f in reductions where f.scale(size.width) >= target.width && f.scale(size.height) >= target.height {
            return f
        }
        return Factor(num: 1, denom: 1)
    }
}
