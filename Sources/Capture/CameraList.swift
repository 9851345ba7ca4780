import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// Finding and describing cameras, for `vigil cameras`.
public enum CameraList {
    /// `videoN` nodes in `dir`, in numeric order (video2 before video10).
    public static func videoNodes(in dir: String = "/dev") -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var nodes: [(Int, String)] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("video"), let n = Int(name.dropFirst(5)) else { continue }
            nodes.append((n, dir + "/" + name))
        }
        return nodes.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A multi-line description: driver, card, bus, capabilities, then one line per format.
    public static func describe(path: String, _ caps: DeviceCapabilities) -> String {
        var lines = ["\(path): driver=\(caps.driver) card=\"\(caps.card)\" bus=\(caps.busInfo)"]
        let missing = caps.missingForCapture
        if !missing.isEmpty {
            lines.append("  not a camera: lacks \(missing.joined(separator: " and "))")
            return lines.joined(separator: "\n")
        }
        for f in caps.formats {
            var flags: [String] = []
            if f.emulated { flags.append("emulated by libv4l2, not used") }
            if !f.emulated && !f.format.isDecodable { flags.append("not decodable by Vigil") }
            let head = "  \(PixelFormat.string(f.fourcc)) (\(f.description))" + (flags.isEmpty ? "" : " [\(flags.joined(separator: ", "))]")
            lines.append(head + ": " + sizes(f.sizes))
        }
        return lines.joined(separator: "\n")
    }

    static func sizes(_ s: FrameSizes) -> String {
        switch s {
        case .discrete(let l):
            return l.map { opt in
                let fps = opt.intervals.fpsValues
                guard let hi = fps.first, let lo = fps.last else { return "\(opt.size)" }
                return hi == lo ? "\(opt.size)@\(formatFPS(hi))" : "\(opt.size)@\(formatFPS(lo))-\(formatFPS(hi))"
            }.joined(separator: " ")
        case .stepwise(let mn, let mx, let st):
            return "\(mn) to \(mx) step \(st)"
        case .unknown:
            return "(sizes not enumerated)"
        }
    }
}
