import Foundation
import Hits
import Testing
import VigilCore
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

/// What `hits open` prints: valid JSON whatever the record's text, and every file of a drop
/// accounted for (issue 16, item 5).
@Suite("hits open output (JSON escaping, skipped files, terminal-safe text)")
struct ReviewTests {
    let device = DeviceSigningKey(), agency = AgencyPrivateKey()

    @Test(arguments: ["door\\", "a\"b", "tab\\t\"x\\\\"])
    func jsonStaysValidForAnyCameraName(_ camera: String) throws {
        var b = sampleBody(3, crop: 8)
        b.cameraID = camera
        b.estimatedFalseMatchRate = 1.5e-7
        let r = try SealedRecord.seal(b, id: makeUUIDv7(millis: 1_795_000_000_000), sequence: UInt64.max, createdMillis: 1_795_000_000_000,
                                      device: device, agency: agency.publicKey)
        let record = try SealedRecord(parsing: r.bytes)
        let opened = try record.open(agency: agency, devices: [device.publicKey])
        let line = opened.json(record: record).text
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], Comment(rawValue: line))
        #expect(object["camera"] as? String == camera)
        // exact numbers: a tiny rate is not printed as 0, a sequence above 2^53 is not rounded
        #expect(object["estimated_false_match_rate"] as? Double == 1.5e-7)
        #expect(line.contains("\"sequence\": 18446744073709551615"))
    }

    @Test func everyFileOfADropIsOpenedOrCountedAsSkipped() throws {
        let dir = tempDir()
        defer { rmTree(dir) }
        for n in ["b.hit", "a.hit", ".hidden", "x.tmp", "sequence"] { try writeFileAtomically(dir + "/" + n, [1]) }
        mkdir(dir + "/sub", 0o755)
        symlink("/etc/shadow", dir + "/link.hit")
        let l = try RecordFileListing.collect([dir])
        #expect(l.files == [dir + "/a.hit", dir + "/b.hit"])
        #expect(Set(l.skipped.map { ($0.path as NSString).lastPathComponent }) == [".hidden", "x.tmp", "sequence", "sub", "link.hit"])
        #expect(l.skipped.first { $0.path.hasSuffix("link.hit") }?.reason == "a symbolic link")
    }

    @Test func terminalEscapesInNamesAreShownNotObeyed() {
        let hostile = "rec\u{1b}]0;owned\u{07}\u{1b}[2J\r\u{9b}31m\u{202e}gpj.hit\\"
        let safe = TerminalText.safe(hostile)
        #expect(!safe.unicodeScalars.contains { $0.value < 0x20 || (0x7F..<0xA0).contains($0.value) || $0 == "\u{202e}" })
        #expect(safe == "rec\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}\\u{9b}31m\\u{202e}gpj.hit\\\\")
        #expect(TerminalText.safe("plain café.hit") == "plain café.hit")
        // whole messages keep their own newlines and backslashes
        #expect(TerminalText.safe("a\\b\nc\u{1b}", message: true) == "a\\b\nc\\u{1b}")
    }
}
