import Pipeline
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// Open file descriptors of this process (entries in /proc/self/fd).
func openFDCount() -> Int {
    guard let d = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(d) }
    var n = 0
    while readdir(d) != nil { n += 1 }
    return n - 3  // ".", ".." and the directory's own fd
}

/// Lines of /proc/self/maps that map `path` (a device's buffers).
func mappings(of path: String) -> Int {
    guard let maps = try? readFile("/proc/self/maps") else { return -1 }
    return String(decoding: maps, as: UTF8.self).split(separator: "\n").filter { $0.hasSuffix(path) }.count
}

/// Writes a short string to a sysfs file (e.g. a driver's unbind file).
func writeSysfs(_ path: String, _ value: String) -> Errno? {
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { return .current }
    defer { close(fd) }
    let r = value.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    return r < 0 ? .current : nil
}

func sleepMilliseconds(_ ms: Int) { usleep(UInt32(ms * 1000)) }

/// Writes a sysfs file from a separate thread after a delay (e.g. unbinding a driver while the
/// main thread is blocked waiting for a frame).
final class DelayedWrite: @unchecked Sendable {
    // @unchecked: `result` is written by the thread before it exits and read after pthread_join.
    let path: String
    let value: String
    let delay: Int
    var result: Errno?
    private var thread = pthread_t()

    init(path: String, value: String, afterMilliseconds: Int) {
        self.path = path
        self.value = value
        self.delay = afterMilliseconds
        let me = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { arg in
            let job = Unmanaged<DelayedWrite>.fromOpaque(arg!).takeRetainedValue()
            sleepMilliseconds(job.delay)
            job.result = writeSysfs(job.path, job.value)
            return nil
        }, me)
    }

    /// Waits for the write; returns its error, if any.
    func join() -> Errno? {
        pthread_join(thread, nil)
        return result
    }
}
