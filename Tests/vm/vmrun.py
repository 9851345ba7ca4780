#!/usr/bin/python3
"""Host side of the Vigil VM tests (python3 stdlib): boot qemu (TCG), timestamp and save the serial
console, kill qemu on a timeout, relay the guest's result lines, print the tally.

Output (stdout): "PASS ..."/"FAIL ..." lines as they arrive, other guest lines worth seeing
("GUEST ...", "VIGIL-INIT ...") indented with their time since qemu start, and finally exactly one
line "N passed, N failed". Exit status 0 iff no FAIL line and the guest script reached its end
marker (VIGIL-VM-END). Files: OUT/console.log (every console line, timestamped), OUT/timings.json.
Called by run.sh; see README.md.

Guest ttyS1 is qemu's unix socket OUT/ttyS1.sock (server, wait=off); the console stays ttyS0 on
stdio. Host-side test scripts: a console line `HOST-RUN <name> <script> [args...]` (script relative
to the repo) starts `python3 REPO/<script> --sock OUT/ttyS1.sock [args...]` in the background
(cwd REPO; env OUT, REPO, HOST_RUN_NAME=<name>). Its stdout PASS/FAIL lines are counted as
"PASS <name>/..." / "FAIL <name>/..."; all its other output goes to OUT/host-<name>.log; on exit
OUT/host-<name>.rc gets its exit status (the guest's host_wait polls for it). Non-zero exit without
a FAIL line, or 0 without a PASS line, is a FAIL. `HOST-KILL <name>` (the guest gave up waiting,
already counted as a FAIL) kills it quietly; scripts still running when qemu exits are killed, FAIL.
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
import signal

RESULT = re.compile(r"^(PASS|FAIL) \S")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SHOW = ("GUEST ", "VIGIL-INIT ", "VIGIL-VM-", "Kernel panic", "  ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
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
    lock = threading.Lock()

    def result(line):
        nonlocal npass, nfail
        with lock:
            print(line, flush=True)
            if line.startswith("PASS"):
                npass += 1
            else:
                nfail += 1

    def show(text):
        with lock:
            print(text, flush=True)

    for m in a.passed:
        result("PASS " + m)
    for m in a.fail:
        result("FAIL " + m)
    if a.no_boot:
        print(f"{npass} passed, {nfail} failed", flush=True)
        return 0 if nfail == 0 else 1

    sock = os.path.join(a.out, "ttyS1.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    append = (f"console=ttyS0,115200 quiet panic=-1 vigil.out={a.out} vigil.bin={a.bin} "
              f"vigil.guest={a.guest}" + (f" vigil.only={a.only}" if a.only else ""))
    qemu = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-M", "q35",
            "-m", a.memory, "-smp", a.smp, "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-kernel", a.kernel, "-initrd", a.initrd, "-append", append,
            "-serial", "stdio",
            "-chardev", f"socket,id=ser1,path={sock},server=on,wait=off", "-serial", "chardev:ser1",
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

    hosts = {}      # name -> {"proc", "thread", "killed"}

    def host_relay(name, p, logf, t_start):
        np = nf = 0
        with logf:
            for raw in p.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                logf.write(f"[{time.monotonic() - t0:8.3f}] {line}\n")
                logf.flush()
                m = RESULT.match(line)
                if m:
                    if line.startswith("PASS"):
                        np += 1
                    else:
                        nf += 1
                    result(f"{m.group(1)} {name}/{line[5:]}")
            rc = p.wait()
            if rc < 0:
                rc = 128 - rc           # killed by a signal: shell convention, e.g. 137 = SIGKILL
            dt = time.monotonic() - t0
            logf.write(f"[{dt:8.3f}] exit status {rc}\n")
        h = hosts[name]
        if h["killed"]:
            why = h["killed"]
        elif rc != 0 and nf == 0:
            why = f"FAIL {name}: host script exited with status {rc} without a FAIL line; see {logf.name}"
        elif rc == 0 and np == 0 and nf == 0:
            why = f"FAIL {name}: host script exited 0 without a PASS line; see {logf.name}"
        else:
            why = None
        if why and why.startswith("FAIL"):
            result(why)
        write_rc(name, rc)
        note = f" ({why})" if why and not why.startswith("FAIL") else ""
        show(f"  [{dt:7.2f}] HOST {name}: exit {rc} after {dt - t_start:.1f}s, {np} passed, {nf} failed{note}")

    def write_rc(name, rc):
        rcfile = os.path.join(a.out, f"host-{name}.rc")
        with open(rcfile + ".tmp", "w") as f:
            f.write(f"{rc}\n")
        os.replace(rcfile + ".tmp", rcfile)

    def host_run(line, dt):
        words = line.split()
        if len(words) < 3 or not HOST_NAME.match(words[1]):
            result(f"FAIL vm/host-run: malformed line {line!r}")
            return
        name, script, args = words[1], words[2], words[3:]
        path = os.path.realpath(os.path.join(a.repo, script))
        if not path.startswith(os.path.realpath(a.repo) + os.sep) or not os.path.isfile(path):
            result(f"FAIL {name}: host script {script} is not a file inside {a.repo}")
            write_rc(name, 127)
            return
        if name in hosts and hosts[name]["proc"].poll() is None:
            result(f"FAIL {name}: a host script of that name is still running")
            return
        for ext in (".rc", ".rc.tmp"):
            try:
                os.unlink(os.path.join(a.out, f"host-{name}{ext}"))
            except FileNotFoundError:
                pass
        env = dict(os.environ, OUT=a.out, REPO=a.repo, HOST_RUN_NAME=name, PYTHONUNBUFFERED="1",
                   PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable or "python3", path, "--sock", sock] + args
        logf = open(os.path.join(a.out, f"host-{name}.log"), "w")
        logf.write(f"# {shlex.join(cmd)}\n")
        logf.flush()
        try:
            p = subprocess.Popen(cmd, cwd=a.repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            logf.close()
            result(f"FAIL {name}: cannot start {script}: {e}")
            write_rc(name, 127)
            return
        show(f"  [{dt:7.2f}] HOST {name}: started {shlex.join([script] + args)} (pid {p.pid})")
        hosts[name] = {"proc": p, "killed": None}
        th = threading.Thread(target=host_relay, args=(name, p, logf, dt), daemon=True)
        hosts[name]["thread"] = th
        th.start()

    def host_kill(name, why):
        h = hosts.get(name)
        if h and h["proc"].poll() is None:
            h["killed"] = why
            try:
                os.killpg(h["proc"].pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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
            elif line.startswith("HOST-RUN "):
                host_run(line, dt)
            elif line.startswith("HOST-KILL "):
                host_kill(line.split()[1] if len(line.split()) > 1 else "", "killed at the guest's request")
            elif line.startswith("VIGIL-VM-END"):
                end_line = line
                print(f"  [{dt:7.2f}] {line}", flush=True)
            elif a.verbose or line.startswith(SHOW) or "Kernel panic" in line:
                print(f"  [{dt:7.2f}] {line}", flush=True)
    rc = proc.wait()
    timer.cancel()
    for name in list(hosts):
        host_kill(name, f"FAIL {name}: host script still running when the VM ended; killed")
    for h in hosts.values():
        h["thread"].join(10)
    if os.path.exists(sock):
        os.unlink(sock)
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
