import Faces
import Imaging
import VigilCore
import Watchlist

/// Why a list cannot be searched.
public enum ProbeSearchError: Error, Equatable, CustomStringConvertible {
    /// Refused as `watchlist install` refuses it (forged, expired, wrong embedder, malformed).
    case list(WatchlistError)
    /// Verified, but the device would not match against it now (e.g. stale): searching it would
    /// produce leads the device itself would never raise.
    case notMatchable(String)

    public var description: String {
        switch self {
        case .list(let e): "\(e)"
        case .notMatchable(let h): "the list may not be matched against now (\(h)): not searched"
        }
    }
}

/// One probe face and its best entries.
public struct ProbeFace: Sendable {
    public var detection: Detection
    /// Best first, one per entry (`WatchlistMatcher.search`).
    public var candidates: [SearchCandidate]
}

/// The investigative 1:N search (a probe photo against a signed list of booking photos; every
/// candidate is a lead for human review). Admission is the device's — signature, expiry, issue
/// date and embedder identity through `WatchlistPolicy.checkAdmissible`, as install — and the
/// ranking is the device's matcher (`WatchlistMatcher.search`), so a candidate marked `match`
/// here is exactly a hit the device would raise on that face.
public struct ProbeSearch: Sendable {
    public let bundle: WatchlistBundle
    public let health: WatchlistHealth
    let matcher: WatchlistMatcher
    let now: Int64

    public init(bundle bytes: [UInt8], authority: AuthorityPublicKey, embedder: EmbedderIdentity, now: Int64) throws(ProbeSearchError) {
        do {
            let b = try WatchlistBundle(parsing: bytes)
            try b.verify(with: authority)
            try WatchlistPolicy.checkAdmissible(b.header, embedder: embedder, now: now)
            bundle = b
        } catch { throw .list(error) }
        do { matcher = try WatchlistMatcher(bundle: bundle, now: now) } catch {
            throw .list(error as? WatchlistError ?? .badField("index: \(error)"))
        }
        health = WatchlistPolicy.health(of: bundle.header, now: now)
        guard health.allowsMatching else { throw .notMatchable("\(health)") }
        self.now = now
    }

    /// Every face `analyzer` finds and embeds in `image`, largest first, with its `top` best
    /// entries. Faces the quality gate refused have no embedding and are left out (the caller
    /// may report them from `analyzer` itself).
    public func search(_ image: RGBImage, analyzer: FaceAnalyzer, top: Int) throws -> [ProbeFace] {
        let faces = try analyzer.analyze(image, embed: true).filter { $0.embedding != nil }
        return search(faces, top: top)
    }

    public func search(_ faces: [AnalyzedFace], top: Int) -> [ProbeFace] {
        let embedded = faces.filter { $0.embedding != nil }
        let results = matcher.search(embedded.map { $0.embedding!.values }, top: top, now: now, health: health)
        return zip(embedded, results).map { ProbeFace(detection: $0.detection, candidates: $1) }
    }
}
