import VigilCore

/// Non-maximum suppression: one detection per face out of the many overlapping candidates a
/// single-shot detector produces.
public enum NonMaxSuppression {
    /// MediaPipe's "weighted" NMS: candidates are taken by falling score; every remaining
    /// candidate overlapping the best one by more than `iouThreshold` joins its cluster, and the
    /// cluster's box and keypoints are the score-weighted mean (steadier boxes across frames than
    /// keeping only the best). The cluster keeps the best score.
    public static func weighted(_ detections: [Detection], iouThreshold: Double) -> [Detection] {
        var remaining = detections.sorted { $0.score > $1.score }
        var out: [Detection] = []
        while let best = remaining.first {
            var cluster: [Detection] = []
            var rest: [Detection] = []
            for d in remaining {
                if best.box.iou(d.box) > iouThreshold || d == best { cluster.append(d) } else { rest.append(d) }
            }
            remaining = rest
            let total = cluster.reduce(0) { $0 + $1.score }
            guard total > 0, cluster.count > 1 else { out.append(best); continue }
            var x = 0.0, y = 0.0, w = 0.0, h = 0.0
            var lm = [Point](repeating: Point(x: 0, y: 0), count: best.landmarks.count)
            for d in cluster {
                let s = d.score / total
                x += d.box.x * s; y += d.box.y * s; w += d.box.width * s; h += d.box.height * s
                for k in lm.indices where k < d.landmarks.count {
                    lm[k].x += d.landmarks[k].x * s
                    lm[k].y += d.landmarks[k].y * s
                }
            }
            out.append(Detection(box: Box(x: x, y: y, width: w, height: h), score: best.score, landmarks: lm))
        }
        return out
    }

    /// Classic NMS: keep the best, drop everything overlapping it by more than `iouThreshold`.
    public static func hard(_ detections: [Detection], iouThreshold: Double) -> [Detection] {
        var out: [Detection] = []
        for d in detections.sorted(by: { $0.score > $1.score }) where !out.contains(where: { $0.box.iou(d.box) > iouThreshold }) {
            out.append(d)
        }
        return out
    }
}
