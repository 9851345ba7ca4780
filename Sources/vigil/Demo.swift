import ArgumentParser
import Capture
import Imaging
import Pipeline
import VigilCore

extension Vigil {
    /// `vigil demo`: the main job on a file source (no camera needed).
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the frame path on a file source: decode each frame to detector size and print per-frame statistics.",
            discussion: "Without --source it plays an embedded synthetic 1280x720 MJPEG clip (with one frame missing its Huffman tables and one truncated frame, as real UVC cameras send them).")

        @Option(help: "A folder of JPEGs or an MJPEG stream file; default: the embedded clip.")
        var source: String?

        @Option(help: "Frames to process.")
        var frames: Int = 24

        @Option(help: "Frames per second to play at (0 = as fast as possible).")
        var fps: Double = 0

        @Flag(help: "Loop the source.")
        var loop = false

        @Option(help: "Detector input size WxH.")
        var size: Size = Size(width: 320, height: 240)

        func run() throws {
            do {
                let pacing: FilePacing = fps > 0 ? .realTime(fps: fps) : .asFastAsPossible
                let src: FileFrameSource
                if let source {
                    src = try FileFrameSource(path: source, pacing: pacing, loop: loop)
                } else {
                    src = try FileFrameSource(name: "embedded-clip", mjpegStream: try DemoClip.make(), pacing: pacing, loop: loop)
                }
                print("demo: source \(src.path) (\(src.frameCount) frames), detector size \(size)")
                let summary = try DemoRunner(target: size, frames: frames).run(source: src) { print($0) }
                print(summary)
            } catch let e as CaptureError {
                throw fail(e.description)
            } catch let e as ImagingError {
                throw fail("\(e)")
            }
        }
    }
}
