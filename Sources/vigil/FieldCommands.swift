// `vigil config …`, `vigil leds …`, `vigil console …`: thin commands over Config, LEDs, Console.
import ArgumentParser
import Agent
import Audit
import Config
import Console
import LEDs
import Synchronization
import VigilCore
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

/// Opens the audit log the configuration names (nil with a warning when it cannot be opened:
/// a read-only test setup still gets a console, and says so).
func openAudit(_ config: ConfigDocument, warn: Bool = true) -> AuditLog? {
    guard let dir = config.string("storage.audit_dir") else { return nil }
    // the device key signs the head checkpoints, as the agent's writer does (issue 16); a console
    // run without it still appends, and the checkpoint is signed again by the next keyed writer
    let key = config.string("keys.device_signing").flatMap { try? DeviceSigningKey(file: $0) }
    do {
        return try AuditLog(directory: dir, maxFileBytes: Int(config.int("storage.audit_file_kb") ?? 1024) * 1024,
                            keepFiles: Int(config.int("storage.audit_keep_files") ?? 64), checkpointKey: key?.key)
    } catch {
        if warn { _ = fail("warning: audit log \(dir): \(error) — actions are NOT being audited", code: 0) }
        return nil
    }
}

func printIssues(_ e: ConfigError) -> ExitCode {
    for i in e.issues { _ = fail(i.description, code: 0) }
    return ExitCode(1)
}

