import ArgumentParser
import Capture
import Imaging
import Pipeline
import VigilCore

extension Vigil {
    /// `vigil capture`: grab frames from a camera and save them as JPEG files.
    struct Capture: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Capture frames from a V4L2 camera and save them as JPEG files.",
            discussion: "Prints the negotiated format, the measured frame rate and the frames the driver dropped (gaps in V4L2 sequence numbers).")

        @Option(help: "The video device, e.g. /dev/video0.")
        var device: String

        @Option(help: "Number of frames to save.")
        var frames: Int = 30

        @Option(help: "Output directory (created if missing).")
        var out: String

        @Option(help: "Frame size WxH (must be offered by the camera); default 640x480 or the nearest.")
        var size: Size?

        @Option(help: "Pixel format: mjpeg, yuyv, nv12 or grey; default the first offered in that order.")
        var format: PixelFormat?

        @Option(help: "Frames per second to request.")
        var fps: Double?

        @Option(help: "Driver buffers to map (2-32).")
        var buffers: Int = 4

        @Option(help: "Seconds to wait for a frame before giving up.")
        var timeout: Double = 3

        func validate() throws {
            guard frames > 0 else { throw ValidationError("--frames must be positive") }
            guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        }

        func run() throws {
            do {
                let request = CaptureRequest(size: size, fps: fps, format: format, bufferCount: buffers)
                let camera = try V4L2Camera(path: device, request: request)
                try camera.start()
                print("\(device): \(camera.capabilities.driver) \"\(camera.capabilities.card)\": \(camera.active.map(\.description) ?? "?")")
                let saver = try FrameSaver(directory: out)
                let report = try runCapture(from: camera, count: frames, timeout: .milliseconds(Int(timeout * 1000))) { frame in
                    try saver.save(frame)
                }
                camera.stop()
                print("\(device): \(report)")
                print("saved \(report.frames - report.corrupt) frames to \(out)")
            } catch let e as CaptureError {
                throw fail(e.description)
            } catch let e as FileError {
                throw fail(e.description)
            } catch let e as ImagingError {
                throw fail("\(device): \(e)")
            }
        }
    }
}
