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
        var all = whole
        for (tile, found) in zip(tiles, perTile) {
            all += found.filter { !touchesInnerEdge($0.box, of: tile) }
        }
        return NonMaxSuppression.weighted(all, iouThreshold: iouThreshold)
    }
}
