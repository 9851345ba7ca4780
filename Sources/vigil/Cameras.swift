import ArgumentParser
import Capture
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

extension Vigil {
    /// `vigil cameras`: every /dev/video* node with what the driver says about it.
    struct Cameras: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List V4L2 devices (/dev/video*) with driver, card, bus, formats and sizes.")

        @Option(help: "Directory to scan for video nodes.")
        var devices: String = "/dev"

        func run() throws {
            let nodes = CameraList.videoNodes(in: devices)
            if nodes.isEmpty {
                print("no video devices in \(devices)")
                return
            }
            for node in nodes {
                do {
                    let caps = try V4L2Camera.probe(path: node)
                    print(CameraList.describe(path: node, caps))
                } catch {
                    print("\(node): \(error)")
                }
            }
        }
    }
}
