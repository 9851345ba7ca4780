import Faces
import Inference
import Testing

/// "Bring your own model": OpenCV Zoo's YuNet, quantized to int8 by onnxruntime
/// (scripts/optests/make_yunet_faces.py), runs on Vigil's engine and finds the same faces as
/// onnxruntime on the same file and the same input tensors (real photos, letterboxed to 320x320).
@Suite("YuNet on real photos: same faces as onnxruntime")
struct YuNetFacesTests {
    static var cases: [String] { OpTestData.caseNames.filter { $0.hasPrefix("yunet_faces-") } }

    @Test func yunetCasesExistWhenSharedIsPresent() {
        // YuNet lives in ../shared (development and CI only); without it there is nothing to test.
        if access(OpTestData.repoRoot + "/../shared/models/yunet", R_OK) == 0 {
            #expect(Self.cases.count >= 2, "run scripts/optests/make_yunet_faces.py (make optests)")
        } else {
            print("note: ../shared/models/yunet absent: YuNet face cases skipped")
        }
    }

    @Test(arguments: cases)
    func sameFacesAsOnnxRuntime(_ name: String) throws {
        let c = try OpTestData.load(name)
        let session = try InferenceSession(model: c.model)
        let ours = try session.run([c.inputName: c.input])
        func heads(_ values: (String) -> [Float]) -> [YuNetDecoder.Head] {
            YuNetDecoder.strides.map { s in
                .init(cls: values("cls_\(s)"), obj: values("obj_\(s)"), bbox: values("bbox_\(s)"), kps: values("kps_\(s)"))
            }
        }
        let size = Size(width: c.input.shape[3], height: c.input.shape[2])
        let decoder = YuNetDecoder(minScore: 0.6)
        let mine = decoder.decode(heads: heads { ours[$0]?.values ?? [] }, inputSize: size)
        let theirs = decoder.decode(heads: heads { n in c.outputs.first { $0.name == n }?.tensor.values ?? [] }, inputSize: size)
        print("\(name): Vigil \(mine.count) faces, onnxruntime \(theirs.count) faces")
        #expect(!theirs.isEmpty, "the photo has faces")
        #expect(mine.count == theirs.count)
        for t in theirs {
            let best = mine.map { $0.box.iou(t.box) }.max() ?? 0
            #expect(best > 0.98, "face at \(t.box) matched with IoU \(best)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import VigilCore
