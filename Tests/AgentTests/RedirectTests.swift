// docs/SECURITY.md 4.1: sync and upload never follow a redirect. A list server (or whoever sits in
// front of it) must not send a device to another host: the pinned CA would still be checked, but
// the device's only network traffic is to the hosts its configuration names.
import HitUpload
import Testing
import VigilCore
import VigilTestSupport
import Watchlist
import WatchlistSync

@Suite("Redirects are refused, not followed")
struct RedirectTests {
    @Test(arguments: [301, 302, 307, 308])
    func syncRefusesARedirectedManifest(_ status: Int) async throws {
        let f = try SyncFixture()
        let server = try StallServer { req, _ in
            req.uri.hasSuffix("/manifest") ? .redirect(status: status, location: "/elsewhere/manifest") : .full(status: 200, body: [])
        }
        defer { server.close() }
        let r = await runSync(f.config(server), clock: TestClock()).value
        guard case .failure(let e) = r else { Issue.record("\(r)"); return }
        #expect("\(e)".contains("\(status)"), "\(e)")
        let first = await server.next()
        #expect(first.uri == "/manifest")
        #expect(server.seen.pending.allSatisfy { !$0.uri.contains("elsewhere") })
    }

    @Test func uploadRefusesARedirectAndKeepsTheRecord() async throws {
        let o = try OutboxFixture()
        let server = try StallServer { req, _ in
            req.uri.hasPrefix("/hits/") ? .redirect(status: 307, location: "/elsewhere/x") : .full(status: 201, body: [])
        }
        defer { server.close() }
        let uploader = HitUploader(config: o.config(server), clock: TestClock())
        let r: Result<UploadReport, UploadError>
        do throws(UploadError) { r = .success(try await uploader.run(once: true)) } catch { r = .failure(error) }
        guard case .failure(let e) = r else { Issue.record("uploaded through a redirect: \(r)"); return }
        #expect("\(e)".contains("307"), "\(e)")
        #expect(o.pending == 1)
        #expect(server.seen.pending.allSatisfy { !$0.uri.contains("elsewhere") })
    }
}
