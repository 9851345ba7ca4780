import Config
import Faces
import VigilCore
import Watchlist

/// The device's embedding pipeline as the config names it: one place computes the identity lists
/// are installed under and the landmark model the analyzer cuts chips with, so the two cannot
/// disagree (a list enrolled with landmarks is refused by a device without them, never compared).
extension ConfigDocument {
    /// `models.landmarks`, or the file beside `models.embedder` (`EmbeddingPipeline`).
    var landmarksModel: String? {
        guard let embedder = string("models.embedder") else { return nil }
        return EmbeddingPipeline.landmarksPath(embedder: embedder, explicit: string("models.landmarks"))
    }

    /// The identity of `models.embedder` (+ landmarks) lists must be enrolled with.
    func embedderIdentity(model: String) throws(FileError) -> EmbedderIdentity {
        try EmbedderIdentity(pipelineFor: model, landmarks: string("models.landmarks"))
    }
}
