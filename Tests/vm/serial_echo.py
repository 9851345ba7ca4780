#!/usr/bin/python3
"""Tiny serial responder for the `field` group (python3 stdlib; runs in the test VM).

    serial_echo.py [--device /dev/ttyS1] [--ready-file F] [--timeout S]

Puts the tty in raw mode, 115200 8N1 (termios), then writes F (atomically) so the host side
knows bytes sent from now on are not lost or echoed. Answers line by line:
    PING <x>  -> PONG <x>
    QUIT      -> BYE <lines answered>, then exits 0
    other     -> ERR <line>
Exits 1 after --timeout seconds without QUIT (default 120). Lines end in "\\n" ("\\r" is ignored).
"""
import argparse
import os
import select
import sys
import termios
import time
import tty


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="/dev/ttyS1")
    ap.add_argument("--ready-file")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    fd = os.open(a.device, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attr = termios.tcgetattr(fd)
    attr[2] = (attr[2] & ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)) \
        | termios.CS8 | termios.CLOCAL | termios.CREAD        # 8N1, no flow control, no modem lines
    attr[4] = attr[5] = termios.B115200
    termios.tcsetattr(fd, termios.TCSANOW, attr)
    termios.tcflush(fd, termios.TCIOFLUSH)
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(f"READY {a.device} raw 115200 8N1 pid {os.getpid()}\n")
        os.replace(a.ready_file + ".tmp", a.ready_file)
    print(f"serial_echo: {a.device} raw 115200 8N1, ready", flush=True)
    buf = b""
    answered = 0
    end = time.monotonic() + a.timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            print("serial_echo: timeout without QUIT", flush=True)
            return 1
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        d = os.read(fd, 256)
        if not d:
            continue
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.replace(b"\r", b"").decode(errors="replace")
            print(f"serial_echo: <- {line!r}", flush=True)
            if line.startswith("PING "):
                reply = "PONG " + line[5:]
            elif line == "QUIT":
                reply = f"BYE {answered}"
            else:
                reply = "ERR " + line
            os.write(fd, (reply + "\n").encode())
            answered += 1
            if line == "QUIT":
                termios.tcdrain(fd)
                return 0


if __name__ == "__main__":
    sys.exit(main())
