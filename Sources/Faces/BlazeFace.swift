import VigilCore

/// Decoding of MediaPipe BlazeFace (full range) outputs, as MediaPipe's own graph does it
/// (`face_detection_full_range.pbtxt`: SsdAnchorsCalculator + TensorsToDetectionsCalculator +
/// weighted NonMaxSuppression).
///
/// The model sees a 192x192 RGB image normalised to [-1, 1] and outputs, for each of 2304
/// anchors, 16 regressors (box centre x, y, width, height, then 6 keypoints as x, y — all in
/// input pixels relative to the anchor) and one score logit.
public struct BlazeFaceDecoder: Sendable {
    /// Model input side in pixels.
    public let inputSize: Int
    /// Anchor centres in normalised coordinates (0...1), one per output row.
    public let anchors: [Point]
    /// Candidates below this probability are dropped before NMS (MediaPipe: 0.6 for full range).
    public var minScore: Double
    /// Overlap above which candidates merge into one face (MediaPipe: 0.3).
    public var iouThreshold: Double

    public static let regressorsPerAnchor = 16
    public static let keypointCount = 6

    public init(inputSize: Int = 192, minScore: Double = 0.6, iouThreshold: Double = 0.3) {
        self.inputSize = inputSize
        self.anchors = Self.anchors(inputSize: inputSize, strides: [4])
        self.minScore = minScore
        self.iouThreshold = iouThreshold
    }

    /// SSD anchors as MediaPipe's SsdAnchorsCalculator makes them for the full-range model:
    /// one layer at stride 4 (48x48 cells for 192 px), offset 0.5, fixed anchor size, one
    /// anchor per cell (aspect ratio 1, no interpolated scale) — 2304 anchors, row-major.
    public static func anchors(inputSize: Int, strides: [Int]) -> [Point] {
        var out: [Point] = []
        for stride in strides {
            let cells = (inputSize + stride - 1) / stride
            for y in 0..<cells {
                for x in 0..<cells {
                    out.append(Point(x: (Double(x) + 0.5) / Double(cells), y: (Double(y) + 0.5) / Double(cells)))
                }
            }
        }
        return out
    }

    /// Decodes raw outputs into detections in normalised input coordinates (0...1), after NMS.
    /// `regressors` is [anchors × 16], `scores` is [anchors] (logits).
    public func decode(regressors: [Float], scores: [Float]) -> [Detection] {
        let n = anchors.count
        guard regressors.count >= n * Self.regressorsPerAnchor, scores.count >= n else { return [] }
        let scale = Double(inputSize)
        // logit threshold equivalent to minScore, so most anchors skip the exp().
        let minLogit = log(minScore / (1 - minScore))
        var candidates: [Detection] = []
        for i in 0..<n {
            let logit = min(max(Double(scores[i]), -100), 100)  // MediaPipe's score clipping
            guard logit >= minLogit else { continue }
            let a = anchors[i]
            let r = i * Self.regressorsPerAnchor
            let cx = Double(regressors[r]) / scale + a.x
            let cy = Double(regressors[r + 1]) / scale + a.y
            let w = Double(regressors[r + 2]) / scale
            let h = Double(regressors[r + 3]) / scale
            guard w > 0, h > 0 else { continue }
            var kps: [Point] = []
            kps.reserveCapacity(Self.keypointCount)
            for k in 0..<Self.keypointCount {
                kps.append(Point(x: Double(regressors[r + 4 + 2 * k]) / scale + a.x,
                                 y: Double(regressors[r + 5 + 2 * k]) / scale + a.y))
            }
            candidates.append(Detection(
                box: Box(centerX: cx, centerY: cy, width: w, height: h),
                score: 1 / (1 + exp(-logit)), landmarks: kps))
        }
        return NonMaxSuppression.weighted(candidates, iouThreshold: iouThreshold)
    }
}

#if canImport(Glibc)
import Glibc
#endif
