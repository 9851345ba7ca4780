import Faces
import Imaging
import Pipeline
import Testing
import VigilCore
import VigilTestSupport

/// The same photo as JPEG, lossless PNG and lossless WebP gives the same faces with the real
/// models (issue 15): the new decoders hand the detector and embedder identical pixels. The PNG
/// and WebP are made here from the JPEG's decoded pixels (no image files committed).
@Suite("Photo formats (real models, PyPI photo)")
struct PhotoFormatsTests {
    static let repo = EnrollmentTests.repo

    @Test func losslessPNGAndWebPGiveTheJPEGsFaces() throws {
        let models = Self.repo + "/models"
        let analyzer = FaceAnalyzer(detector: try BlazeFaceModel(path: models + "/blazeface_full_int8.onnx"),
                                    embedder: try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx"))
        let jpeg = try ImageFile.load(Self.repo + "/.cache/photos/obama.jpg")
        let reference = try analyzer.analyze(jpeg.image, embed: true)
        #expect(reference.count >= 1)
        #expect(reference.allSatisfy { $0.embedding != nil })

        let dir = makeTempDirectory("photo-formats")
        let png = dir + "/obama.png", webp = dir + "/obama.webp"
        try writeFileAtomically(png, try PNGEncoder.encode(jpeg.image))
        try writeFileAtomically(webp, try WebPEncoder.encode(jpeg.image))
        for path in [png, webp] {
            let loaded = try ImageFile.load(path)
            #expect(loaded.image == jpeg.image && loaded.scale == jpeg.scale, "\(path)")
            let faces = try analyzer.analyze(loaded.image, embed: true)
            #expect(faces.count == reference.count, "\(path)")
            for (f, r) in zip(faces, reference) {
                guard let e = f.embedding, let re = r.embedding else { Issue.record("\(path): face without embedding"); continue }
                #expect(e.cosine(re) > 0.999, "\(path): cosine \(e.cosine(re))")
            }
        }
    }
}
