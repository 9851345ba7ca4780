import Testing
import VigilCore

@Suite("Core value types")
struct VigilCoreTests {
    @Test func fourccRoundTripsAndNames() {
        #expect(PixelFormat(fourcc: PixelFormat.code("MJPG")) == .mjpeg)
        #expect(PixelFormat(fourcc: PixelFormat.code("JPEG")) == .mjpeg)
        #expect(PixelFormat.yuyv.fourcc == 0x5659_5559)
        #expect(PixelFormat(name: "yuy2") == .yuyv)
        #expect(PixelFormat(name: "H264") == .other(fourcc: PixelFormat.code("H264")))
        #expect(PixelFormat(name: "toolong") == nil)
        #expect(PixelFormat.string(PixelFormat.code("Y16 ") | 0x8000_0000) == "Y16-BE")
        #expect(PixelFormat.string(0x0102_0304) == "0x1020304")
        #expect(PixelFormat.preference.allSatisfy { $0.isDecodable })
        #expect(!PixelFormat(name: "H264")!.isDecodable)
    }

    @Test func packedSizes() {
        #expect(PixelFormat.yuyv.packedSize(width: 640, height: 480) == 614_400)
        #expect(PixelFormat.nv12.packedSize(width: 641, height: 481) == 641 * 481 + 2 * 321 * 241)
        #expect(PixelFormat.grey.packedSize(width: 4, height: 3) == 12)
        #expect(PixelFormat.mjpeg.packedSize(width: 4, height: 3) == nil)
    }

    @Test func sizesParseAndCompare() {
        #expect(Size(parsing: "640x480") == Size(width: 640, height: 480))
        #expect(Size(parsing: "640X480") == Size(width: 640, height: 480))
        for bad in ["640", "x480", "0x10", "-1x5", "axb", "1x2x3"] { #expect(Size(parsing: bad) == nil, "\(bad)") }
        #expect(Size(width: 640, height: 480) < Size(width: 1280, height: 720))
        #expect(Size(width: 640, height: 480).covers(Size(width: 640, height: 360)))
        #expect(!Size(width: 640, height: 360).covers(Size(width: 320, height: 480)))
    }

    @Test func rectIntersection() {
        let a = Rect(x: 0, y: 0, width: 10, height: 10)
        #expect(a.intersection(Rect(x: 5, y: 5, width: 10, height: 10)) == Rect(x: 5, y: 5, width: 5, height: 5))
        #expect(a.intersection(Rect(x: 20, y: 0, width: 5, height: 5)).isEmpty)
    }

    @Test func monotonicTimeArithmetic() {
        let t = MonotonicInstant(nanoseconds: 5_000_000_000)
        #expect(t.advanced(by: .milliseconds(250)).nanoseconds == 5_250_000_000)
        #expect(t.advanced(by: .milliseconds(-250)).nanoseconds == 4_750_000_000)
        #expect(t.duration(to: t.advanced(by: .seconds(2))) == .seconds(2))
        #expect(t.advanced(by: .seconds(1)).duration(to: t) == .seconds(-1))
        #expect(Duration.seconds(Int64.max).nanosecondsClamped == Int64.max)
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        let a = MonotonicInstant.now(), b = MonotonicInstant.now()
        #expect(a <= b)
    }

    @Test func errnoDescriptions() {
        #expect(Errno.busy.name == "EBUSY")
        #expect(Errno.busy.description == "EBUSY: Device or resource busy")
    }
}
