// `vigil run` (the agent) and `vigil report` (accountability counters): thin commands over Agent.
import Agent
import ArgumentParser
import Config

#if canImport(Glibc)
import Glibc
#endif

extension Vigil {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: capture, detect, match, seal and upload hits, sync, LEDs, console, audit (until SIGTERM).")
        @Option(help: "Configuration file.") var config: String
        @Flag(help: "Stop once every camera's clip (a file or folder instead of /dev/video*) has played (demo, tests).") var untilClipsEnd = false
        @Flag(help: "Play clips in a loop.") var loopClips = false
        @Flag(help: "Draw the LEDs on the terminal.") var panel = false

        func run() async throws {
            let doc: ConfigDocument
            // A configuration that cannot be read is the one thing the agent cannot work around:
            // it exits with the reasons (systemd's start limit then stops the restarts).
            do { doc = try ConfigStore.load(config) } catch { throw printIssues(error) }
            var options = AgentOptions()
            options.untilClipsEnd = untilClipsEnd
            options.loopClips = loopClips
            options.panel = panel
            let agent = VigilAgent(config: doc, configPath: config, options: options)
            try await agent.run()
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accountability report: frames processed, faces detected, faces compared, hits — per day, totals only — and the settings that lower recall.")
        @Option(help: "Configuration file (device.data_dir).") var config: String
        @Option(help: "Only the last N days.") var days: Int?

        func run() throws {
            let doc: ConfigDocument
            do { doc = try ConfigStore.load(config) } catch { throw printIssues(error) }
            let c = Counters(path: DataLayout(doc).counters)
            if let note = c.loadNote { _ = fail(note, code: 0) }
            print(c.report(days: days, config: doc), terminator: "")
        }
    }
}
