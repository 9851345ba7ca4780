// One camera: open, stream, copy each frame into the camera's latest-frame slot; on any failure
// report it, back off, and reopen — sooner when the device node comes back (udev recreated it).
#if canImport(Glibc)
import Glibc
#endif
import Capture
import Config
import LEDs
import VigilCore

public struct CameraLoop: Sendable {
    public let camera: CameraSettings
    public let slot: LatestFrameSlot
    public let state: AgentState
    /// A camera path outside /dev is a recorded clip (a folder of JPEGs or an MJPEG file), played
    /// at the camera's fps: the demo and the tests run the real agent on it.
    public let loopFiles: Bool
    /// Called once when a (non-looping) clip has played to its end.
    public let onEnd: @Sendable () -> Void

    public init(camera: CameraSettings, slot: LatestFrameSlot, state: AgentState, loopFiles: Bool = false, onEnd: @escaping @Sendable () -> Void = {}) {
        self.camera = camera; self.slot = slot; self.state = state; self.loopFiles = loopFiles; self.onEnd = onEnd
    }

    var isFile: Bool { !camera.device.hasPrefix("/dev/") }
    var healthName: String { "camera " + camera.name }

    func open() throws -> any FrameSource {
        if isFile {
            return try FileFrameSource(path: camera.device, pacing: .realTime(fps: Double(camera.fps)), loop: loopFiles)
        }
        let format: PixelFormat? = camera.format == "mjpeg" ? .mjpeg : camera.format == "yuyv" ? .yuyv : nil
        return try V4L2Camera(path: camera.device, request: CaptureRequest(size: Size(width: camera.width, height: camera.height),
                                                                           fps: Double(camera.fps), format: format))
    }

    public func run(_ stop: StopFlag) {
        var backoff: Duration = .seconds(1)
        state.updateCamera(camera.name) { $0.device = camera.device }
        while !stop.isStopped {
            let began = MonotonicInstant.now()
            switch session(stop) {
            case .ended:
                onEnd()
                return
            case .openFailed:
                break
            case .lost:
                state.updateCamera(camera.name) { $0.reconnects += 1 }
                // a stream that ran a good while starts over with a short wait; one that failed at
                // once keeps backing off, so a device that opens but never streams cannot spin
                if began.duration(to: .now()) >= .seconds(30) { backoff = .seconds(1) }
            }
            if stop.isStopped { return }
            // the device is closed here (the session owned it), so a technician can unload or
            // replace the driver while the agent waits
            if waitForDevice(stop, backoff) { backoff = .seconds(1) } else { backoff = min(backoff * 2, .seconds(30)) }
        }
    }

    enum SessionEnd { case openFailed, lost, ended }

    /// One open → stream → close cycle. The source is released when this returns.
    func session(_ stop: StopFlag) -> SessionEnd {
        let source: any FrameSource
        do {
            source = try open()
            try source.start()
        } catch {
            fault("\(error)")
            return .openFailed
        }
        state.report(healthName, .ok)
        state.updateCamera(camera.name) { $0.connected = true; $0.lastError = nil }
        let ended = stream(source, stop)
        source.stop()
        return ended ? .ended : .lost
    }

    func fault(_ message: String) {
        state.report(healthName, .degraded, message)
        state.updateCamera(camera.name) { $0.connected = false; $0.lastError = message }
    }

    /// Sleeps `d`, or less when a missing device node reappears (then returns true: udev created
    /// it again, so the next attempt is likely to work and the backoff starts over).
    func waitForDevice(_ stop: StopFlag, _ d: Duration) -> Bool {
        let missing = !isFile && access(camera.device, F_OK) != 0
        var left = d
        while left > .zero && !stop.isStopped {
            stop.sleep(.milliseconds(250))
            left -= .milliseconds(250)
            if missing && access(camera.device, F_OK) == 0 {
                stop.sleep(.milliseconds(500))  // let udev finish permissions and symlinks
                return true
            }
        }
        return false
    }

    /// After this long without a frame the device is closed and opened again: a wedged USB camera
    /// (or a loopback device whose writer went away) often recovers that way, and a closed device
    /// can be unloaded or replaced while the agent waits.
    static let stallReopen: Duration = .seconds(10)

    /// Streams until an error; true when a clip ended.
    func stream(_ source: any FrameSource, _ stop: StopFlag) -> Bool {
        var lastFrame = MonotonicInstant.now()
        var fps = 0.0
        var previous: MonotonicInstant?
        var captured = 0
        while !stop.isStopped {
            do {
                let frame = try source.nextFrame(timeout: .milliseconds(250))
                let info = frame.info
                slot.put(.init(info: info, bytes: Array(frame.bytes)))
                captured += 1
                if let p = previous {
                    let dt = Double(p.duration(to: info.captureTime).nanosecondsClamped) / 1e9
                    if dt > 0 { fps = fps == 0 ? 1 / dt : 0.9 * fps + 0.1 / dt }
                }
                previous = info.captureTime
                lastFrame = .now()
                if captured % 15 == 1 {
                    let f = fps, c = captured, dropped = slot.dropped
                    state.updateCamera(camera.name) {
                        $0.format = "\(info.format)"; $0.size = info.size; $0.measuredFPS = f
                        $0.framesCaptured = c; $0.framesDropped = dropped; $0.connected = true
                    }
                    state.report(healthName, .ok)
                }
            } catch let e as CaptureError {
                switch e {
                case .noFrame:
                    let quiet = lastFrame.duration(to: .now())
                    if quiet > Self.stallReopen {
                        fault("no frames for \(Self.stallReopen.components.seconds) s: closing the device to open it again")
                        return false
                    }
                    if quiet > .seconds(5) {
                        state.report(healthName, .degraded, "no frames for 5 s")
                    }
                    continue
                case .endOfStream:
                    state.updateCamera(camera.name) { $0.connected = false; $0.lastError = "clip ended" }
                    state.report(healthName, .ok)
                    return true
                default:
                    fault("\(e)")
                    return false
                }
            } catch {
                fault("\(error)")
                return false
            }
        }
        return false
    }
}
