import ArgumentParser
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// The `vigil` command. Commands stay thin: parse, call library code, print.
@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Edge agent for camera appliances: capture, detect, match against a signed watchlist, report encrypted hits.",
        version: VigilVersion.string,
        subcommands: [Cameras.self, Capture.self, Demo.self, Detect.self, Embed.self, Compare.self, Evaluate.self, Profile.self, Keys.self, WatchlistCommand.self, HitsCommand.self, AuditCommand.self, ConfigCommand.self, LEDsCommand.self, ConsoleCommand.self, Run.self, Report.self, ProvisionCommand.self])
}

/// Prints one line to stderr and exits non-zero: the contract for every bad input. Messages
/// name files and carry text from outside (a record's file name, a path typed by an operator):
/// control characters are escaped so nothing reaches the terminal as a command.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    var line = "vigil: " + TerminalText.safe(message, message: true)
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    return ExitCode(code)
}

/// Parses `WxH` for ArgumentParser.
extension Size: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

extension PixelFormat: ExpressibleByArgument {
    public init?(argument: String) {
        guard let f = PixelFormat(name: argument), f.isDecodable else { return nil }
        self = f
    }
}
