import Capture
import Testing
import VigilCore
import VigilTestSupport

@Suite("Format negotiation against recorded capability tables")
struct FormatNegotiationTests {
    func negotiate(_ caps: DeviceCapabilities, _ r: CaptureRequest) throws -> NegotiatedFormat {
        try FormatNegotiator.negotiate(caps, request: r, path: "/dev/video0")
    }

    @Test func webcamPrefersMJPEGOverYUYV() throws {
        let n = try negotiate(CameraProfiles.uvcWebcam, CaptureRequest(size: Size(width: 1280, height: 720), fps: 30))
        #expect(n.format == .mjpeg)
        #expect(n.size == Size(width: 1280, height: 720))
        #expect(n.interval == Fraction(1, 30))
    }

    @Test func forcedYUYVPicksClosestOfferedRate() throws {
        let n = try negotiate(CameraProfiles.uvcWebcam, CaptureRequest(size: Size(width: 1280, height: 720), fps: 30, format: .yuyv))
        #expect(n.format == .yuyv)
        #expect(n.interval == Fraction(1, 10))  // YUYV 720p only goes to 10 fps over USB 2
        #expect(n.notes.contains { $0.contains("closest is 10") })
    }

    @Test func rateTiesGoToTheFasterInterval() throws {
        // 12.5 fps lies between 10 and 15: equally far; the faster one wins.
        let n = try negotiate(CameraProfiles.uvcWebcam, CaptureRequest(size: Size(width: 640, height: 480), fps: 12.5))
        #expect(n.interval == Fraction(1, 15))
        let slow = try negotiate(CameraProfiles.uvcWebcam, CaptureRequest(size: Size(width: 640, height: 480), fps: 7))
        #expect(slow.interval == Fraction(2, 15))
    }

    @Test func vividHasNoMJPEGSoYUYVWins() throws {
        let n = try negotiate(CameraProfiles.vivid, CaptureRequest(size: Size(width: 640, height: 480), fps: 15))
        #expect(n.format == .yuyv)
        #expect(n.interval == Fraction(1, 15))
    }

    @Test func defaultSizeIs640x480WhenOffered() throws {
        let n = try negotiate(CameraProfiles.uvcWebcam, CaptureRequest())
        #expect(n.size == Size(width: 640, height: 480))
        #expect(n.format == .mjpeg)
        #expect(n.interval == nil)  // no fps asked: the driver's rate stays
    }

    @Test func defaultSizeFallsBackToSmallestCoveringSize() throws {
        let n = try negotiate(CameraProfiles.greyIRCamera, CaptureRequest())
        #expect(n.format == .grey)
        #expect(n.size == Size(width: 1280, height: 720))  // 640x360 is too short for 640x480
    }

    @Test func stepwiseSizesAcceptSizesOnTheGridAndSkipEmulatedFormats() throws {
        let n = try negotiate(CameraProfiles.piCameraStepwise, CaptureRequest(size: Size(width: 1296, height: 972)))
        #expect(n.format == .mjpeg)
        #expect(throws: CaptureError.self) {
            try negotiate(CameraProfiles.piCameraStepwise, CaptureRequest(size: Size(width: 1297, height: 972)))
        }
        // NV12 exists only as a libv4l2 emulation: asking for it must fail, not silently convert.
        #expect(throws: CaptureError.unsupportedFormat(
            path: "/dev/video0", requested: .nv12, available: [PixelFormat(name: "YU12")!, .yuyv, .mjpeg])) {
            try negotiate(CameraProfiles.piCameraStepwise, CaptureRequest(format: .nv12))
        }
    }

    @Test func unsupportedSizeNamesTheOfferedSizes() throws {
        do {
            _ = try negotiate(CameraProfiles.uvcWebcam, CaptureRequest(size: Size(width: 800, height: 600)))
            Issue.record("expected an error")
        } catch let e as CaptureError {
            guard case .unsupportedSize(_, let req, let avail) = e else { Issue.record("wrong error \(e)"); return }
            #expect(req == Size(width: 800, height: 600))
            #expect(avail.contains(Size(width: 1920, height: 1080)))
            #expect(e.description.hasPrefix("/dev/video0: size 800x600 not offered"))
        }
    }

    @Test func aSizeOnlyYUYVOffersFallsBackFromMJPEG() throws {
        var caps = CameraProfiles.uvcWebcam
        caps.formats[0].sizes = .discrete([SizeOption(Size(width: 320, height: 240), intervals: .discrete([Fraction(1, 30)]))])
        let n = try negotiate(caps, CaptureRequest(size: Size(width: 320, height: 240)))
        #expect(n.format == .yuyv)
        #expect(n.notes.contains { $0.contains("MJPG lacks 320x240") })
    }

    @Test func cameraWithNothingDecodableIsRefused() throws {
        #expect(throws: CaptureError.noUsableFormat(path: "/dev/video0", available: [PixelFormat(name: "H264")!])) {
            try negotiate(CameraProfiles.h264Only, CaptureRequest())
        }
    }

    @Test func unknownIntervalsStillAskForTheRate() throws {
        var caps = CameraProfiles.greyIRCamera
        caps.formats[0].sizes = .discrete([SizeOption(Size(width: 640, height: 480))])
        let n = try negotiate(caps, CaptureRequest(fps: 20))
        #expect(n.interval.map { abs($0.fps - 20) < 1e-9 } == true)
    }
}
