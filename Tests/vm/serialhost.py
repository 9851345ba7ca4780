"""Helpers for host-side test scripts of the Vigil VM tests (python3 stdlib).

A host script is started by vmrun.py when the guest prints `HOST-RUN <name> <script> [args...]`
(guest.sh: `host_run NAME SCRIPT ARGS...`), as

    python3 $REPO/<script> --sock $OUT/ttyS1.sock [args...]      (cwd $REPO)

with OUT, REPO and HOST_RUN_NAME=<name> in its environment. Its stdout lines "PASS x" / "FAIL x: why"
are counted as "PASS <name>/x" / "FAIL <name>/x: why"; everything else (stdout, stderr) goes to
$OUT/host-<name>.log. Exit status: written to $OUT/host-<name>.rc for the guest (host_wait);
non-zero without a FAIL line, or 0 without any PASS line, counts as a FAIL.

    from serialhost import Serial, args, wait_file, mark, result
    a = args()                                  # parses --sock plus the script's own options
    wait_file("field-echo.ready", 60)           # a file the guest creates in $OUT (relative = $OUT/...)
    with Serial(a.sock) as s:                   # retries until the socket exists and accepts
        s.send(b"PING 0\\n")
        s.expect(rb"PONG 0\\r?\\n", 10)          # -> matched bytes; raises Timeout / EOFError
    mark("host-step-done")                      # creates $OUT/host-step-done for the guest (wait_mark)
    result(True, "ping")                        # prints "PASS ping" (False, "ping: why" -> "FAIL ...")

Serial(...) keeps a transcript ($OUT/serial-<HOST_RUN_NAME>.txt by default): "[t] -> bytes" for
sent data, "[t] <- bytes" for received chunks, t = seconds since the connection.
Only one client can be connected to qemu's ttyS1 socket at a time; qemu accepts a new one after
the previous client disconnected. qemu drops guest output while no client is connected, and bytes
sent before the guest opened /dev/ttyS1 are lost: synchronise with marker files, not with timing.
"""
import argparse
import os
import re
import socket
import sys
import time

OUT = os.environ.get("OUT", ".")
REPO = os.environ.get("REPO", ".")
NAME = os.environ.get("HOST_RUN_NAME", "host")


class Timeout(Exception):
    pass


def args(parser=None, argv=None):
    """Parse --sock (default $OUT/ttyS1.sock) plus whatever options `parser` defines."""
    p = parser or argparse.ArgumentParser()
    p.add_argument("--sock", default=os.path.join(OUT, "ttyS1.sock"))
    return p.parse_args(argv)


def _path(p):
    return p if os.path.isabs(p) else os.path.join(OUT, p)


def wait_file(path, timeout, poll=0.1):
    """Wait until `path` ($OUT-relative unless absolute) exists; return its text. Raises Timeout."""
    p = _path(path)
    end = time.monotonic() + timeout
    while True:
        try:
            with open(p, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            pass
        if time.monotonic() >= end:
            raise Timeout(f"{p} did not appear within {timeout:g}s")
        time.sleep(poll)


def mark(name, text=""):
    """Create $OUT/<name> (atomically) for the guest to wait on (guest.sh: wait_mark NAME TIMEOUT)."""
    p = _path(name)
    with open(p + ".tmp", "w") as f:
        f.write(text)
    os.replace(p + ".tmp", p)


def result(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    return ok


class Steps:
    """Send-and-expect steps that each print one result: `step(name, serial, send, pattern[, t])`
    sends `send` (unless None), waits for `pattern` and prints PASS name, or FAIL name: why; it
    returns the matched text (None on failure). `step.ok` turns False at the first failure."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.ok = True

    def __call__(self, name, s, send, pattern, timeout=None):
        if send is not None:
            s.send(send)
        try:
            got = s.expect(pattern, self.timeout if timeout is None else timeout)
        except (Timeout, EOFError) as e:
            self.ok = False
            result(False, f"{name}: {e}")
            return None
        result(True, name)
        return got


def log(*a):
    """Free text: goes to $OUT/host-<name>.log (anything on stderr or a non-result stdout line)."""
    print(*a, file=sys.stderr, flush=True)


class Serial:
    """Client of qemu's `-chardev socket,server=on` for the guest's /dev/ttyS1."""

    def __init__(self, sock=None, connect_timeout=30, transcript=None):
        self.path = sock or os.path.join(OUT, "ttyS1.sock")
        self.buf = b""
        self.t0 = time.monotonic()
        self.tr = open(transcript or os.path.join(OUT, f"serial-{NAME}.txt"), "a", buffering=1)
        end = time.monotonic() + connect_timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() >= end:
                    raise Timeout(f"cannot connect to {self.path} within {connect_timeout:g}s: {e}")
                time.sleep(0.1)
        self.s = s
        self._log("--", f"connected to {self.path}".encode())

    def _log(self, d, data):
        self.tr.write(f"[{time.monotonic() - self.t0:8.3f}] {d} {data!r}\n")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self._log("->", data)
        self.s.sendall(data)

    def expect(self, regex, timeout):
        """Read until `regex` (bytes or str pattern) matches the unread input; return the matched
        text (bytes; str if the pattern was str) and drop the input up to the end of the match.
        Raises Timeout (the unread input is in the message) or EOFError."""
        text = isinstance(regex, str)
        rx = re.compile(regex.encode() if text else regex)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self._log("==", m.group(0))
                return m.group(0).decode(errors="replace") if text else m.group(0)
            left = end - time.monotonic()
            if left <= 0:
                self._log("!!", b"timeout waiting for " + rx.pattern)
                raise Timeout(f"no match for {rx.pattern!r} within {timeout:g}s; unread: {self.buf[-200:]!r}")
            self.s.settimeout(left)
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                continue
            if not d:
                self._log("!!", b"EOF")
                raise EOFError(f"socket closed while waiting for {rx.pattern!r}; unread: {self.buf[-200:]!r}")
            self._log("<-", d)
            self.buf += d

    def close(self):
        try:
            self.s.close()
        finally:
            self._log("--", b"closed")
            self.tr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
