import Imaging
import VigilCore

/// A face detector model behind Vigil's engine: takes an image of exactly `inputSize` and
/// returns detections in that image's pixels. BlazeFace and YuNet wrappers implement it; tests
/// use fakes.
public protocol DetectorModel: AnyObject {
    var inputSize: Size { get }
    func detect(input: RGBImage) throws -> [Detection]
}

/// How a frame is searched for faces.
public struct DetectionOptions: Hashable, Sendable {
    /// Also search overlapping tiles (finds small faces in high-resolution frames).
    public var tiles: Bool
    /// Tile side in frame pixels; each tile is letterboxed into the model input.
    public var tileSize: Size
    /// Minimum overlap between neighbouring tiles: the largest face a tile must see whole.
    public var minOverlap: Int
    /// Tiling only pays off above this frame size (both sides must exceed it).
    public var tileAbove: Size

    /// A zoomed-out pass: the whole frame shrunk to 1/`closeUpZoom` of the model input (padded),
    /// so a face that fills the frame is seen at a size the detector was trained on; nil: off.
    ///
    /// Why: BlazeFace full range is trained on faces at 2–5 m and finds almost no face that fills
    /// its input — a body-worn camera at arm's length, a cropped ID photo at enrollment
    /// (utkface-dev's 200x200 chips: 6 of 1,000 found without this pass). Measured on those chips:
    /// 1.5x finds 83 %, 2x 98 %, 2.5x 99.5 %, 3x 99.8 %; 3x still finds every LFW face the plain
    /// pass finds. It costs one more detector run (~2.5 ms here) on frames without a face, and adds only faces
    /// the other passes did not find: it runs only when the whole-frame pass found no face.
    public var closeUpZoom: Double?

    public init(tiles: Bool = true, tileSize: Size = Size(width: 384, height: 384), minOverlap: Int = 96,
                tileAbove: Size = Size(width: 640, height: 480), closeUpZoom: Double? = 3) {
        self.tiles = tiles; self.tileSize = tileSize; self.minOverlap = minOverlap; self.tileAbove = tileAbove
        self.closeUpZoom = closeUpZoom.flatMap { $0.isFinite && $0 > 1 ? $0 : nil }
    }
}

/// Finds faces in a frame of any size: the whole frame letterboxed into the model, plus (for
/// large frames) overlapping tiles, merged with cross-tile NMS. Results are in frame pixels.
public func detectFaces(in frame: RGBImage, model: DetectorModel, options: DetectionOptions = DetectionOptions()) throws -> [Detection] {
    var all = TileRotation(perFrame: 0)
    return try detectFaces(in: frame, model: model, options: options, rotation: &all)
}

/// As `detectFaces(in:model:options:)`, searching only the tiles `rotation` picks for this frame
/// (see `TileRotation`).
public func detectFaces(in frame: RGBImage, model: DetectorModel, options: DetectionOptions, rotation: inout TileRotation) throws -> [Detection] {
    var whole = try detect(frame, model: model)
    if let zoom = options.closeUpZoom, whole.isEmpty {
        // Only when the plain pass found nothing: a face that fills the frame is the only face
        // in it, and at a third of the resolution the pass also "finds" small false faces next to
        // real ones (a one-face enrollment photo became ambiguous when it ran on every frame).
        whole = try detect(frame, model: model, fill: 1 / zoom)
    }
    guard options.tiles, frame.width > options.tileAbove.width || frame.height > options.tileAbove.height else {
        return NonMaxSuppression.weighted(whole, iouThreshold: 0.3)
    }
    let plan = TilePlan(frame: frame.size, tileSize: options.tileSize, minOverlap: options.minOverlap)
    guard plan.tiles.count > 1 else { return NonMaxSuppression.weighted(whole, iouThreshold: 0.3) }
    var found: [(tile: Rect, detections: [Detection])] = []
    for i in rotation.pick(plan) {
        let tile = plan.tiles[i]
        let d = try detect(frame.cropped(to: tile), model: model)
        found.append((tile, d.map { $0.mapped(scaleX: 1, scaleY: 1, dx: Double(tile.x), dy: Double(tile.y)) }))
    }
    let result = plan.merge(whole: whole, found: found)
    rotation.update(result: result, whole: whole)
    return result
}

/// One letterboxed pass: frame → model input → detections back in frame pixels.
func detect(_ image: RGBImage, model: DetectorModel, fill: Double = 1) throws -> [Detection] {
    let lb = Letterbox(source: image.size, target: model.inputSize, fill: fill)
    return try model.detect(input: lb.apply(image)).map { lb.unmap(pixels: $0) }
}
