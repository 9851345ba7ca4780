// Blocking loops (V4L2 poll, inference, the console's tty) on their own threads.
//
// Why not tasks: Swift's cooperative pool has one thread per core — two on this machine, four on
// a Raspberry Pi. A camera blocked in poll() or a 30 ms inference inside a task would take one
// of them away from everything else (sync, upload, LEDs). Each blocking loop gets a dedicated
// pthread instead, and its service's `run()` only waits for shutdown and then for the thread.
#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle
import Synchronization

/// A stop request shared between a service and its thread.
public final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func stop() { flag.store(true, ordering: .releasing) }
    public var isStopped: Bool { flag.load(ordering: .acquiring) }
    /// Sleeps up to `d`, waking early (within 20 ms) when stopped. Returns false when stopped.
    @discardableResult
    public func sleep(_ d: Duration) -> Bool {
        var left = d
        while left > .zero && !isStopped {
            let step = min(left, .milliseconds(20))
            let (s, a) = step.components
            var ts = timespec(tv_sec: Int(s), tv_nsec: Int(a / 1_000_000_000))
            nanosleep(&ts, nil)
            left -= step
        }
        return !isStopped
    }
}

/// A service whose work is a blocking loop on its own thread. The loop must return soon after
/// `stop.isStopped` becomes true (it polls with short timeouts).
public final class ThreadService: Service, Sendable {
    public let name: String
    let body: @Sendable (StopFlag) -> Void
    public let stopFlag = StopFlag()
    private let finished = Atomic<Bool>(false)

    public init(name: String, _ body: @escaping @Sendable (StopFlag) -> Void) {
        self.name = name
        self.body = body
    }

    final class Box: @unchecked Sendable {
        let run: () -> Void
        init(_ r: @escaping () -> Void) { run = r }
    }

    public func run() async throws {
        let box = Box { [self] in
            body(stopFlag)
            finished.store(true, ordering: .releasing)
        }
        var tid = pthread_t()
        let unmanaged = Unmanaged.passRetained(box)
        let rc = pthread_create(&tid, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.run()
            return nil
        }, unmanaged.toOpaque())
        if rc != 0 {
            unmanaged.release()
            throw ThreadStartError(name: name, code: rc)
        }
        // Wait for graceful shutdown (or cancellation), or for the loop to end on its own.
        await withGracefulShutdownHandler {
            while !finished.load(ordering: .acquiring) && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
            }
        } onGracefulShutdown: { [stopFlag] in
            stopFlag.stop()
        }
        stopFlag.stop()
        while !finished.load(ordering: .acquiring) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        pthread_join(tid, nil)
    }
}

public struct ThreadStartError: Error, CustomStringConvertible {
    public let name: String
    public let code: Int32
    public var description: String { "cannot start the \(name) thread: error \(code)" }
}
