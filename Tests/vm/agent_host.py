#!/usr/bin/python3
"""Host side of the VM's `agent` group (started by agent.sh through host_run).

--phase console   a technician at the other end of the guest's /dev/ttyS1, where `vigil run` serves
                  the console: login with the PIN, `status` must show health ok, both cameras
                  streaming (door: MJPEG 640x480 with at least one reconnect — it was unplugged;
                  street: vivid's YUYV), the alert-mode list and the counters; `outbox status`;
                  logout.
--phase open      the agency, on the host: opens every record the agent uploaded to nginx's web
                  root ($OUT/agent/www/hits) with the agency's private key and the device's public
                  key. All must open, all must name the enrolled entry and camera door — a hit from
                  the street camera (no faces) or for anyone else is a failure.
Result lines: "PASS <step>" / "FAIL <step>: why".
"""
import argparse
import json
import os
import re
import subprocess
import sys

from serialhost import Serial, Steps, Timeout, args, log, result, wait_file

T = 90  # per answer: the agent analyses two cameras under TCG while it serves the console


def console(a):
    try:
        log("console:", wait_file(a.ready, 120).strip())
    except Timeout as e:
        return result(False, f"ready: {e}")
    ok = True
    step = Steps(T)

    try:
        with Serial(a.sock) as s:
            step("prompt", s, "\r", r"PIN: ")
            step("login", s, a.pin + "\r", r"logged in.*\r\nvigil> ")
            got = step("status", s, "status\r", r"health: [\s\S]*?versions: [^\r\n]*\r\n[\s\S]*?vigil> ")
            if got is not None:
                text = got.decode("utf-8", "replace") if isinstance(got, bytes) else got
                log("status:\n" + text)
                checks = [
                    ("status-health-ok", r"health: ok\r\n"),
                    ("status-door-streaming-after-reconnect",
                     r"camera door /dev/video10: \S+ 640x480 at [\d.]+ fps, [1-9]\d* frames, \d+ not analysed \(latest frame wins\), [1-9]\d* reconnects"),
                    ("status-street-streaming",
                     r"camera street /dev/video0: \S+ 640x480 at [\d.]+ fps, [1-9]\d* frames"),
                    ("status-counters", r"counters today \([\d-]+\): [1-9]\d* frames analysed, [1-9]\d* faces detected, [1-9]\d* compared, [1-9]\d* hits"),
                ]
                for name, pat in checks:
                    found = re.search(pat, text) is not None
                    ok &= result(found, name + ("" if found else f": no match for {pat}"))
            step("outbox-status", s, "outbox status\r", r"outbox: \d+ sealed hit record\(s\) waiting[\s\S]*?vigil> ")
            step("logout", s, "logout\r", r"bye\r\nPIN: ")
    except (OSError, EOFError, Timeout) as e:
        ok &= result(False, f"serial: {e!r}")
    return ok and step.ok


def open_hits(a):
    d = a.dir
    entry = open(os.path.join(d, "entry")).read().strip()
    hits = os.path.join(d, "www", "hits")
    files = sorted(f for f in os.listdir(hits) if not f.startswith(".")) if os.path.isdir(hits) else []
    if not files:
        return result(False, "uploaded: no records in " + hits)
    p = subprocess.run([os.path.join(a.bin, "vigil"), "hits", "open", "--json", "--key", os.path.join(d, "keys", "agency.key"),
                        "--device-pub", os.path.join(d, "keys", "device.pub"), hits], capture_output=True, text=True)
    records = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    log(p.stdout + p.stderr)
    ok = result(p.returncode == 0 and len(records) == len(files),
                f"all-open: {len(records)} of {len(files)} uploaded record(s) opened with the agency key (exit {p.returncode})")
    others = [r for r in records if r["entry"] != entry or r["camera"] != "door"]
    ok &= result(not others, "expected-only: every hit names the enrolled entry and camera door"
                 + (f": unexpected {[(r['entry'], r['camera']) for r in others]}" if others else ""))
    ok &= result(all(r["mode"] == "alert" and r["score"] >= r["threshold"] and r["clock_synchronized"] is True for r in records),
                 "fields: alert mode, score >= threshold, clock synchronized in every record")
    return ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--phase", choices=["console", "open"], required=True)
    p.add_argument("--ready", help="console: file the guest creates once the agent serves ($OUT-relative)")
    p.add_argument("--pin")
    p.add_argument("--dir", help="open: $OUT/agent")
    p.add_argument("--bin", help="open: directory with vigil")
    a = args(p)
    ok = console(a) if a.phase == "console" else open_hits(a)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
