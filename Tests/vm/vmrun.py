#!/usr/bin/python3
"""Host side of the Vigil VM tests (python3 stdlib): boot qemu (TCG), timestamp and save the serial
console, kill qemu on a timeout, relay the guest's result lines, print the tally.

Output (stdout): "PASS ..."/"FAIL ..." lines as they arrive, other guest lines worth seeing
("GUEST ...", "VIGIL-INIT ...") indented with their time since qemu start, and finally exactly one
line "N passed, N failed". Exit status 0 iff no FAIL line and the guest script reached its end
marker (VIGIL-VM-END). Files: OUT/console.log (every console line, timestamped), OUT/timings.json.
Called by run.sh; see README.md.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time

RESULT = re.compile(r"^(PASS|FAIL) \S")
SHOW = ("GUEST ", "VIGIL-INIT ", "VIGIL-VM-", "Kernel panic", "  ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--memory", default="1024")
    ap.add_argument("--smp", default="2")
    ap.add_argument("--verbose", action="store_true", help="print every console line")
    ap.add_argument("--fail", action="append", default=[], help="host-side FAIL to count (repeatable)")
    ap.add_argument("--pass", dest="passed", action="append", default=[], help="host-side PASS to count")
    ap.add_argument("--started", type=float, help="time.time() when run.sh started (for the total)")
    ap.add_argument("--no-boot", action="store_true", help="only report --fail/--pass lines")
    a = ap.parse_args()

    npass = nfail = 0

    def result(line):
        nonlocal npass, nfail
        print(line, flush=True)
        if line.startswith("PASS"):
            npass += 1
        else:
            nfail += 1

    for m in a.passed:
        result("PASS " + m)
    for m in a.fail:
        result("FAIL " + m)
    if a.no_boot:
        print(f"{npass} passed, {nfail} failed", flush=True)
        return 0 if nfail == 0 else 1

    append = (f"console=ttyS0,115200 quiet panic=-1 vigil.out={a.out} vigil.bin={a.bin} "
              f"vigil.guest={a.guest}" + (f" vigil.only={a.only}" if a.only else ""))
    qemu = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-M", "q35",
            "-m", a.memory, "-smp", a.smp, "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-kernel", a.kernel, "-initrd", a.initrd, "-append", append,
            "-serial", "stdio",
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={a.out},mount_tag=out,security_model=none,multidevs=remap"]
    console_log = os.path.join(a.out, "console.log")
    marks = {"timeout_s": a.timeout, "kernel": a.kernel}
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as e:
        result(f"FAIL vm/boot: cannot start qemu: {e}")
        print(f"{npass} passed, {nfail} failed", flush=True)
        return 1

    def on_timeout():
        marks["timed_out"] = True
        proc.kill()

    timer = threading.Timer(a.timeout, on_timeout)
    timer.start()
    end_line = None
    last = []
    with open(console_log, "w") as log:
        log.write("# " + shlex.join(qemu) + "\n")
        for raw in proc.stdout:
            dt = time.monotonic() - t0
            line = raw.decode(errors="replace").rstrip("\r\n")
            log.write(f"[{dt:8.3f}] {line}\n")
            log.flush()
            marks.setdefault("first_console_output", round(dt, 3))
            for key in ("VIGIL-INIT", "VIGIL-VM-START", "VIGIL-VM-END", "Kernel panic"):
                if line.startswith(key) or (key == "Kernel panic" and key in line):
                    marks.setdefault(key, round(dt, 3))
            if line.startswith("VIGIL-INIT modules loaded"):
                marks.setdefault("modules_loaded", round(dt, 3))
            last = (last + [line])[-15:]
            if RESULT.match(line):
                result(line)
            elif line.startswith("VIGIL-VM-END"):
                end_line = line
                print(f"  [{dt:7.2f}] {line}", flush=True)
            elif a.verbose or line.startswith(SHOW) or "Kernel panic" in line:
                print(f"  [{dt:7.2f}] {line}", flush=True)
    rc = proc.wait()
    timer.cancel()
    marks["qemu_exit"] = round(time.monotonic() - t0, 3)
    marks["qemu_rc"] = rc

    if end_line is None:
        if "VIGIL-INIT" not in marks:
            why = "the kernel never reached /init"
        elif "VIGIL-VM-START" not in marks:
            why = "/init ran but the guest script did not start"
        else:
            why = "the guest script did not reach its end"
        if marks.get("timed_out"):
            result(f"FAIL vm/timeout: qemu killed after {a.timeout:.0f}s: {why}; see {console_log}")
        else:
            result(f"FAIL vm/boot: {why} (qemu exit status {rc}); see {console_log}")
        if not a.verbose:
            print("  --- last console lines:", flush=True)
            for line in last:
                print("  | " + line, flush=True)
    elif npass + nfail == 0:
        result("FAIL vm: the guest reported no results")
    s = " ".join(f"{k}={marks[k]}s" for k in ("first_console_output", "VIGIL-INIT", "modules_loaded",
                                             "VIGIL-VM-START", "VIGIL-VM-END", "qemu_exit") if k in marks)
    if a.started:
        marks["whole_run"] = round(time.time() - a.started, 1)
        s += f"; whole run.sh {marks['whole_run']}s"
    with open(os.path.join(a.out, "timings.json"), "w") as f:
        json.dump(marks, f, indent=1)
    print(f"  timings (from qemu start): {s}; results in {a.out}", flush=True)
    print(f"{npass} passed, {nfail} failed", flush=True)
    return 0 if nfail == 0 and end_line is not None else 1


if __name__ == "__main__":
    sys.exit(main())