extension Vigil {
    struct ConfigCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "config", abstract: "Create, check, show and edit the device configuration (TOML).",
            subcommands: [Init.self, Check.self, Show.self, Set.self, Boards.self])

        struct Init: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Write a new configuration from a board profile.")
            @Option(help: "Board profile (`vigil config boards` lists them).") var board: String
            @Option(help: "Configuration file to write.") var out: String
            @Option(help: "Directory with the board profiles (default: the installed and source-tree copies).") var profiles: String?
            @Flag(help: "Replace an existing file (it is kept as FILE.prev).") var force = false

            func run() throws {
                if !force && access(out, F_OK) == 0 { throw fail("\(out) exists (use --force to replace it; the old one is kept as \(out).prev)") }
                do throws(ConfigError) {
                    let profile = try BoardProfile.load(board, from: profiles.map { [$0] } ?? BoardProfile.searchDirectories())
                    var doc = profile.document
                    doc.file = out
                    let saved = try ConfigStore.save(doc, to: out, header: "from board profile \(board): \(profile.description)")
                    print("wrote \(out) (board \(board), version \(saved.version)); check it with `vigil config check \(out)`")
                } catch { throw printIssues(error) }
            }
        }

        struct Check: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check a configuration file: syntax, keys, ranges, rules; warn about files and devices that are missing.")
            @Argument(help: "Configuration file.") var file: String

            func run() throws {
                let doc: ConfigDocument
                do { doc = try ConfigStore.load(file) } catch { throw printIssues(error) }
                var warnings = 0
                for k in doc.orderedKeys {
                    guard let s = ConfigSchema.setting(for: k), s.kind == .path, let p = doc.string(k) else { continue }
                    if k == "device.data_dir" || k == "storage.audit_dir" || k == "console.pin_file" { continue }
                    if access(p, F_OK) != 0 {
                        print("warning: \(file):\(doc.lines[k] ?? 0): \(k): \(p) does not exist (yet)")
                        warnings += 1
                    }
                }
                print("\(file): ok (version \(doc.version), \(doc.cameras.count) camera(s), \(warnings) warning(s))")
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print the effective configuration (defaults filled in).")
            @Argument(help: "Configuration file.") var file: String
            func run() throws {
                let doc: ConfigDocument
                do { doc = try ConfigStore.load(file) } catch { throw printIssues(error) }
                for k in doc.orderedKeys { print("\(k) = \(doc.display(k))") }
            }
        }

        struct Set: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Change keys and save a new version (the old file is kept as FILE.prev; the change is audited).")
            @Argument(help: "Configuration file.") var file: String
            @Argument(help: "KEY=VALUE pairs (e.g. leds.chip=vigil-leds camera.0.device=/dev/video10); KEY= unsets (camera.N= removes a camera).") var assignments: [String]

            func run() throws {
                var pairs: [(String, String)] = []
                for a in assignments {
                    guard let eq = a.firstIndex(of: "=") else { throw fail("'\(a)': expected KEY=VALUE") }
                    pairs.append((String(a[..<eq]), String(a[a.index(after: eq)...])))
                }
                do throws(ConfigError) {
                    let old = try ConfigStore.load(file)
                    var doc = old
                    for (k, v) in pairs { if v.isEmpty { try doc.unset(k) } else { try doc.set(k, text: v) } }
                    let saved = try ConfigStore.save(doc, to: file, header: "saved by `vigil config set`")
                    let audit = openAudit(saved)
                    for d in old.diff(to: saved) {
                        let secret = ConfigSchema.setting(for: d.key)?.secret == true
                        func v(_ x: ConfigValue?) -> AuditValue { x == nil ? .null : secret ? .masked : .string(x!.description) }
                        _ = try? audit?.append("config.change", [("key", .string(d.key)), ("old", v(d.old)), ("new", v(d.new)),
                                                             ("version", .int(saved.version)), ("by", "command line")])
                    }
                    print("saved \(file) version \(saved.version)")
                } catch { throw printIssues(error) }
            }
        }

        struct Boards: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the board profiles.")
            func run() throws {
                for name in BoardProfile.available() {
                    let d = (try? BoardProfile.load(name))?.description ?? "(unreadable)"
                    print("\(name): \(d)")
                }
            }
        }
    }

    struct LEDsCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "leds", abstract: "Status LEDs: test them, or show a health state for a while.",
            subcommands: [Test.self, Show.self])

        struct Test: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Cycle every LED: each on in turn, then all blinking.")
            @Option(help: "Configuration file (leds.*).") var config: String
            @Flag(help: "Also draw the LEDs on the terminal.") var panel = false
            @Option(help: "Milliseconds per step.") var stepMs = 1000

            func run() throws {
                let doc: ConfigDocument
                do { doc = try ConfigStore.load(config) } catch { throw printIssues(error) }
                let (outputs, error) = openLEDs(doc.ledWiring, forcePanel: panel)
                if let error { throw fail(error) }
                if outputs.isEmpty { throw fail("no LEDs wired in \(config) (leds.status/fault/hit are -1) — use --panel to see the pattern") }
                let c = LEDController(outputs: outputs, hitEnabled: doc.ledWiring.hitEnabled)
                c.selfTest(step: .milliseconds(stepMs)) { print($0) }
                c.allOff()
                for o in outputs { (o as? TerminalLEDPanel)?.finish() }
                if !c.errors.isEmpty { throw fail(c.errors.joined(separator: "; ")) }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show a health state on the LEDs for a while (wiring checks, tests), then release the lines.")
            @Option(help: "Configuration file (leds.*).") var config: String
            @Option(help: "ok, degraded or fault.") var state: String = "ok"
            @Flag(help: "Also show a hit (alert mode; only if the configuration enables the hit LED).") var hit = false
            @Option(help: "Seconds to run.") var seconds: Double = 5
            @Flag(help: "Also draw the LEDs on the terminal.") var panel = false

            func run() throws {
                let level: HealthLevel
                switch state {
                case "ok": level = .ok
                case "degraded": level = .degraded
                case "fault": level = .fault
                default: throw fail("--state: expected ok, degraded or fault")
                }
                let doc: ConfigDocument
                do { doc = try ConfigStore.load(config) } catch { throw printIssues(error) }
                let (outputs, error) = openLEDs(doc.ledWiring, forcePanel: panel)
                if let error { throw fail(error) }
                let c = LEDController(outputs: outputs, hitEnabled: doc.ledWiring.hitEnabled, hitDuration: .seconds(max(1, Int64(seconds))))
                c.show(level)
                if hit { c.hit() }
                print("leds: " + c.patterns.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ") + " for \(seconds) s")
                let clock = SystemMonotonicClock()
                let end = clock.now().advanced(by: .milliseconds(Int64(seconds * 1000)))
                while clock.now() < end && !stopRequested.load(ordering: .relaxed) {
                    c.tick()
                    clock.sleep(until: clock.now().advanced(by: .milliseconds(5)))
                }
                c.allOff()
                if !c.errors.isEmpty { throw fail(c.errors.joined(separator: "; ")) }
            }
        }
    }

    struct ConsoleCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "console", abstract: "The technicians' serial console.",
            subcommands: [Serve.self, SetPIN.self], defaultSubcommand: Serve.self)

        struct Serve: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Serve the console on a tty (or a pty) until SIGTERM/SIGINT.")
            @Option(help: "Configuration file (its console.tty unless --tty is given).") var config: String
            @Option(help: "tty to serve on (overrides console.tty).") var tty: String?

            func run() throws {
                let doc: ConfigDocument
                do { doc = try ConfigStore.load(config) } catch { throw printIssues(error) }
                let settings = doc.consoleSettings
                guard let path = tty ?? settings.tty else { throw fail("no tty: set console.tty in \(config) or pass --tty") }
                let port: SerialPort
                do { port = try SerialPort(path: path, baud: settings.baud) } catch { throw fail(error.description) }
                let audit = openAudit(doc)
                let (outputs, ledError) = openLEDs(doc.ledWiring)
                let leds = outputs.isEmpty ? nil : LEDController(outputs: outputs, hitEnabled: doc.ledWiring.hitEnabled)
                let backend = DeviceConsoleBackend(config: doc, audit: audit, leds: leds, ledError: ledError)
                if let leds { leds.show(backend.health().level) }
                let workspace = ConfigWorkspace(path: config, document: doc)
                let place = String(path.split(separator: "/").last ?? "tty")
                let session = ConsoleSession(options: .init(settings, deviceName: doc.string("device.id") ?? "vigil"),
                                             pins: PINFileVerifier(path: settings.pinFile), backend: backend,
                                             audit: audit, config: workspace, place: place, now: .now(),
                                             lockStatePath: settings.pinFile + ".failures")
                installStopHandlers()
                _ = try? audit?.append("console.start", [("tty", .string(path)), ("baud", .int(Int64(settings.baud)))])
                print("vigil console on \(path) at \(settings.baud) baud (config \(config), PIN file \(settings.pinFile))")
                fflush(nil)  // supervisors and tests wait for this line (stdout may be a file)
                let server = ConsoleServer()
                // The stop flag is polled by a watcher so SIGTERM ends the serve loop within a second.
                let ledTask = leds.map { l in Task.detached { await l.run() } }
                let watcher = Task.detached {
                    while !stopRequested.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(100)) }
                    server.stop()
                }
                server.serve(fd: port.fd, session: session, pollMilliseconds: 200)
                watcher.cancel()
                ledTask?.cancel()
                leds?.allOff()
                _ = try? audit?.append("console.stop", [("tty", .string(path))])
                withExtendedLifetime(port) {}
            }
        }

        struct SetPIN: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "set-pin", abstract: "Set the technician PIN (read from stdin; stored as a salted scrypt hash, 0600).")
            @Option(help: "Configuration file (console.pin_file).") var config: String
            @Option(help: "scrypt cost as log2(N) (15 = 32 MiB; lower only for tests).") var costLog2 = PINHash.defaultLogN

            func run() throws {
                let doc: ConfigDocument
                do { doc = try ConfigStore.load(config) } catch { throw printIssues(error) }
                let path = doc.consoleSettings.pinFile
                guard (10...22).contains(costLog2) else { throw fail("--cost-log2 must be 10...22") }
                let interactive = isatty(0) != 0
                func readPIN(_ prompt: String) -> String? {
                    var saved = termios()
                    if interactive {
                        _ = fail(prompt, code: 0)
                        tcgetattr(0, &saved)
                        var t = saved
                        t.c_lflag &= ~tcflag_t(ECHO)
                        tcsetattr(0, TCSANOW, &t)
                    }
                    defer { if interactive { tcsetattr(0, TCSANOW, &saved); _ = write(2, "\n", 1) } }
                    return readLine(strippingNewline: true)
                }
                guard let pin = readPIN("new PIN (6-16 digits): ") else { throw fail("no PIN on stdin") }
                if interactive {
                    guard readPIN("again: ") == pin else { throw fail("the two PINs differ; nothing changed") }
                }
                do {
                    let h = try PINHash.make(pin: pin, logN: costLog2)
                    try h.save(path)
                } catch { throw fail("\(error)") }
                _ = try? openAudit(doc)?.append("console.pin_set", [("file", .string(path))])
                print("PIN set (\(path), scrypt N=2^\(costLog2))")
            }
        }
    }
}

/// Set by SIGTERM/SIGINT; long-running commands poll it.
let stopRequested = Atomic<Bool>(false)

func installStopHandlers() {
    let handler: @convention(c) (Int32) -> Void = { _ in stopRequested.store(true, ordering: .relaxed) }
    signal(SIGTERM, handler)
    signal(SIGINT, handler)
}

/// `--audit-dir` for the device-side watchlist commands.
func openAuditDirectory(_ dir: String?) -> AuditLog? {
    guard let dir else { return nil }
    do { return try AuditLog(directory: dir) } catch {
        _ = fail("warning: audit log \(dir): \(error) — this action is NOT being audited", code: 0)
        return nil
    }
}
