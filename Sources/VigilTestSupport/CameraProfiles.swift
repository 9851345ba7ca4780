import Capture
import VigilCore

/// Capability tables of real cameras, written down from `v4l2-ctl --list-formats-ext` output,
/// so format negotiation and the capture code are tested against what drivers really offer.
public enum CameraProfiles {
    static func fr(_ fps: [Double]) -> FrameIntervals {
        .discrete(fps.map { $0 == 7.5 ? Fraction(2, 15) : Fraction(1, UInt32($0)) })
    }
    static let capture: UInt32 = DeviceCapabilities.videoCapture | DeviceCapabilities.streaming | DeviceCapabilities.readWrite

    /// A USB webcam on uvcvideo (a Logitech C920-class device): MJPEG up to 1080p30, YUYV only at
    /// low rates for large sizes.
    public static let uvcWebcam = DeviceCapabilities(
        driver: "uvcvideo", card: "HD Pro Webcam C920", busInfo: "usb-0000:01:00.0-1.2", deviceCaps: capture,
        formats: [
            FormatOption(fourcc: PixelFormat.code("YUYV"), description: "YUYV 4:2:2", sizes: .discrete([
                SizeOption(Size(width: 640, height: 480), intervals: fr([30, 24, 20, 15, 10, 7.5, 5])),
                SizeOption(Size(width: 1280, height: 720), intervals: fr([10, 7.5, 5])),
                SizeOption(Size(width: 1920, height: 1080), intervals: fr([5])),
            ])),
            FormatOption(fourcc: PixelFormat.code("MJPG"), description: "Motion-JPEG", compressed: true, sizes: .discrete([
                SizeOption(Size(width: 640, height: 480), intervals: fr([30, 24, 20, 15, 10, 7.5, 5])),
                SizeOption(Size(width: 1280, height: 720), intervals: fr([30, 24, 20, 15, 10, 7.5, 5])),
                SizeOption(Size(width: 1920, height: 1080), intervals: fr([30, 24, 20, 15, 10, 7.5, 5])),
            ])),
            FormatOption(fourcc: PixelFormat.code("H264"), description: "H.264", compressed: true, sizes: .discrete([
                SizeOption(Size(width: 1920, height: 1080), intervals: fr([30])),
            ])),
        ])

    /// vivid (the kernel's virtual camera) as Debian 12's 6.1 kernel shows it: raw formats only,
    /// discrete webcam sizes, 1..25 fps at 640x480 (a subset of its 83 formats).
    public static let vivid = DeviceCapabilities(
        driver: "vivid", card: "vivid", busInfo: "platform:vivid-000", deviceCaps: capture,
        formats: ["YUYV", "UYVY", "NV12", "GREY", "RGB3"].map { code in
            FormatOption(fourcc: PixelFormat.code(code), description: code, sizes: .discrete([
                SizeOption(Size(width: 320, height: 180), intervals: fr([50, 25, 15, 10, 5, 2, 1])),
                SizeOption(Size(width: 640, height: 360), intervals: fr([25, 15, 10, 5, 2, 1])),
                SizeOption(Size(width: 640, height: 480), intervals: fr([25, 15, 10, 5, 2, 1])),
                SizeOption(Size(width: 1280, height: 720), intervals: fr([15, 10, 5, 2, 1])),
                SizeOption(Size(width: 1920, height: 1080), intervals: fr([10, 5, 2, 1])),
            ]))
        })

    /// The Raspberry Pi camera on the legacy bcm2835-v4l2 driver: stepwise sizes, JPEG and YUYV,
    /// plus formats libv4l2 emulates (flagged EMULATED, which Vigil must not pick).
    public static let piCameraStepwise = DeviceCapabilities(
        driver: "bcm2835 mmal", card: "mmal service 16.1", busInfo: "platform:bcm2835-v4l2-0", deviceCaps: capture,
        formats: [
            FormatOption(fourcc: PixelFormat.code("YU12"), description: "Planar YUV 4:2:0",
                         sizes: .stepwise(min: Size(width: 32, height: 32), max: Size(width: 2592, height: 1944), step: Size(width: 2, height: 2))),
            FormatOption(fourcc: PixelFormat.code("YUYV"), description: "YUYV 4:2:2",
                         sizes: .stepwise(min: Size(width: 32, height: 32), max: Size(width: 2592, height: 1944), step: Size(width: 2, height: 2))),
            FormatOption(fourcc: PixelFormat.code("MJPG"), description: "Motion-JPEG", compressed: true,
                         sizes: .stepwise(min: Size(width: 32, height: 32), max: Size(width: 2592, height: 1944), step: Size(width: 2, height: 2))),
            FormatOption(fourcc: PixelFormat.code("NV12"), description: "Y/CbCr 4:2:0 (emulated)", emulated: true,
                         sizes: .stepwise(min: Size(width: 32, height: 32), max: Size(width: 2592, height: 1944), step: Size(width: 2, height: 2))),
        ])

    /// A monochrome infrared camera (GREY only).
    public static let greyIRCamera = DeviceCapabilities(
        driver: "uvcvideo", card: "IR Camera", busInfo: "usb-0000:01:00.0-1.3", deviceCaps: capture,
        formats: [
            FormatOption(fourcc: PixelFormat.code("GREY"), description: "8-bit Greyscale", sizes: .discrete([
                SizeOption(Size(width: 640, height: 360), intervals: fr([30, 15])),
                SizeOption(Size(width: 1280, height: 720), intervals: fr([15])),
            ])),
        ])

    /// A camera that only streams H.264: nothing Vigil can decode.
    public static let h264Only = DeviceCapabilities(
        driver: "uvcvideo", card: "H264 Camera", busInfo: "usb-0000:01:00.0-1.4", deviceCaps: capture,
        formats: [
            FormatOption(fourcc: PixelFormat.code("H264"), description: "H.264", compressed: true, sizes: .discrete([
                SizeOption(Size(width: 1920, height: 1080), intervals: fr([30])),
            ])),
        ])

    /// The metadata node a UVC camera exposes next to its video node (/dev/video1).
    public static let uvcMetadataNode = DeviceCapabilities(
        driver: "uvcvideo", card: "HD Pro Webcam C920", busInfo: "usb-0000:01:00.0-1.2",
        deviceCaps: 0x0080_0000 | DeviceCapabilities.streaming, formats: [])

    /// An output-only node (vivid's video output).
    public static let outputOnly = DeviceCapabilities(
        driver: "vivid", card: "vivid", busInfo: "platform:vivid-000",
        deviceCaps: DeviceCapabilities.videoOutput | DeviceCapabilities.streaming, formats: [])

    /// A read()-only capture device without streaming I/O.
    public static let readOnlyCapture = DeviceCapabilities(
        driver: "oldcam", card: "Old Camera", busInfo: "isa", deviceCaps: DeviceCapabilities.videoCapture | DeviceCapabilities.readWrite,
        formats: [])
}
