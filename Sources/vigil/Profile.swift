import ArgumentParser
import FastKernels
import Inference
import Pipeline
import VigilCore

extension Vigil {
    /// `vigil profile MODEL`: where an int8 model spends its time, step by step, on a backend —
    /// the tool for kernel work (the benchmarks say how fast; this says where).
    struct Profile: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time each step of an ONNX model on a backend (diagnostics for kernel work).")
        @Argument(help: "ONNX model file.") var model: String
        @Option(help: "Backend: fast (best path of this CPU), scalar, avx2, avx512vnni, neon, neon-dotprod, reference.")
        var backend: String = "fast"
        @Option(help: "Threads for the fast backend.") var threads: Int = 1
        @Option(help: "Iterations (the median is printed).") var iterations: Int = 30
        @Option(help: "Show the N slowest steps (0: all, in plan order).") var top: Int = 25

        func run() throws {
            let m: Model
            do { m = try Model(contentsOf: model) } catch { throw fail("\(model): \(error)") }
            let session: InferenceSession
            do {
                switch backend {
                case "reference": session = try InferenceSession(model: m, backend: ReferenceBackend())
                default:
                    let isa: FastBackend.ISA
                    switch backend {
                    case "fast": isa = .auto
                    case "scalar": isa = .scalar
                    case "avx2": isa = .avx2
                    case "avx512vnni": isa = .avx512vnni
                    case "neon": isa = .neon
                    case "neon-dotprod": isa = .neonDot
                    default: throw fail("unknown backend '\(backend)'")
                    }
                    session = try InferenceSession(model: m, backend: FastBackend(isa: isa, threads: threads))
                }
            } catch let e as ExitCode { throw e } catch { throw fail("\(model): \(error)") }
            // A fixed pseudo-random input in [0, 1): timings do not depend on the values.
            var feeds: [String: Tensor] = [:]
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            for input in session.inputs {
                let shape = input.shape.map { $0 ?? 1 }
                let n = shape.reduce(1, *)
                feeds[input.name] = Tensor(shape: shape, values: (0..<n).map { _ in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    return Float(state >> 40) / Float(1 << 24)
                })
            }
            let steps = try session.profile(feeds, iterations: iterations)
            let total = steps.reduce(0) { $0 + $1.seconds }
            print("\(model): \(session.backendName), \(steps.count) steps, \(ms(total)) ms (sum of step medians)")
            var byKind: [String: Double] = [:]
            for s in steps { byKind[s.kind, default: 0] += s.seconds }
            for (k, v) in byKind.sorted(by: { $0.value > $1.value }) {
                print("  \(k): \(ms(v)) ms, \(format2(100 * v / total))%")
            }
            let shown = top > 0 ? Array(steps.enumerated().sorted { $0.element.seconds > $1.element.seconds }.prefix(top)) : Array(steps.enumerated())
            for (i, s) in shown {
                print("  #\(i) \(ms(s.seconds)) ms  \(s.description)")
            }
        }
    }
}

/// Milliseconds with three decimals, without Foundation.
private func ms(_ seconds: Double) -> String {
    let us = Int((seconds * 1_000_000).rounded())
    let frac = us % 1000
    return "\(us / 1000)." + String(repeating: "0", count: frac < 10 ? 2 : frac < 100 ? 1 : 0) + "\(frac)"
}
