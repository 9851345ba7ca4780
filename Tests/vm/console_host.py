#!/usr/bin/python3
"""Host side of the `field` group's console test: a technician at the other end of the guest's
/dev/ttyS1, where `vigil console` serves (started by field.sh through
`host_run NAME Tests/vm/console_host.py --phase A|B --ready FILE --pin PIN`).

Phase A (first console process): login with the PIN, `status`, `config set detection.rate_hz 2.5`,
`config diff`, `config commit`, `logout`; then five wrong PINs -> lockout, and the right PIN is
refused while locked.
Phase B (the console restarted by the guest): line noise first (random bytes, escape sequences,
an overlong line), then ^C and login, `config get detection.rate_hz` shows the committed 2.5,
`audit tail` shows the change, `keys show` shows no private material, `logout`.
Result lines: "PASS <step>" / "FAIL <step>: why".
"""
import argparse
import random
import sys

from serialhost import Serial, Steps, Timeout, args, log, result, wait_file

T = 60  # per answer: TCG is slow, scrypt N=2^12 in the guest takes a while


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--phase", choices=["A", "B"], required=True)
    p.add_argument("--ready", required=True, help="file the guest creates once the console serves ($OUT-relative)")
    p.add_argument("--pin", required=True)
    p.add_argument("--private-key", help="the device's private key file (phase B checks none of it is shown)")
    a = args(p)
    try:
        log("console:", wait_file(a.ready, 180).strip())
    except Timeout as e:
        return 0 if result(False, f"ready: {e}") else 1
    ok = True
    step = Steps(T)

    try:
        with Serial(a.sock) as s:
            if a.phase == "A":
                # the banner was sent before we connected (qemu drops it): a CR re-prompts
                step("prompt", s, "\r", r"PIN: ")
                step("login", s, a.pin + "\r", r"logged in.*\r\nvigil> ")
                step("status", s, "status\r", r"health: \w+[\s\S]*vigil> ")
                step("config-set", s, "config set detection.rate_hz 2.5\r", r"staged: detection\.rate_hz 5\.0 → 2\.5[^\n]*\n[\s\S]*vigil> ")
                step("config-set-refused", s, "config set detection.rate_hz 99\r", r"error: detection\.rate_hz: 99\.0 is out of range[\s\S]*vigil> ")
                step("config-diff", s, "config diff\r", r"detection\.rate_hz: 5\.0 → 2\.5\r\n[\s\S]*vigil> ")
                step("config-commit", s, "config commit\r", r"saved version \d+[\s\S]*vigil> ")
                step("logout", s, "logout\r", r"bye\r\nPIN: ")
                for i in range(1, 5):
                    step(f"wrong-pin-{i}", s, "000000\r", rf"wrong PIN \({5 - i} attempts left")
                step("lockout", s, "000000\r", r"locked after 5 failed logins: try again in \d+ min")
                step("locked-refuses-right-pin", s, a.pin + "\r", r"locked after 5 failed logins")
            else:
                # the lockout survives the restart (the failure count is on disk), and ends after
                # console.lockout_min (1 in this test's configuration)
                step("still-locked-after-restart", s, "\r", r"locked after 5 failed logins")
                unlocked = False
                for _ in range(30):
                    s.send("\r")
                    try:
                        s.expect(r"(?<!: )PIN: $|PIN: (?=\Z)", 4)
                        unlocked = True
                        break
                    except Timeout:
                        continue
                ok &= result(unlocked, "lockout-ends-after-1-min" + ("" if unlocked else ": still locked after 120 s"))
                rng = random.Random(7)
                noise = bytes(rng.randrange(256) for _ in range(3000)).replace(b"\r", b"").replace(b"\n", b"")
                s.send(noise)
                s.send(b"\x1b[A\x1b[1;5C\x1bOP" + b"9" * 700 + b"\r")   # escapes + an overlong "PIN"
                step("noise-then-prompt", s, "\x03", r"\^C\r\nPIN: ")
                step("login-after-restart", s, a.pin + "\r", r"logged in.*\r\nvigil> ")
                step("config-kept-after-restart", s, "config get detection.rate_hz\r", r"detection\.rate_hz = 2\.5\r\n")
                step("audit-tail-shows-change", s, "audit tail 40\r", r'"event":"config\.change","data":\{"key":"detection\.rate_hz","old":"5\.0","new":"2\.5"')
                s.send("keys show\r")
                try:
                    got = s.expect(r"keys show[\s\S]*?vigil> ", T)
                    # fingerprints and paths only: no line of the private key file may appear
                    secret = [l.strip() for l in open(a.private_key) if l.strip() and not l.startswith("#")]
                    leaked = [l for l in secret if len(l) >= 16 and any(part in got for part in l.split() if len(part) >= 16)]
                    ok &= result("SHA256:" in got and not leaked, "keys-show-fingerprints-only" + (f": leaked {leaked}" if leaked else ""))
                except (Timeout, EOFError, OSError) as e:
                    ok &= result(False, f"keys-show: {e}")
                step("camera-test-vivid", s, "camera test\r", r"cam0 /dev/video0: \S+ \d+x\d+, \d+ frames, [\d.]+ fps measured \(15 requested\), sharpness \d+", 120)
                step("selftest", s, "selftest\r", r"ok    data directory [^\r]*writable[\s\S]*ok    audit log: \d+ records, chain intact[\s\S]*vigil> ", 120)
                step("watchlist-status", s, "watchlist status\r", r"watchlist: [^\r]*\r\n[\s\S]*vigil> ")
                step("outbox-status", s, "outbox status\r", r"outbox: 0 sealed hit record\(s\) waiting")
                step("sync-not-configured", s, "sync now\r", r"sync: not configured")
                step("unknown-command", s, "rm -rf /\r", r"unknown command 'rm'")
                step("logout", s, "logout\r", r"bye\r\nPIN: ")
    except (OSError, EOFError, Timeout) as e:
        ok &= result(False, f"serial: {e!r}")
    return 0 if ok and step.ok else 1


if __name__ == "__main__":
    sys.exit(main())
