#!/usr/bin/python3
"""Host side of the `field` group's serial plumbing check (started by the guest through
`host_run field-serial Tests/vm/field_host.py --ready FILE --count N`).

Waits for the guest's echo responder (serial_echo.py) to signal READY through a file in $OUT, then
over qemu's ttyS1 socket sends `PING i` for i < N and expects `PONG i`, then `QUIT` -> `BYE`.
Result lines: "PASS ping i -> PONG i", "PASS quit -> BYE" (or FAIL with the reason).
"""
import argparse
import sys

from serialhost import Serial, Timeout, args, log, result, wait_file


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ready", default="field-echo.ready", help="file the guest responder creates ($OUT-relative)")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--timeout", type=float, default=30, help="per answer")
    a = args(p)
    try:
        log("responder:", wait_file(a.ready, 120).strip())
    except Timeout as e:
        return 0 if result(False, f"ready: {e}") else 1
    ok = True
    try:
        with Serial(a.sock) as s:
            for i in range(a.count):
                s.send(f"PING {i}\n")
                try:
                    got = s.expect(rf"(PONG|ERR)[^\n]*\n", a.timeout).strip()
                except Timeout as e:
                    ok &= result(False, f"ping {i}: {e}")
                    continue
                ok &= result(got == f"PONG {i}", f"ping {i} -> {got}" + ("" if got == f"PONG {i}" else f": expected PONG {i}"))
            s.send("QUIT\n")
            try:
                got = s.expect(r"BYE[^\n]*\n", a.timeout).strip()
                ok &= result(True, f"quit -> {got}")
            except Timeout as e:
                ok &= result(False, f"quit: {e}")
    except (OSError, EOFError, Timeout) as e:
        ok &= result(False, f"serial: {e!r}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
