#if canImport(Glibc)
import Glibc
#endif
import Agent
import Testing
import VigilCore
import VigilTestSupport

/// A real AF_UNIX datagram socket standing in for systemd's notification socket: bound to a path
/// or an abstract name, reads back exactly what the notifier sent.
final class FakeNotifySocket {
    let fd: Int32
    /// The value to put in NOTIFY_SOCKET.
    let address: String

    init(address: String) throws {
        self.address = address
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Errno.current }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let abstract = address.hasPrefix("@")
        let name = Array(abstract ? address.utf8.dropFirst() : address.utf8[...])
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            let start = abstract ? 1 : 0
            for (i, b) in name.enumerated() { p[start + i] = b }
        }
        let length = abstract ? offset + 1 + name.count : offset + name.count + 1
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard rc == 0 else { let e = Errno.current; close(fd); throw e }
        // Never hang a test run: a missing datagram is a 2 s timeout, then nil.
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram's exact bytes as a string, nil after the timeout.
    func receive() -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }

    /// True when no datagram is waiting.
    func isEmpty() -> Bool {
        var buf = [UInt8](repeating: 0, count: 16)
        return buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) } < 0
    }

    deinit { close(fd) }
}

@Suite("systemd notifications (sd_notify protocol without libsystemd)")
struct SystemdNotifyTests {
    @Test func sendsExactDatagramsToAPathSocket() throws {
        let dir = makeTempDirectory("notify")
        defer { removeTree(dir) }
        let sock = try FakeNotifySocket(address: dir + "/notify")
        let n = try SystemdNotifier(environment: ["NOTIFY_SOCKET": sock.address])
        #expect(n.isEnabled && n.socketAddress == sock.address)

        try n.ready()
        #expect(sock.receive() == "READY=1")
        try n.watchdog()
        #expect(sock.receive() == "WATCHDOG=1")
        try n.status("degraded: cam1 missing")
        #expect(sock.receive() == "STATUS=degraded: cam1 missing")
        try n.stopping()
        #expect(sock.receive() == "STOPPING=1")
        // A newline in a status cannot inject another assignment.
        try n.status("ok\nREADY=1")
        #expect(sock.receive() == "STATUS=ok READY=1")
        try n.status("a\r\nWATCHDOG=1\rb")
        #expect(sock.receive() == "STATUS=a WATCHDOG=1 b")
        try n.send("RELOADING=1\nSTATUS=reloading")
        #expect(sock.receive() == "RELOADING=1\nSTATUS=reloading")
        #expect(sock.isEmpty())
    }

    @Test func sendsToAnAbstractSocket() throws {
        let name = "@vigil-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let sock = try FakeNotifySocket(address: name)
        let n = try SystemdNotifier(environment: ["NOTIFY_SOCKET": name])
        try n.ready()
        #expect(sock.receive() == "READY=1")
        try n.watchdog()
        #expect(sock.receive() == "WATCHDOG=1")
    }

    @Test func unsetSocketIsANoOp() throws {
        for env in [[:], ["NOTIFY_SOCKET": ""], ["WATCHDOG_USEC": "30000000"]] as [[String: String]] {
            let n = try SystemdNotifier(environment: env)
            #expect(!n.isEnabled && n.socketAddress == nil)
            try n.ready()
            try n.watchdog()
            try n.status("anything")
            try n.stopping()
        }
    }

    @Test func missingSocketPathIsAnErrorWithErrno() throws {
        let dir = makeTempDirectory("notify")
        defer { removeTree(dir) }
        let path = dir + "/nobody-listens"
        let n = try SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(throws: SystemdNotifyError.send(address: path, errno: .noSuchFile)) { try n.ready() }
        // A socket file nobody reads any more (the manager went away): ECONNREFUSED.
        do { _ = try FakeNotifySocket(address: dir + "/gone") }
        let gone = try SystemdNotifier(environment: ["NOTIFY_SOCKET": dir + "/gone"])
        #expect(throws: SystemdNotifyError.send(address: dir + "/gone", errno: Errno(rawValue: ECONNREFUSED))) {
            try gone.watchdog()
        }
        // An abstract name nobody bound.
        let abstract = try SystemdNotifier(environment: ["NOTIFY_SOCKET": "@vigil-nobody-\(getpid())-x"])
        #expect(throws: SystemdNotifyError.self) { try abstract.ready() }
    }

    @Test func malformedSocketAddressesAreRefused() {
        let long = "/" + String(repeating: "a", count: 107)
        for bad in ["relative/notify", "vsock:2:1234", "@", long] {
            #expect(throws: SystemdNotifyError.invalidSocketAddress(bad)) {
                try SystemdNotifier(environment: ["NOTIFY_SOCKET": bad])
            }
        }
        #expect(SystemdNotifyError.invalidSocketAddress("x").description.contains("NOTIFY_SOCKET=x"))
    }

    @Test func watchdogIntervalFromTheEnvironment() throws {
        let me = getpid()
        let n = try SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(me)"], pid: me)
        #expect(n.watchdogInterval == .seconds(30))
        #expect(n.watchdogPingInterval == .seconds(15))
        // Without WATCHDOG_PID the watchdog is ours.
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "500"]).watchdogInterval == .microseconds(500))
        // Meant for another process: not ours to ping.
        let other = try SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(me + 1)"], pid: me)
        #expect(other.watchdogInterval == nil && other.watchdogPingInterval == nil)
        #expect(try SystemdNotifier(environment: [:]).watchdogInterval == nil)
        for bad in ["0", "-5", "30s", "abc"] {
            #expect(throws: SystemdNotifyError.invalidWatchdog(variable: "WATCHDOG_USEC", value: bad)) {
                try SystemdNotifier(environment: ["WATCHDOG_USEC": bad])
            }
        }
        #expect(throws: SystemdNotifyError.invalidWatchdog(variable: "WATCHDOG_PID", value: "me")) {
            try SystemdNotifier(environment: ["WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"])
        }
    }

    @Test func nulBytesAndEmptyMessagesAreRefused() throws {
        let dir = makeTempDirectory("notify")
        defer { removeTree(dir) }
        let sock = try FakeNotifySocket(address: dir + "/notify")
        let n = try SystemdNotifier(environment: ["NOTIFY_SOCKET": sock.address])
        #expect(throws: SystemdNotifyError.invalidMessage("")) { try n.send("") }
        #expect(throws: SystemdNotifyError.invalidMessage("STATUS=a\0b")) { try n.status("a\0b") }
        #expect(sock.isEmpty())
    }
}
