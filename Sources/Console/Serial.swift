// The console's line: a serial tty (or a pty) in raw mode, and the loop that serves a session on it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import VigilCore

public enum SerialError: Error, Equatable, CustomStringConvertible, Sendable {
    case open(path: String, errno: Errno)
    case notATTY(path: String)
    case busy(path: String)
    case unsupportedBaud(Int)
    case configure(path: String, errno: Errno)

    public var description: String {
        switch self {
        case .open(let p, let e):
            if e.rawValue == ENOENT { return "\(p): no such tty (check console.tty; a USB adapter may be unplugged)" }
            if e.rawValue == EACCES { return "\(p): permission denied (the vigil user needs group dialout)" }
            return "\(p): cannot open: \(e)"
        case .notATTY(let p): return "\(p) is not a terminal device"
        case .busy(let p): return "\(p) is busy: another program (a getty, another vigil console) holds it"
        case .unsupportedBaud(let b): return "unsupported baud rate \(b)"
        case .configure(let p, let e): return "\(p): cannot set the line parameters: \(e)"
        }
    }
}

/// A tty opened for the console: raw, 8N1, the configured speed, no flow control, exclusive.
/// The original settings are restored and the descriptor closed in `deinit`.
public final class SerialPort {
    public let path: String
    public let fd: Int32
    private var saved = termios()

    public init(path: String, baud: Int) throws(SerialError) {
        guard let speed = Self.speed(baud) else { throw .unsupportedBaud(baud) }
        self.path = path
        let f = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard f >= 0 else { throw .open(path: path, errno: .current) }
        fd = f
        guard isatty(f) != 0 else { close(f); throw .notATTY(path: path) }
        // Another vigil console on the same line holds this lock; TIOCEXCL then keeps later opens
        // (other than root's) out while we serve it.
        if flock(f, LOCK_EX | LOCK_NB) != 0 { close(f); throw .busy(path: path) }
        _ = ioctl(f, UInt(TIOCEXCL))
        guard tcgetattr(f, &saved) == 0 else { let e = Errno.current; close(f); throw .configure(path: path, errno: e) }
        var t = saved
        cfmakeraw(&t)
        t.c_cflag &= ~(tcflag_t(CSTOPB) | tcflag_t(PARENB) | tcflag_t(CRTSCTS) | tcflag_t(CSIZE))
        t.c_cflag |= tcflag_t(CS8) | tcflag_t(CLOCAL) | tcflag_t(CREAD)
        t.c_iflag &= ~(tcflag_t(IXON) | tcflag_t(IXOFF) | tcflag_t(IXANY))
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        cfsetispeed(&t, speed)
        cfsetospeed(&t, speed)
        guard tcsetattr(f, TCSANOW, &t) == 0 else { let e = Errno.current; close(f); throw .configure(path: path, errno: e) }
        tcflush(f, TCIOFLUSH)
    }

    static func speed(_ baud: Int) -> speed_t? {
        switch baud {
        case 9600: return speed_t(B9600)
        case 19_200: return speed_t(B19200)
        case 38_400: return speed_t(B38400)
        case 57_600: return speed_t(B57600)
        case 115_200: return speed_t(B115200)
        case 230_400: return speed_t(B230400)
        case 460_800: return speed_t(B460800)
        case 921_600: return speed_t(B921600)
        default: return nil
        }
    }

    deinit {
        _ = tcsetattr(fd, TCSANOW, &saved)
        close(fd)
    }
}

/// Serves one session on a descriptor until stopped: poll for input (1 s, so the idle logout
/// runs without input), feed the session, write what it answers. A hang-up (EOF or EIO when the
/// other end of a pty closes or a USB gadget disconnects) is not the end: the loop waits and
/// keeps serving, because the next technician plugs in later.
public final class ConsoleServer: Sendable {
    private let stopFlag = Atomic<Bool>(false)
    public init() {}

    public func stop() { stopFlag.store(true, ordering: .relaxed) }
    public var isStopped: Bool { stopFlag.load(ordering: .relaxed) }

    public func serve(fd: Int32, session: ConsoleSession, clock: any MonotonicClock = SystemMonotonicClock(), pollMilliseconds: Int32 = 1000,
                      shouldStop: () -> Bool = { false }) {
        writeAll(fd, session.start(now: clock.now()))
        var buf = [UInt8](repeating: 0, count: 256)
        while !isStopped && !shouldStop() {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, pollMilliseconds)
            if r < 0 && errno != EINTR { usleep(200_000); continue }
            if r > 0 && (p.revents & Int16(POLLIN)) != 0 {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    writeAll(fd, session.feed(buf[0..<n], now: clock.now()))
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                usleep(200_000)  // hang-up: wait for the line to come back
            } else if r > 0 {
                usleep(200_000)  // POLLHUP / POLLERR without data
            }
            writeAll(fd, session.tick(now: clock.now()))
        }
    }
}

/// Writes everything (a tty in non-blocking mode may take it in pieces); gives up on a dead line.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var done = 0
    var spins = 0
    while done < bytes.count {
        let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n > 0 { done += n; continue }
        if n < 0 && (errno == EAGAIN || errno == EINTR) && spins < 500 {
            spins += 1
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 10)
            continue
        }
        return
    }
}

/// A pseudo-terminal pair: the console served on `slavePath` behaves as on a serial tty, and the
/// master end plays the technician's terminal (tests; `vigil console --tty /dev/pts/N` by hand).
/// Linux's /dev/ptmx ioctls directly: Glibc's module does not export posix_openpt/ptsname.
public func openPseudoTerminal() throws(SerialError) -> (master: Int32, slavePath: String) {
    let m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard m >= 0 else { throw .open(path: "/dev/ptmx", errno: .current) }
    // TIOCSPTLCK = _IOW('T', 0x31, int), TIOCGPTN = _IOR('T', 0x30, unsigned int): the same
    // numbers on x86-64 and arm64 (asm-generic ioctl encoding).
    var unlock: Int32 = 0
    var number: UInt32 = 0
    guard ioctl(m, UInt(0x4004_5431), &unlock) == 0, ioctl(m, UInt(0x8004_5430), &number) == 0 else {
        let e = Errno.current
        close(m)
        throw .configure(path: "/dev/ptmx", errno: e)
    }
    return (m, "/dev/pts/\(number)")
}
