// systemd's notification protocol (sd_notify(3)), spoken directly: a datagram of newline-separated
// `KEY=VALUE` assignments sent to the AF_UNIX socket named by $NOTIFY_SOCKET. Written here rather
// than linking libsystemd so the agent has no extra shared library on the boards and the same
// binary runs unchanged outside systemd (no socket → every call is a no-op).
#if canImport(Glibc)
import Glibc
#endif
import VigilCore

/// Why a notification could not be set up or sent. Each case says what a technician would look
/// at: the variable's value, or the errno of the failing system call.
public enum SystemdNotifyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `NOTIFY_SOCKET` is set but is neither an absolute path nor an abstract `@name`, or is too
    /// long for `sockaddr_un` (107 bytes), or names a transport this agent does not speak
    /// (`vsock:` from a VM host). sd_notify(3) refuses these the same way (EINVAL / EAFNOSUPPORT).
    case invalidSocketAddress(String)
    /// `WATCHDOG_USEC` (or `WATCHDOG_PID`) is not a positive decimal number. systemd always sets
    /// them correctly, so a bad value means the environment was tampered with: refuse rather
    /// than guess an interval (a wrong guess gets the agent killed, or never checked).
    case invalidWatchdog(variable: String, value: String)
    /// A status or message that cannot be sent: it is empty, or holds a NUL byte.
    case invalidMessage(String)
    /// `socket(AF_UNIX, SOCK_DGRAM)` failed (EMFILE, ENOBUFS, … or a seccomp filter).
    case socket(Errno)
    /// `sendto` failed: ENOENT / ECONNREFUSED when nothing listens at the address (the service
    /// manager went away, or a wrong path), EACCES when the socket is not writable for us,
    /// EAGAIN when the manager's queue is full.
    case send(address: String, errno: Errno)

    public var description: String {
        switch self {
        case .invalidSocketAddress(let v):
            "NOTIFY_SOCKET=\(v): not an absolute path or @abstract name of at most 107 bytes"
        case .invalidWatchdog(let variable, let value): "\(variable)=\(value): not a positive integer"
        case .invalidMessage(let m): "systemd notification \(m.debugDescription): empty or holds a NUL byte"
        case .socket(let e): "cannot create the systemd notification socket: \(e)"
        case .send(let address, let e): "cannot notify systemd at \(address): \(e)"
        }
    }
}

/// The agent's side of `Type=notify` + `WatchdogSec=` (see board/vigil.service):
///
/// - `ready()` once the agent is serving (config loaded, models planned, cameras opened or
///   known missing) — systemd holds `systemctl start` and ordering until then, so a device that
///   never gets ready shows as a failed start instead of a "running" service doing nothing;
/// - `watchdog()` every `watchdogPingInterval` (half of `WatchdogSec`) from the loop whose
///   progress matters — if it stalls, systemd kills and restarts the agent;
/// - `status(_:)` for the one-line health shown by `systemctl status vigil`;
/// - `stopping()` when SIGTERM has been received and the agent is draining.
///
/// Outside systemd (`NOTIFY_SOCKET` unset: the CLI, tests, a technician running `vigil run` by
/// hand) every call does nothing and `watchdogInterval` is nil. The environment is passed in so
/// tests (and the agent) decide where it comes from; `init()` reads the process's own.
///
/// A socket is opened per message and closed again, like sd_notify(3): messages are rare (one
/// every 15 s) and nothing is kept open across a fork or a service-manager restart.
public struct SystemdNotifier: Sendable {
    /// Where the notifications go, parsed from `NOTIFY_SOCKET`; nil when notifications are off.
    public let socketAddress: String?
    /// `WATCHDOG_USEC` as a duration, when the watchdog is on and meant for this process
    /// (`WATCHDOG_PID` unset or equal to our pid); nil otherwise.
    public let watchdogInterval: Duration?

    /// True when `NOTIFY_SOCKET` was set: messages are really sent.
    public var isEnabled: Bool { socketAddress != nil }

