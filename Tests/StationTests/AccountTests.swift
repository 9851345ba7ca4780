import Audit
import Station
import Testing
import VigilCore
import VigilTestSupport

@Suite("Station accounts")
struct AccountTests {
    let dir = makeTempDirectory("accounts")

    func desk() throws -> AccountDesk {
        var d = AccountDesk(store: try StationStore(path: dir + "/station.sqlite"), audit: try AuditLog(directory: dir + "/audit"))
        d.logN = 4  // cheap for tests; the default is 2^15
        return d
    }

    @Test func fiveBadPasswordsLockTheAccountUntilAnAdministratorUnlocksIt() throws {
        let d = try desk()
        try d.create("root-admin", role: .administrator, password: "correct horse battery", by: nil, now: 1)
        try d.create("ana", role: .reviewer, password: "ana's long passphrase", by: ("root-admin", .administrator), now: 2)
        #expect(try d.login("ana", password: "ana's long passphrase") == .ok(role: .reviewer))
        for _ in 0..<4 { #expect(try d.login("ana", password: "guess") == .refused) }
        #expect(try d.login("ana", password: "guess") == .locked)
        #expect(try d.login("ana", password: "ana's long passphrase") == .locked)  // the right one no longer helps
        #expect(throws: AccountError.notAllowed("only an administrator unlocks accounts")) { try d.unlock("ana", by: ("ana", .reviewer)) }
        try d.unlock("ana", by: ("root-admin", .administrator))
        #expect(try d.login("ana", password: "ana's long passphrase") == .ok(role: .reviewer))
        // a success resets the count: four more failures do not lock
        for _ in 0..<4 { #expect(try d.login("ana", password: "guess") == .refused) }
        #expect(try d.login("ana", password: "ana's long passphrase") == .ok(role: .reviewer))
    }

    @Test func unknownUsersAreRefusedLikeBadPasswords() throws {
        let d = try desk()
        #expect(try d.login("nobody", password: "whatever it is") == .refused)
        #expect(try d.login("../../etc", password: "x") == .refused)
    }

    @Test func onlyAdministratorsCreateUsersAndPasswordsMustBeLong() throws {
        let d = try desk()
        #expect(throws: AccountError.notAllowed("only an administrator creates users")) {
            try d.create("ben", role: .reviewer, password: "a long enough one", by: ("sam", .supervisor), now: 1)
        }
        #expect(throws: AccountError.weakPassword("at least 12 characters")) { try d.create("ben", role: .reviewer, password: "short", by: nil, now: 1) }
        #expect(throws: AccountError.badUsername) { try d.create("Ben Smith", role: .reviewer, password: "a long enough one", by: nil, now: 1) }
        try d.create("ben", role: .reviewer, password: "a long enough one", by: nil, now: 1)
        #expect(throws: AccountError.exists("ben")) { try d.create("ben", role: .reviewer, password: "a long enough one", by: nil, now: 1) }
    }

    @Test func everyAttemptIsAuditedAndNoPasswordIsLogged() throws {
        let d = try desk()
        try d.create("ana", role: .reviewer, password: "ana's long passphrase", by: nil, now: 1)
        _ = try d.login("ana", password: "wrong passphrase 1")
        _ = try d.login("ana", password: "ana's long passphrase")
        let log = try tailAuditLog(directory: dir + "/audit", count: 20).joined(separator: "\n")
        #expect(log.contains("\"station.user_created\""))
        #expect(log.components(separatedBy: "\"station.login\"").count - 1 == 2)
        #expect(!log.contains("passphrase"))
        #expect(try verifyAuditLog(directory: dir + "/audit").isIntact)
    }

    @Test func hashesRoundTripAndCompareInFull() throws {
        let h = try PasswordHash.make("a long enough one", logN: 4)
        let back = try #require(PasswordHash(text: h.text))
        #expect(back == h && back.matches("a long enough one") && !back.matches("a long enough onf"))
        #expect(PasswordHash(text: "scrypt$4$8$1$zz$00") == nil)
        #expect(PasswordHash(text: "md5$x") == nil)
        // parameters out of range never derive (a crafted row cannot make a login take hours)
        #expect(!PasswordHash(logN: 40, r: 8, p: 1, salt: h.salt, hash: h.hash).matches("a long enough one"))
    }
}
