// Issue 16 items 2 and 4 at the console: matching cannot be switched off with the PIN, and a
// refused commit leaves the previous version for `config revert previous`.
import Config
import Testing

@Test func theConsoleCannotCommitSettingsThatStopMatching() throws {
    let rig = try Rig()
    rig.type("480213\r")
    for (key, value) in [("matching.threshold", "1.0"), ("matching.min_quality", "1"), ("detection.min_face_px", "1024"),
                         ("policy.hit_cooldown_s", "86400"), ("storage.outbox_max_mb", "1")] {
        let out = rig.type("config set \(key) \(value)\r")
        #expect(out.contains("error: \(key):"), "\(key) \(value): \(out)")
    }
    #expect(rig.type("config diff\r").contains("no staged changes"))
    #expect(try ConfigStore.load(rig.configPath).version == 1)
}

@Test func aRefusedCommitLeavesThePreviousVersionToRevertTo() throws {
    let rig = try Rig()
    rig.type("480213\r")
    rig.type("config set leds.chip vigil-leds\r")
    #expect(rig.type("config commit\r").contains("saved version 2"))
    rig.type("config set leds.hit -1\r")
    rig.type("config set leds.hit_enabled true\r")
    #expect(rig.type("config commit\r").contains("nothing saved"))
    rig.type("config revert\r")
    // the previous version is still v1: reverting to it brings leds.chip back
    #expect(rig.type("config revert previous\r").contains("1 change(s)"))
    #expect(rig.type("config diff\r").contains("leds.chip: vigil-leds → gpiochip0"))
    #expect(rig.type("config commit\r").contains("saved version 3"))
    #expect(try ConfigStore.load(rig.configPath).string("leds.chip") == "gpiochip0")
}