    /// How often to call `watchdog()`: half of `watchdogInterval`, as systemd.service(5)
    /// recommends, so one late ping never kills a healthy agent. Nil when the watchdog is off.
    public var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    /// - Parameter pid: the pid `WATCHDOG_PID` is compared with (this process by default).
    /// - Throws: `invalidSocketAddress` for a malformed socket, `invalidWatchdog` for a malformed
    ///   watchdog variable. An empty `NOTIFY_SOCKET` counts as unset.
    public init(environment: [String: String], pid: Int32 = getpid()) throws(SystemdNotifyError) {
        if let raw = environment["NOTIFY_SOCKET"], !raw.isEmpty {
            guard Self.isValidAddress(raw) else { throw .invalidSocketAddress(raw) }
            socketAddress = raw
        } else {
            socketAddress = nil
        }
        var interval: Duration?
        if let raw = environment["WATCHDOG_USEC"], !raw.isEmpty {
            guard let usec = UInt64(raw), usec > 0, usec < UInt64(Int64.max) else {
                throw .invalidWatchdog(variable: "WATCHDOG_USEC", value: raw)
            }
            interval = .microseconds(Int64(usec))
            if let rawPID = environment["WATCHDOG_PID"], !rawPID.isEmpty {
                guard let wpid = Int32(rawPID), wpid > 0 else {
                    throw .invalidWatchdog(variable: "WATCHDOG_PID", value: rawPID)
                }
                // The watchdog belongs to another process (a parent that exec'd us keeps the
                // variables in our environment): its pings are not ours to send.
                if wpid != pid { interval = nil }
            }
        }
        watchdogInterval = interval
    }

    /// Reads the process environment (`getenv`), like sd_notify(3) does.
    public init() throws(SystemdNotifyError) {
        var env: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let v = getenv(key) { env[key] = String(cString: v) }
        }
        try self.init(environment: env)
    }

    /// `READY=1`: start-up finished (systemd then considers the unit started).
    public func ready() throws(SystemdNotifyError) { try send("READY=1") }

    /// `WATCHDOG=1`: the keep-alive ping. Call it from the loop whose progress it vouches for.
    public func watchdog() throws(SystemdNotifyError) { try send("WATCHDOG=1") }

    /// `STOPPING=1`: shutdown has begun (SIGTERM received, draining).
    public func stopping() throws(SystemdNotifyError) { try send("STOPPING=1") }

    /// `STATUS=…`: one line for `systemctl status`. Newlines would start a new assignment in the
    /// datagram (a status could then smuggle `READY=1` or `WATCHDOG=1`), so they become spaces.
    public func status(_ text: String) throws(SystemdNotifyError) {
        let line = String(text.map { $0.isNewline ? " " : $0 })  // also "\r\n", one Character
        try send("STATUS=" + line)
    }

    /// Sends `message` (one or more newline-separated `KEY=VALUE` assignments) as one datagram.
    /// Does nothing when notifications are off.
    public func send(_ message: String) throws(SystemdNotifyError) {
        guard let address = socketAddress else { return }
        let bytes = Array(message.utf8)
        guard !bytes.isEmpty, !bytes.contains(0) else { throw .invalidMessage(message) }

        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socket(.current) }
        defer { close(fd) }

        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let length: Int
        // Abstract namespace: a leading NUL instead of '@', and the length covers exactly the
        // name (no trailing NUL: every byte of an abstract name counts).
        if address.hasPrefix("@") {
            let name = Array(address.utf8.dropFirst())
            withUnsafeMutableBytes(of: &addr.sun_path) { p in
                p[0] = 0
                for (i, b) in name.enumerated() { p[i + 1] = b }
            }
            length = pathOffset + 1 + name.count
        } else {
            let path = Array(address.utf8)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in
                for (i, b) in path.enumerated() { p[i] = b }
                p[path.count] = 0
            }
            length = pathOffset + path.count + 1
        }

        while true {
            let sent = withUnsafePointer(to: &addr) { ap in
                ap.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    bytes.withUnsafeBytes { buf in
                        sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL), sa, socklen_t(length))
                    }
                }
            }
            if sent >= 0 { return }
            let err = Errno.current
            if err == .interrupted { continue }
            throw .send(address: address, errno: err)
        }
    }

    /// An absolute path or `@name`, fitting `sun_path` (108 bytes: 107 + the NUL or the leading
    /// zero byte of an abstract name), and no NUL bytes inside.
    static func isValidAddress(_ raw: String) -> Bool {
        let bytes = Array(raw.utf8)
        guard bytes.count >= 2, bytes.count <= 107, !bytes.contains(0) else { return false }
        return bytes[0] == UInt8(ascii: "/") || bytes[0] == UInt8(ascii: "@")
    }
}
