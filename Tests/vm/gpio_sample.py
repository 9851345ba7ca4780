#!/usr/bin/python3
"""Sample gpio-sim line values from sysfs (python3 stdlib; runs in the test VM).

    gpio_sample.py --lines 1[,2...] --seconds S --out FILE.json
                   [--sysfs DIR] [--interval 0.002] [--ready-file F]

Reads DIR/sim_gpioN/value for every given line N every --interval seconds (default 2 ms; a tick
that comes late is not made up, the next one is scheduled from "now") for S seconds and writes
{"N": [[t, value], ...]} to FILE: the first pair is the value at t = 0 (start of sampling), then
only the transitions, t in seconds since the start (float, monotonic clock). DIR defaults to
$VIGIL_GPIO_SYSFS (exported by guest.sh). --ready-file is written (with
the start time) once the first sample is taken, so a caller can start the stimulus after it.
SIGTERM or SIGINT ends the sampling early (the file is still written, exit 0).
Prints one summary line on stdout:
    gpio_sample: N samples in S s (R Hz, mean I ms, max gap G ms); line 1: T transitions (0->1 x, 1->0 y)

Count toggles in a test, e.g. a 2 Hz blink sampled for 5 s ~ 20 transitions:
    python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["1"]) - 1)' FILE.json
or `gpio_sample.py --count FILE.json LINE` (prints the number of transitions).
"""
import argparse
import json
import os
import signal
import sys
import time


def count(path, line):
    data = json.load(open(path))
    return len(data[str(line)]) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", help="comma-separated line offsets, e.g. 0,1")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--out")
    ap.add_argument("--sysfs", default=os.environ.get("VIGIL_GPIO_SYSFS"))
    ap.add_argument("--interval", type=float, default=0.002)
    ap.add_argument("--ready-file")
    ap.add_argument("--count", nargs=2, metavar=("FILE", "LINE"), help="print the transitions in FILE for LINE")
    a = ap.parse_args()
    if a.count:
        print(count(*a.count))
        return 0
    if not (a.lines and a.seconds and a.out and a.sysfs):
        ap.error("--lines, --seconds, --out and --sysfs (or $VIGIL_GPIO_SYSFS) are required")

    lines = [x.strip() for x in a.lines.split(",") if x.strip()]
    # one fd per line; sysfs re-generates the attribute on every pread at offset 0
    fds = [os.open(os.path.join(a.sysfs, f"sim_gpio{n}", "value"), os.O_RDONLY) for n in lines]
    series = {n: [] for n in lines}
    last = [None] * len(lines)
    mono, pread, sleep = time.monotonic, os.pread, time.sleep
    t0 = mono()
    end = t0 + a.seconds
    nxt = t0
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    samples = 0
    max_gap = 0.0
    prev = None
    while True:
        now = mono()
        if now >= end or stop:
            break
        for i, fd in enumerate(fds):
            v = pread(fd, 8, 0)[:1]
            if v != last[i]:
                last[i] = v
                series[lines[i]].append([round(now - t0, 4), int(v)])
        samples += 1
        if prev is not None and now - prev > max_gap:
            max_gap = now - prev
        prev = now
        if samples == 1 and a.ready_file:
            with open(a.ready_file + ".tmp", "w") as f:
                f.write(f"sampling since monotonic {t0:.3f}\n")
            os.replace(a.ready_file + ".tmp", a.ready_file)
        nxt += a.interval
        delay = nxt - mono()
        if delay > 0:
            sleep(delay)
        else:
            nxt = mono()          # late: do not try to catch up with a burst
    dur = mono() - t0
    for fd in fds:
        os.close(fd)
    with open(a.out + ".tmp", "w") as f:
        json.dump(series, f)
    os.replace(a.out + ".tmp", a.out)
    rate = samples / dur if dur > 0 else 0
    parts = []
    for n in lines:
        s = series[n]
        up = sum(1 for x, y in zip(s, s[1:]) if x[1] == 0 and y[1] == 1)
        down = sum(1 for x, y in zip(s, s[1:]) if x[1] == 1 and y[1] == 0)
        parts.append(f"line {n}: {len(s) - 1} transitions (0->1 {up}, 1->0 {down})")
    print(f"gpio_sample: {samples} samples in {dur:.2f} s ({rate:.0f} Hz, mean "
          f"{1000 * dur / max(samples, 1):.1f} ms, max gap {1000 * max_gap:.1f} ms); " + "; ".join(parts),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
