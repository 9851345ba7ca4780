import VigilCore

/// Overlapping tiles over a high-resolution frame, so small faces are seen at a usable size by
/// a detector with a small input (BlazeFace full range misses faces under ~8 px of its 192 px
/// input: ~55 px in a whole 1280-wide frame, ~20 px in a 480 px tile).
public struct TilePlan: Hashable, Sendable {
    public let frame: Size
    public let tiles: [Rect]

    /// Tiles of `tileSize` (clamped to the frame) spread evenly so neighbours overlap by at least
    /// `minOverlap` pixels — enough for the largest face a tile should find whole, since a face
    /// cut by a tile's inner edge is dropped there and found by the neighbour.
    public init(frame: Size, tileSize: Size, minOverlap: Int) {
        self.frame = frame
        let tw = min(tileSize.width, frame.width), th = min(tileSize.height, frame.height)
        func starts(_ total: Int, _ tile: Int) -> [Int] {
            guard tile < total else { return [0] }
            let step = max(1, tile - minOverlap)
            let n = Int((Double(total - tile) / Double(step)).rounded(.up)) + 1
            return (0..<n).map { i in n == 1 ? 0 : Int((Double(i) * Double(total - tile) / Double(n - 1)).rounded()) }
        }
        tiles = starts(frame.height, th).flatMap { y in starts(frame.width, tw).map { x in Rect(x: x, y: y, width: tw, height: th) } }
    }

    /// Whether `box` (frame pixels, found in `tile`) touches one of the tile's edges that lies
    /// inside the frame: such a face may be cut, and another tile sees it whole.
    public func touchesInnerEdge(_ box: Box, of tile: Rect, margin: Double = 2) -> Bool {
        (tile.x > 0 && box.x <= Double(tile.x) + margin)
            || (tile.y > 0 && box.y <= Double(tile.y) + margin)
            || (tile.maxX < frame.width && box.maxX >= Double(tile.maxX) - margin)
            || (tile.maxY < frame.height && box.maxY >= Double(tile.maxY) - margin)
    }

    /// Merges detections from the whole-frame pass and from each tile (all in frame pixels):
    /// drops tile detections cut by an inner tile edge, then one NMS across everything.
    public func merge(whole: [Detection], perTile: [[Detection]], iouThreshold: Double = 0.3) -> [Detection] {
        merge(whole: whole, found: Array(zip(tiles, perTile)), iouThreshold: iouThreshold)
    }

    /// As `merge(whole:perTile:)` for a subset of the tiles (a rotation's pick).
    public func merge(whole: [Detection], found: [(tile: Rect, detections: [Detection])], iouThreshold: Double = 0.3) -> [Detection] {
        var all = whole
        for (tile, detections) in found {
            all += detections.filter { !touchesInnerEdge($0.box, of: tile) }
        }
        return NonMaxSuppression.weighted(all, iouThreshold: iouThreshold)
    }
}

/// Which tiles of a plan to search in one frame, when searching all of them in every frame
/// costs too much.
///
/// Why: at 1280x720 the default plan has 15 tiles, so detection is 16 detector runs — about 70 %
/// of the agent's time per frame. Faces big enough for the whole-frame pass are found in every
/// frame regardless; the tiles exist for small (distant) faces. A rotation searches `perFrame`
/// tiles in turn, so every part of the frame is still searched at tile resolution every
/// ⌈tiles / perFrame⌉ frames (3 frames = 0.6 s at 5 Hz: a person walks about 1 m), plus, in every
/// frame, the tiles holding faces that only tiles found in the previous frame — so a small
/// face, once found, is followed frame by frame and its track does not break.
///
/// One per camera (it remembers where that camera's rotation stands); `perFrame` 0 = all tiles.
public struct TileRotation: Sendable {
    public var perFrame: Int
    var cursor = 0
    /// Faces found only by tiles in the last frame (frame pixels).
    public internal(set) var focus: [Box] = []
    var planFrame: Size?

    public init(perFrame: Int) { self.perFrame = max(0, perFrame) }

    /// Indices into `plan.tiles` to search in this frame, ascending.
    public mutating func pick(_ plan: TilePlan) -> [Int] {
        let n = plan.tiles.count
        if planFrame != plan.frame { planFrame = plan.frame; cursor = 0; focus = [] }
        guard perFrame > 0, perFrame < n else { return Array(0..<n) }
        var chosen = Set((0..<perFrame).map { (cursor + $0) % n })
        cursor = (cursor + perFrame) % n
        for b in focus {
            // the tile that holds the face whole, with the most margin around it
            let holding = plan.tiles.indices.filter { i in
                let t = plan.tiles[i]
                return b.x >= Double(t.x) && b.y >= Double(t.y) && b.maxX <= Double(t.maxX) && b.maxY <= Double(t.maxY)
            }
            let cx = b.x + b.width / 2, cy = b.y + b.height / 2
            if let best = holding.min(by: { a, c in
                let ta = plan.tiles[a], tc = plan.tiles[c]
                return abs(Double(ta.x) + Double(ta.width) / 2 - cx) + abs(Double(ta.y) + Double(ta.height) / 2 - cy)
                    < abs(Double(tc.x) + Double(tc.width) / 2 - cx) + abs(Double(tc.y) + Double(tc.height) / 2 - cy)
            }) { chosen.insert(best) }
        }
        return chosen.sorted()
    }

    /// Remembers which of this frame's faces the whole-frame pass missed.
    public mutating func update(result: [Detection], whole: [Detection]) {
        focus = result.filter { d in !whole.contains { $0.box.iou(d.box) >= 0.3 } }.map(\.box)
    }
}
