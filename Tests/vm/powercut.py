#!/usr/bin/python3
"""Power cuts while the device seals hits and installs a watchlist (`make test-powercut`).

    powercut.py --kernel VMLINUX --initrd INITRD --bin DIR --repo DIR --out DIR
                [--cuts 50] [--seed 1] [--entries 10000] [--max-cut 8] [--boot-timeout 300]

The device's data directory is on a raw ext4 disk image (virtio-blk) that persists across boots.
Each boot runs Tests/vm/powercut_guest.sh: it CHECKS what the previous cut left, then WORKS
(seals hit records with a 20 kB crop and an audit record each, and installs the next watchlist
version, a signed 5,000-entry bundle made here) until this script kills qemu with SIGKILL at a
random moment between 0.3 s and --max-cut s after the work began — no shutdown, no sync: the
guest's page cache is lost, what reached the virtual disk survives. N cuts = N+1 boots (the last
one only checks).

Per cut, after the next boot:
  watchlist  the active list loads and verifies, and is the old version or the one being
             installed at the cut — never partial, never older;
  sealed     every record id the guest had reported as sealed (printed after Outbox.record
             returned, i.e. after its fsyncs) is in the outbox;
  open       every record written since the previous check opens with the agency key (records
             are immutable once renamed into place), and nothing but records and the sequence
             file is left in the outbox once it is opened as the agent opens it;
  audit      the chain verifies after the log is opened as the agent opens it; before that it
             may end in a partial line (counted: "ended early"), never break in the middle;
  fsck       e2fsck -p exits 0 or 1 (journal replayed / fixed); >= 2 fails.
Prints PASS/FAIL lines per category, a summary, and "N passed, M failed"; exit 0 iff no FAIL.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import threading
import time


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cuts", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--max-cut", type=float, default=8.0)
    ap.add_argument("--boot-timeout", type=float, default=300)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    V = os.path.join(a.bin, "vigil")
    models = os.path.join(a.repo, "models")
    out = os.path.abspath(a.out)
    P = os.path.join(out, "pc")
    os.makedirs(P, exist_ok=True)
    keys = os.path.join(P, "keys")
    for r in ("authority", "agency", "device"):
        sh(V, "keys", "generate", "--role", r, "--out", keys)
    disk = os.path.join(out, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(192 << 20)
    sh("mkfs.ext4", "-q", "-F", "-L", "vigil-data", disk)
    open(os.path.join(P, "sealed.txt"), "w").close()
    log = open(os.path.join(out, "console.log"), "w")

    fails = []
    stats = dict(list_old=0, list_new=0, list_none=0, sealed_reported=0, opened=0, ended_early=0,
                 fsck_clean=0, fsck_fixed=0, cut_after=[], boots=0)
    confirmed = 0        # highest version the guest reported installed (or a check saw active)
    attempted = None     # version being installed when the last cut came
    sealed = []
    t_start = time.monotonic()

    for boot in range(a.cuts + 1):
        last = boot == a.cuts
        version = confirmed + 1
        nxt = os.path.join(P, "next.vwl")
        if not last:
            sh(V, "watchlist", "synth", "--entries", str(a.entries), "--key", os.path.join(keys, "authority.key"),
               "--version", str(version), "--seed", str(version), "--out", nxt, "--models", models)
            with open(os.path.join(P, "next.version"), "w") as f:
                f.write(str(version))
        elif os.path.exists(nxt):
            os.unlink(nxt)
        append = (f"console=ttyS0,115200 quiet panic=-1 vigil.out={out} vigil.bin={a.bin} "
                  f"vigil.guest={os.path.join(a.repo, 'Tests/vm/powercut_guest.sh')}")
        qemu = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-M", "q35", "-m", "1024", "-smp", "2",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-kernel", a.kernel, "-initrd", a.initrd, "-append", append, "-serial", "stdio",
                "-drive", f"file={disk},if=virtio,format=raw,cache=writeback",
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                "-virtfs", f"local,path={out},mount_tag=out,security_model=none,multidevs=remap"]
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        stats["boots"] += 1
        timer = threading.Timer(a.boot_timeout, proc.kill)
        timer.start()
        seen = {}
        new_ids = []
        installed = None
        killer = None
        t0 = time.monotonic()
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            log.write(f"[boot {boot} {time.monotonic() - t0:7.2f}] {line}\n")
            log.flush()
            m = re.match(r"PC-([A-Z-]+)\s*(.*)", line)
            if not m:
                continue
            word, rest = m.group(1), m.group(2)
            seen[word] = rest
            if word == "SEALED-ID":
                new_ids.append(rest.split()[0])
            elif word == "INSTALLED":
                installed = int(rest.split()[0])
            elif word == "WORK-START":
                delay = 0.05 if last else rng.uniform(0.3, a.max_cut)
                stats["cut_after"].append(delay)
                killer = threading.Timer(delay, proc.kill)
                killer.start()
            elif word in ("MOUNT-FAILED", "WORK-DONE"):
                proc.kill()
        proc.wait()
        timer.cancel()
        if killer:
            killer.cancel()
        tag = f"cut {boot}" if boot else "fresh disk"

        # ---- judge this boot's CHECK (the state the previous cut left)
        if "CHECKED" not in seen:
            fails.append(f"powercut/boot-{boot}: the check did not complete (last lines in {out}/console.log): "
                         + "; ".join(f"{k} {v}" for k, v in seen.items())[:300])
        else:
            fr = re.match(r"rc=(\d+)", seen.get("FSCK", "rc=99"))
            frc = int(fr.group(1)) if fr else 99
            if frc == 0:
                stats["fsck_clean"] += 1
            elif frc == 1:
                stats["fsck_fixed"] += 1
            else:
                fails.append(f"powercut/fsck: after {tag}: e2fsck -p exit {frc}: {seen.get('FSCK')}")
            lst = seen.get("LIST", "")
            if lst.startswith("none"):
                stats["list_none"] += 1
                if confirmed:
                    fails.append(f"powercut/watchlist: after {tag}: no list although v{confirmed} was installed")
            else:
                lm = re.match(r"rc=(\d+) watchlist v(\d+) active", lst)
                if not lm or lm.group(1) != "0":
                    fails.append(f"powercut/watchlist: after {tag}: not a valid active list: {lst}")
                else:
                    v = int(lm.group(2))
                    if v == confirmed:
                        stats["list_old"] += 1
                    elif attempted is not None and v == attempted:
                        stats["list_new"] += 1
                        confirmed = v
                    else:
                        fails.append(f"powercut/watchlist: after {tag}: v{v} active, expected v{confirmed} or v{attempted}")
            sm = re.match(r"reported=(\d+) missing=(\d+)", seen.get("SEALED", ""))
            if not sm or sm.group(2) != "0" or int(sm.group(1)) != len(sealed):
                fails.append(f"powercut/sealed: after {tag}: {seen.get('SEALED')} (host knows {len(sealed)})")
            om = re.match(r"rc=(\d+) (\d+) opened, (\d+) refused", seen.get("OPEN", ""))
            if not om or om.group(1) != "0" or om.group(3) != "0" or "other files" in seen.get("OPEN", ""):
                fails.append(f"powercut/open: after {tag}: {seen.get('OPEN')}")
            else:
                stats["opened"] += int(om.group(2))
            before = seen.get("AUDIT-BEFORE", "")
            if not before.startswith("rc=0"):
                if "partial last line" in before and "chain" not in before.replace("chain intact", ""):
                    stats["ended_early"] += 1
                elif "partial last line" in before:
                    stats["ended_early"] += 1
                else:
                    fails.append(f"powercut/audit: after {tag}: before repair: {before}")
            if not seen.get("AUDIT", "").startswith("rc=0"):
                fails.append(f"powercut/audit: after {tag}: after opening: {seen.get('AUDIT')}")
        # ---- this boot's work
        if installed is not None:
            confirmed = max(confirmed, installed)
        attempted = None if last else version
        sealed += new_ids
        stats["sealed_reported"] = len(sealed)
        with open(os.path.join(P, "sealed.txt"), "w") as f:
            f.write("".join(i + "\n" for i in sealed))
        print(f"  boot {boot:2d}: {time.monotonic() - t0:5.1f} s, list {seen.get('LIST', '-')[:40]!r}, "
              f"sealed +{len(new_ids)} (total {len(sealed)}), installed {installed}, "
              f"cut {stats['cut_after'][-1] if stats['cut_after'] else 0:.2f} s after work began", flush=True)

    n = a.cuts
    passed = 0
    cats = ["watchlist", "sealed", "open", "audit", "fsck", "boot"]
    for c in cats:
        mine = [f for f in fails if f.startswith(f"powercut/{c}")]
        for f in mine:
            print("FAIL " + f)
        if not mine:
            passed += 1
            msg = {
                "watchlist": f"after {n} cuts the active list was always valid: old version {stats['list_old']} times, the new one {stats['list_new']} times (never partial or older)",
                "sealed": f"all {stats['sealed_reported']} records reported sealed were in the outbox after every cut",
                "open": f"every record written before a cut opened with the agency key at the next boot ({stats['opened']} records), none refused, no stray files",
                "audit": f"the audit chain verified after every cut; it ended in a partial line {stats['ended_early']} times (cut, then repaired on open), never broke in the middle",
                "fsck": f"e2fsck -p: clean {stats['fsck_clean']}, journal fixes {stats['fsck_fixed']}, errors 0",
                "boot": f"{stats['boots']} boots, every check completed",
            }[c]
            print(f"PASS powercut/{c}: {msg}")
    cuts = sorted(stats["cut_after"][:-1]) or [0]
    print(f"powercut: {n} cuts at {cuts[0]:.2f}-{cuts[-1]:.2f} s into the work (median {cuts[len(cuts) // 2]:.2f} s), "
          f"{time.monotonic() - t_start:.0f} s in all; console: {out}/console.log")
    nfail = len([c for c in cats if any(f.startswith(f'powercut/{c}') for f in fails)])
    print(f"{passed} passed, {nfail} failed")
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
