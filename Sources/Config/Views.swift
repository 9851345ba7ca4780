// Typed views of a validated configuration for the modules that use it (LEDs, console, agent), so
// they never look keys up by string themselves.

/// Which LED sits on which line of which chip.
public struct LEDWiring: Equatable, Sendable {
    public var chip: String
    /// Line offsets; nil = not wired.
    public var status: Int?
    public var fault: Int?
    public var hit: Int?
    public var activeLow: Bool
    /// Light the hit LED on alert-mode hits (false on body-worn devices, enforced by the schema).
    public var hitEnabled: Bool
    /// Also draw the LEDs on the terminal.
    public var panel: Bool
    public init(chip: String, status: Int?, fault: Int?, hit: Int?, activeLow: Bool = false, hitEnabled: Bool = false, panel: Bool = false) {
        self.chip = chip; self.status = status; self.fault = fault; self.hit = hit
        self.activeLow = activeLow; self.hitEnabled = hitEnabled; self.panel = panel
    }
}

/// The serial console's settings.
public struct ConsoleSettings: Equatable, Sendable {
    public var tty: String?
    public var baud: Int
    public var pinFile: String
    public var idleLogout: Duration
    public var lockoutFailures: Int
    public var lockoutDuration: Duration
    public init(tty: String?, baud: Int = 115_200, pinFile: String, idleLogout: Duration = .seconds(1800),
                lockoutFailures: Int = 5, lockoutDuration: Duration = .seconds(600)) {
        self.tty = tty; self.baud = baud; self.pinFile = pinFile; self.idleLogout = idleLogout
        self.lockoutFailures = lockoutFailures; self.lockoutDuration = lockoutDuration
    }
}

/// One configured camera.
public struct CameraSettings: Equatable, Sendable {
    public var name: String
    public var device: String
    public var format: String
    public var width: Int
    public var height: Int
    public var fps: Int
}

extension ConfigDocument {
    public var ledWiring: LEDWiring {
        func line(_ k: String) -> Int? { int(k).flatMap { $0 >= 0 ? Int($0) : nil } }
        return LEDWiring(chip: string("leds.chip") ?? "gpiochip0", status: line("leds.status"), fault: line("leds.fault"),
                         hit: line("leds.hit"), activeLow: bool("leds.active_low") ?? false,
                         hitEnabled: (bool("leds.hit_enabled") ?? false) && string("device.kind") != "body-worn",
                         panel: bool("leds.panel") ?? false)
    }

    public var consoleSettings: ConsoleSettings {
        ConsoleSettings(tty: string("console.tty"), baud: Int(int("console.baud") ?? 115_200),
                        pinFile: string("console.pin_file") ?? "/var/lib/vigil/console.pin",
                        idleLogout: .seconds(60 * (int("console.idle_logout_min") ?? 30)),
                        lockoutFailures: Int(int("console.lockout_failures") ?? 5),
                        lockoutDuration: .seconds(60 * (int("console.lockout_min") ?? 10)))
    }

    public var cameras: [CameraSettings] {
        (0..<cameraCount).map { c in
            CameraSettings(name: string("camera.\(c).name") ?? "cam\(c)", device: string("camera.\(c).device") ?? "/dev/video\(c)",
                           format: string("camera.\(c).format") ?? "auto", width: Int(int("camera.\(c).width") ?? 1280),
                           height: Int(int("camera.\(c).height") ?? 720), fps: Int(int("camera.\(c).fps") ?? 15))
        }
    }

    /// Display form of a value: secrets masked.
    public func display(_ key: String) -> String {
        guard let v = values[key] else { return "(unset)" }
        if ConfigSchema.setting(for: key)?.secret == true { return "***" }
        return v.description
    }

    /// Keys whose change needs a restart of the agent (not applied live).
    public func restartNeeded(comparedTo old: ConfigDocument) -> [String] {
        old.diff(to: self).map(\.key).filter { ConfigSchema.setting(for: $0)?.live != true }
    }
}

/// A setting that lets the device match fewer faces than the schema's default would: a higher
/// minimum face size, quality or threshold, a longer cooldown, a smaller outbox. Each is
/// bounded so that it cannot switch matching off, but a device told to match less must not
/// look normal: health (degraded, so the status LED blinks) and `vigil report` name it.
public struct RecallChange: Equatable, Sendable, CustomStringConvertible {
    public var key: String
    public var value: ConfigValue
    public var defaultValue: ConfigValue?
    public var description: String { "\(key)=\(value) (default \(defaultValue?.description ?? "unset"))" }
}

extension ConfigDocument {
    /// The settings on the lowering side of their default (`Setting.recall`), in schema order.
    public var recallLowered: [RecallChange] {
        ConfigSchema.settings.compactMap { s in
            guard let effect = s.recall, let v = values[s.key] else { return nil }
            let lowers: Bool
            switch effect {
            case .lowerWhenSet: lowers = true
            case .lowerAbove, .lowerBelow:
                guard let x = double(s.key), let d = s.defaultValue.flatMap({ Self.number($0) }) else { return nil }
                lowers = effect == .lowerAbove ? x > d : x < d
            }
            return lowers ? RecallChange(key: s.key, value: v, defaultValue: s.defaultValue) : nil
        }
    }

    /// "recall lowered by: key=value (default …), …" — the line health and `vigil report` show;
    /// nil when nothing lowers it.
    public var recallSummary: String? {
        let l = recallLowered
        return l.isEmpty ? nil : "recall lowered by: " + l.map(\.description).joined(separator: ", ")
    }

    static func number(_ v: ConfigValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}
