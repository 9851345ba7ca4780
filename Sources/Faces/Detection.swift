import VigilCore

/// An axis-aligned box in continuous pixel (or normalised) coordinates.
public struct Box: Hashable, Sendable, CustomStringConvertible {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public init(centerX: Double, centerY: Double, width: Double, height: Double) {
        self.init(x: centerX - width / 2, y: centerY - height / 2, width: width, height: height)
    }
    public var maxX: Double { x + width }
    public var maxY: Double { y + height }
    public var area: Double { max(0, width) * max(0, height) }
    public var center: Point { Point(x: x + width / 2, y: y + height / 2) }

    /// Intersection over union; 0 for disjoint or empty boxes.
    public func iou(_ o: Box) -> Double {
        let iw = min(maxX, o.maxX) - max(x, o.x), ih = min(maxY, o.maxY) - max(y, o.y)
        guard iw > 0, ih > 0 else { return 0 }
        let inter = iw * ih
        let union = area + o.area - inter
        return union > 0 ? inter / union : 0
    }

    /// The box mapped through x' = x * sx + dx, y' = y * sy + dy.
    public func mapped(scaleX sx: Double, scaleY sy: Double, dx: Double, dy: Double) -> Box {
        Box(x: x * sx + dx, y: y * sy + dy, width: width * sx, height: height * sy)
    }

    /// The integer pixel rectangle covering this box (rounded outward).
    public var enclosingRect: Rect {
        let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
        let x1 = Int(maxX.rounded(.up)), y1 = Int(maxY.rounded(.up))
        return Rect(x: x0, y: y0, width: max(0, x1 - x0), height: max(0, y1 - y0))
    }

    public var description: String { "[\(x), \(y), \(width), \(height)]" }
}

/// One detected face: a box, a confidence in 0...1 and the model's keypoints (BlazeFace: right
/// eye, left eye, nose tip, mouth centre, right ear, left ear — "right" as the subject sees it;
/// YuNet: right eye, left eye, nose tip, right and left mouth corner).
public struct Detection: Hashable, Sendable {
    public var box: Box
    public var score: Double
    public var landmarks: [Point]
    public init(box: Box, score: Double, landmarks: [Point]) {
        self.box = box; self.score = score; self.landmarks = landmarks
    }

    /// The detection mapped through x' = x * sx + dx, y' = y * sy + dy (box and keypoints).
    public func mapped(scaleX sx: Double, scaleY sy: Double, dx: Double, dy: Double) -> Detection {
        Detection(
            box: box.mapped(scaleX: sx, scaleY: sy, dx: dx, dy: dy), score: score,
            landmarks: landmarks.map { Point(x: $0.x * sx + dx, y: $0.y * sy + dy) })
    }
}
