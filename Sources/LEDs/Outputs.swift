// Where LED levels go: GPIO lines through libgpiod (the appliance), a terminal panel (the demo),
// or a recorder (tests). The engine above does not know which.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGPIOD
import VigilCore

/// A GPIO failure: what, where, and errno.
public enum LEDError: Error, Equatable, CustomStringConvertible, Sendable {
    /// No gpiochip matches the name, path, label or number.
    case chipNotFound(chip: String, errno: Errno)
    /// The chip has no line with this offset.
    case lineNotFound(chip: String, line: Int, lines: Int)
    /// Another process (or another part of this one) holds the line.
    case lineBusy(chip: String, line: Int, consumer: String)
    /// Requesting or setting the line failed.
    case lineFailed(chip: String, line: Int, operation: String, errno: Errno)

    public var description: String {
        switch self {
        case .chipNotFound(let c, let e): return "gpiochip '\(c)' not found (\(e)): check leds.chip (name, /dev path, label or number; `gpiodetect` lists them)"
        case .lineNotFound(let c, let l, let n): return "\(c): no line \(l) (the chip has lines 0–\(n - 1))"
        case .lineBusy(let c, let l, let who): return "\(c) line \(l) is already in use" + (who.isEmpty ? "" : " by '\(who)'")
        case .lineFailed(let c, let l, let op, let e): return "\(c) line \(l): cannot \(op): \(e)"
        }
    }
}

/// Something LEDs can be shown on.
public protocol LEDOutput: AnyObject {
    /// The LEDs this output has (unwired ones are missing).
    var roles: [LEDRole] { get }
    func set(_ role: LEDRole, _ on: Bool) throws(LEDError)
}

/// LEDs on GPIO lines via libgpiod v1.6. Lines are requested as outputs labelled with the
/// consumer name (visible in `gpioinfo`), initially off. They are released in `deinit`; if the
/// process dies instead, the kernel releases them when the chip's file descriptor closes, so a
/// restarted agent can request them again (a crash never leaves a line claimed).
public final class GPIOLEDs: LEDOutput {
    private let chip: OpaquePointer
    private var lines: [LEDRole: OpaquePointer] = [:]
    public let chipName: String
    public let chipLabel: String
    public var roles: [LEDRole] { LEDRole.allCases.filter { lines[$0] != nil } }

    public init(chip name: String, lines wanted: [LEDRole: Int], activeLow: Bool = false, consumer: String = "vigil") throws(LEDError) {
        errno = 0
        guard let c = gpiod_chip_open_lookup(name) else {
            throw .chipNotFound(chip: name, errno: errno == 0 ? .noSuchDevice : .current)
        }
        chip = c
        chipName = String(cString: gpiod_chip_name(c))
        chipLabel = String(cString: gpiod_chip_label(c))
        let count = Int(gpiod_chip_num_lines(c))
        do throws(LEDError) {
            for role in LEDRole.allCases {
                guard let offset = wanted[role] else { continue }
                guard offset >= 0, offset < count, let line = gpiod_chip_get_line(c, UInt32(offset)) else {
                    throw .lineNotFound(chip: chipName, line: offset, lines: count)
                }
                if gpiod_line_is_used(line) {
                    let who = gpiod_line_consumer(line).map { String(cString: $0) } ?? ""
                    throw .lineBusy(chip: chipName, line: offset, consumer: who)
                }
                let flags = activeLow ? CGPIOD_REQUEST_FLAG_ACTIVE_LOW : 0
                if gpiod_line_request_output_flags(line, consumer, Int32(flags), 0) != 0 {
                    let e = Errno.current
                    if e == .busy { throw .lineBusy(chip: chipName, line: offset, consumer: "") }
                    throw .lineFailed(chip: chipName, line: offset, operation: "request as output", errno: e)
                }
                lines[role] = line
            }
        } catch {
            // every stored property is set, so deinit runs after this throw: it closes the chip
            for l in lines.values { gpiod_line_release(l) }
            lines = [:]
            throw error
        }
    }

    public func set(_ role: LEDRole, _ on: Bool) throws(LEDError) {
        guard let line = lines[role] else { return }
        if gpiod_line_set_value(line, on ? 1 : 0) != 0 {
            throw .lineFailed(chip: chipName, line: Int(gpiod_line_offset(line)), operation: "set value", errno: .current)
        }
    }

    deinit {
        for l in lines.values {
            _ = gpiod_line_set_value(l, 0)
            gpiod_line_release(l)
        }
        gpiod_chip_close(chip)
    }
}

/// The LEDs drawn on a terminal line, for the demo and for a board with no LEDs wired:
/// `[status ●] [fault ○] [hit ○]`, redrawn in place when something changes.
public final class TerminalLEDPanel: LEDOutput {
    public let roles: [LEDRole]
    private let fd: Int32
    private var levels: [LEDRole: Bool] = [:]
    private let colour: Bool
    private var lastLine: MonotonicInstant?

    public init(fd: Int32 = 2, roles: [LEDRole] = LEDRole.allCases) {
        self.fd = fd
        self.roles = roles
        colour = isatty(fd) != 0
    }

    public func set(_ role: LEDRole, _ on: Bool) throws(LEDError) {
        guard levels[role] != on else { return }
        levels[role] = on
        var line = colour ? "\r\u{1B}[K" : ""
        for r in roles {
            let lit = levels[r] ?? false
            let c = r == .status ? "32" : r == .fault ? "31" : "33"
            line += colour ? "[\(r.rawValue) \(lit ? "\u{1B}[\(c)m●\u{1B}[0m" : "○")] " : "[\(r.rawValue) \(lit ? "●" : "○")] "
        }
        if !colour {
            // a log, not a terminal: one line per second at most, or a heartbeat floods it
            let now = MonotonicInstant.now()
            if let last = lastLine, last.duration(to: now) < .seconds(1) { return }
            lastLine = now
            line += "\n"
        }
        _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    }

    /// Ends the panel's line so later output starts on a fresh one.
    public func finish() {
        if colour { _ = write(fd, "\n", 1) }
    }
}

/// Records every change with its time (tests, and `vigil leds` dry runs).
public final class RecordingLEDOutput: LEDOutput {
    public let roles: [LEDRole]
    public private(set) var changes: [(role: LEDRole, on: Bool, at: MonotonicInstant)] = []
    public private(set) var levels: [LEDRole: Bool] = [:]
    private let clock: any MonotonicClock
    public init(roles: [LEDRole] = LEDRole.allCases, clock: any MonotonicClock) {
        self.roles = roles; self.clock = clock
    }
    public func set(_ role: LEDRole, _ on: Bool) throws(LEDError) {
        levels[role] = on
        changes.append((role, on, clock.now()))
    }
}
