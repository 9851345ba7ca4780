// Embedding a photo set for evaluation: every photo through the device's own analyzer (detect,
// landmarks, align, embed), over all cores, the face nearest the photo's centre kept — LFW's
// convention for which face is the labelled one.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Faces
import Imaging
import Pipeline
import Synchronization
import VigilCore

/// What evaluation keeps of one photo.
public struct PhotoFace: Sendable {
    /// Faces found in the photo (0 = none).
    public var facesFound: Int
    /// The embedding of the face nearest the centre; nil when no face was found or it could
    /// not be embedded.
    public var embedding: [Float]?
    /// Why the photo could not be read, if so.
    public var error: String?
}

public final class PhotoEmbedder: @unchecked Sendable {
    let analyzers: [FaceAnalyzer]

    /// One analyzer per thread (engine sessions are not thread-safe).
    public init(threads: Int, makeAnalyzer: () throws -> FaceAnalyzer) rethrows {
        var a: [FaceAnalyzer] = []
        for _ in 0..<max(1, threads) { a.append(try makeAnalyzer()) }
        analyzers = a
    }

    /// Index of the face whose box centre is nearest the image centre.
    public static func nearestCentre(_ faces: [AnalyzedFace], in size: Size) -> Int? {
        let cx = Double(size.width) / 2, cy = Double(size.height) / 2
        return faces.indices.min { a, b in
            let pa = faces[a].detection.box.center, pb = faces[b].detection.box.center
            return (pa.x - cx) * (pa.x - cx) + (pa.y - cy) * (pa.y - cy) < (pb.x - cx) * (pb.x - cx) + (pb.y - cy) * (pb.y - cy)
        }
    }

    /// Embeds `paths` in parallel; results in input order. `progress` is called from one thread
    /// at a time with the number done.
    public func embed(_ paths: [String], progress: @Sendable (Int) -> Void = { _ in }) -> [PhotoFace] {
        let results = Mutex<[PhotoFace?]>(Array(repeating: nil, count: paths.count))
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let box = UncheckedBox(analyzers)
        DispatchQueue.concurrentPerform(iterations: analyzers.count) { worker in
            let analyzer = box.value[worker]
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < paths.count else { return }
                let face = Self.one(paths[i], analyzer)
                results.withLock { $0[i] = face }
                let n = done.wrappingAdd(1, ordering: .relaxed).newValue
                if n % 500 == 0 { progress(n) }
            }
        }
        return results.withLock { $0.map { $0! } }
    }

    static func one(_ path: String, _ analyzer: FaceAnalyzer) -> PhotoFace {
        let img: RGBImage
        do { img = try ImageFile.load(path).image } catch { return PhotoFace(facesFound: 0, embedding: nil, error: error.reason) }
        do {
            let faces = try analyzer.analyze(img, embed: true)
            guard let i = nearestCentre(faces, in: img.size) else { return PhotoFace(facesFound: 0, embedding: nil) }
            return PhotoFace(facesFound: faces.count, embedding: faces[i].embedding?.values)
        } catch {
            return PhotoFace(facesFound: 0, embedding: nil, error: "\(error)")
        }
    }
}

final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
