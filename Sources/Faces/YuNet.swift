import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// Decoding of YuNet outputs (OpenCV Zoo's face detector, 2023+ layout, as OpenCV's
/// `FaceDetectorYN` decodes it): anchor-free heads at strides 8, 16 and 32; per cell a class
/// score, an objectness score, a box (centre offset in cells, log size) and five keypoints
/// (right eye, left eye, nose tip, right and left mouth corner).
///
/// Input: BGR, raw 0...255 values, NCHW, height and width padded up to multiples of 32.
public struct YuNetDecoder: Sendable {
    public static let strides = [8, 16, 32]
    public var minScore: Double
    public var iouThreshold: Double

    /// OpenCV's defaults: score 0.9, NMS 0.3.
    public init(minScore: Double = 0.9, iouThreshold: Double = 0.3) {
        self.minScore = minScore
        self.iouThreshold = iouThreshold
    }

    /// Input size YuNet needs for a frame: each side rounded up to a multiple of 32.
    public static func paddedSize(_ s: Size) -> Size {
        Size(width: (s.width + 31) / 32 * 32, height: (s.height + 31) / 32 * 32)
    }

    /// One stride's outputs: `cls` and `obj` [cells], `bbox` [cells × 4], `kps` [cells × 10].
    public struct Head {
        public var cls: [Float], obj: [Float], bbox: [Float], kps: [Float]
        public init(cls: [Float], obj: [Float], bbox: [Float], kps: [Float]) {
            self.cls = cls; self.obj = obj; self.bbox = bbox; self.kps = kps
        }
    }

    /// Decodes the three heads (strides 8, 16, 32) for an input of `inputSize` (already padded)
    /// into detections in input pixels, after NMS.
    public func decode(heads: [Head], inputSize: Size) -> [Detection] {
        var candidates: [Detection] = []
        for (stride, head) in zip(Self.strides, heads) {
            let cols = inputSize.width / stride, rows = inputSize.height / stride
            let cells = cols * rows
            guard head.cls.count >= cells, head.obj.count >= cells, head.bbox.count >= cells * 4, head.kps.count >= cells * 10 else { continue }
            let s = Double(stride)
            for r in 0..<rows {
                for c in 0..<cols {
                    let i = r * cols + c
                    let cls = min(max(Double(head.cls[i]), 0), 1), obj = min(max(Double(head.obj[i]), 0), 1)
                    let score = (cls * obj).squareRoot()
                    guard score >= minScore else { continue }
                    let cx = (Double(c) + Double(head.bbox[4 * i])) * s
                    let cy = (Double(r) + Double(head.bbox[4 * i + 1])) * s
                    let w = exp(Double(head.bbox[4 * i + 2])) * s
                    let h = exp(Double(head.bbox[4 * i + 3])) * s
                    guard w.isFinite, h.isFinite else { continue }
                    let kps = (0..<5).map { k in
                        Point(x: (Double(head.kps[10 * i + 2 * k]) + Double(c)) * s,
                              y: (Double(head.kps[10 * i + 2 * k + 1]) + Double(r)) * s)
                    }
                    candidates.append(Detection(box: Box(centerX: cx, centerY: cy, width: w, height: h), score: score, landmarks: kps))
                }
            }
        }
        return NonMaxSuppression.hard(candidates, iouThreshold: iouThreshold)
    }
}
