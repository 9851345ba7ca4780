// vigil-vmtest: the kernel-level test runner. It runs inside the qemu VM (Tests/vm/) against
// real drivers — vivid as the camera, v4l2loopback fed with MJPEG by a writer process — using
// the same Capture and Imaging code as the agent. Prints `PASS name` / `FAIL name: reason`
// lines; exits 0 iff nothing failed.
//
//   vigil-vmtest vivid --device /dev/video0 --unbind /sys/bus/platform/drivers/vivid/unbind --unbind-id vivid.0
//   vigil-vmtest loopback --device /dev/video10 --reference DIR --frames 20
//   vigil-vmtest make-reference --out DIR [--count 8] [--size 640x480]   (host side, before boot)
//   vigil-vmtest make-clip --out DIR [--size 640x480] PHOTO[:N]...         (host side, before boot)

import Capture
import Imaging
import Pipeline
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) var failures = 0  // the suites run on the main thread only
nonisolated(unsafe) var passes = 0

/// Prints and flushes at once: the VM harness reads the console live, and a crash must not
/// swallow buffered lines.
func say(_ s: String) { print(s); fflush(nil) }
func pass(_ name: String) { passes += 1; say("PASS \(name)") }
func fail(_ name: String, _ why: String) { failures += 1; say("FAIL \(name): \(why)") }
func check(_ name: String, _ ok: Bool, _ why: @autoclosure () -> String) { ok ? pass(name) : fail(name, why()) }
func log(_ s: String) { say("  " + s) }

/// Runs a test body; an unexpected error is a FAIL naming it.
func test(_ name: String, _ body: () throws -> Void) {
    do { try body() } catch { fail(name, "unexpected error: \(error)") }
}

func option(_ name: String, _ args: [String]) -> String? {
    guard let i = args.firstIndex(of: "--" + name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    print("usage: vigil-vmtest vivid|loopback|make-reference|make-clip [options]")
    exit(2)
}

switch command {
case "vivid":
    VividSuite(
        device: option("device", args) ?? "/dev/video0",
        unbindPath: option("unbind", args), unbindID: option("unbind-id", args)
    ).run()
case "loopback":
    LoopbackSuite(
        device: option("device", args) ?? "/dev/video10",
        referenceDir: option("reference", args) ?? ".",
        frames: Int(option("frames", args) ?? "20") ?? 20
    ).run()
case "make-reference":
    do {
        try ReferenceFrames.write(
            to: option("out", args) ?? "mjpeg-ref", count: Int(option("count", args) ?? "8") ?? 8,
            size: Size(parsing: option("size", args) ?? "640x480") ?? Size(width: 640, height: 480))
        print("wrote reference frames")
    } catch {
        print("make-reference: \(error)")
        exit(1)
    }
    exit(0)
case "make-clip":
    // options first, then the photos (every argument that is not an option or its value)
    var photos: [String] = []
    var i = 1
    while i < args.count {
        if args[i].hasPrefix("--") { i += 2 } else { photos.append(args[i]); i += 1 }
    }
    do {
        try PhotoClip.write(photos: photos, to: option("out", args) ?? "clip",
                            size: Size(parsing: option("size", args) ?? "640x480") ?? Size(width: 640, height: 480))
        print("wrote a clip of \(photos.count) photo(s)")
    } catch {
        print("make-clip: \(error)")
        exit(1)
    }
    exit(0)
default:
    print("unknown suite \(command)")
    exit(2)
}
print("vigil-vmtest \(command): \(passes) passed, \(failures) failed")
exit(failures == 0 ? 0 : 1)
