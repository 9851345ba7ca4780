import Capture
import Testing
import VigilCore

@Suite("errno → typed capture errors")
struct ErrorMappingTests {
    @Test(arguments: [Errno.noSuchDevice, .noSuchDeviceOrAddress, .ioError])
    func deviceGoneErrnosMeanDisconnected(_ e: Errno) {
        #expect(CaptureError.from(e, path: "/dev/video2", request: "VIDIOC_DQBUF") == .disconnected(path: "/dev/video2", e))
    }

    @Test func busyIsItsOwnError() {
        let e = CaptureError.from(.busy, path: "/dev/video0", request: "VIDIOC_S_FMT")
        #expect(e == .busy(path: "/dev/video0"))
        #expect(e.description == "/dev/video0: device is in use by another process (EBUSY)")
    }

    @Test func otherErrnosNameTheRequest() {
        let e = CaptureError.from(.invalidArgument, path: "/dev/video0", request: "VIDIOC_QBUF")
        #expect(e == .ioctl(path: "/dev/video0", request: "VIDIOC_QBUF", .invalidArgument))
        #expect(e.description.contains("VIDIOC_QBUF failed: EINVAL"))
    }

    @Test func everyDescriptionIsOneLineStartingWithThePath() {
        let all: [CaptureError] = [
            .open(path: "/p", .permissionDenied), .notAV4L2Device(path: "/p", .notATTY),
            .notACaptureDevice(path: "/p", card: "c", missing: ["a", "b"]), .busy(path: "/p"),
            .disconnected(path: "/p", .noSuchDevice), .noFrame(path: "/p", timeout: .seconds(2)),
            .unsupportedFormat(path: "/p", requested: .mjpeg, available: [.yuyv]),
            .unsupportedSize(path: "/p", requested: Size(width: 1, height: 1), available: []),
            .noUsableFormat(path: "/p", available: []), .formatRejected(path: "/p", requested: "a", got: "b"),
            .ioctl(path: "/p", request: "X", .ioError), .mmap(path: "/p", .outOfMemory),
            .noFrames(path: "/p", reason: "r"), .read(path: "/p", .ioError), .endOfStream(path: "/p"),
            .notStreaming(path: "/p"),
        ]
        for e in all {
            #expect(e.description.hasPrefix("/p: "))
            #expect(!e.description.contains("\n"))
            #expect(e.path == "/p")
        }
        #expect(CaptureError.open(path: "/p", .permissionDenied).description.contains("group 'video'"))
    }

    @Test func errnoNamesAreReadable() {
        #expect(Errno.noSuchDevice.description.hasPrefix("ENODEV: "))
        #expect(Errno(rawValue: 9999).name == "errno 9999")
    }
}
