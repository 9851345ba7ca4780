#!/usr/bin/python3
"""Probe how v4l2loopback presents an MJPEG stream on its capture side (python3 stdlib only).

Used by guest.sh's optional "probe" group (run.sh --only probe); findings are in README.md.
  probe_loopback.py make-ref DIR WxH     write fake JPEG-framed blobs (FFD8 .. FFD9) of distinct sizes
  probe_loopback.py query DEVICE         QUERYCAP, capture-side ENUM_FMT / G_FMT / ENUM_FRAMESIZES /
                                         REQBUFS / STREAMON, printed
  probe_loopback.py capture DEVICE REF N [WRITER_PID]
                                         mmap-stream N frames; per buffer: bytesused, length, whether
                                         the payload equals a reference frame, what follows the EOI;
                                         then (with WRITER_PID) SIGTERM the writer and see what a
                                         streaming reader gets; then 3 read() calls
"""
import ctypes
import errno
import fcntl
import glob
import mmap
import os
import select
import signal
import time
import sys

C = ctypes
u32 = C.c_uint32


def _IOC(d, nr, size):
    return (d << 30) | (size << 16) | (ord("V") << 8) | nr


class Cap(C.Structure):
    _fields_ = [("driver", C.c_char * 16), ("card", C.c_char * 32), ("bus_info", C.c_char * 32),
                ("version", u32), ("capabilities", u32), ("device_caps", u32), ("reserved", u32 * 3)]


class FmtDesc(C.Structure):
    _fields_ = [("index", u32), ("type", u32), ("flags", u32), ("description", C.c_char * 32),
                ("pixelformat", u32), ("mbus_code", u32), ("reserved", u32 * 3)]


class Pix(C.Structure):
    _fields_ = [(n, u32) for n in ("width", "height", "pixelformat", "field", "bytesperline",
                                   "sizeimage", "colorspace", "priv", "flags", "ycbcr_enc",
                                   "quantization", "xfer_func")]


class FmtU(C.Union):
    _fields_ = [("pix", Pix), ("raw", C.c_uint8 * 200), ("_align", C.c_uint64)]


class Format(C.Structure):
    _fields_ = [("type", u32), ("fmt", FmtU)]


class FrmSize(C.Structure):
    _fields_ = [("index", u32), ("pixel_format", u32), ("type", u32), ("u", u32 * 6),
                ("reserved", u32 * 2)]


class ReqBufs(C.Structure):
    _fields_ = [("count", u32), ("type", u32), ("memory", u32), ("capabilities", u32),
                ("flags", C.c_uint8), ("reserved", C.c_uint8 * 3)]


class Timeval(C.Structure):
    _fields_ = [("sec", C.c_long), ("usec", C.c_long)]


class Buffer(C.Structure):
    _fields_ = [("index", u32), ("type", u32), ("bytesused", u32), ("flags", u32), ("field", u32),
                ("timestamp", Timeval), ("timecode", C.c_uint8 * 16), ("sequence", u32),
                ("memory", u32), ("offset", C.c_uint64), ("length", u32), ("reserved2", u32),
                ("request_fd", u32)]


assert (C.sizeof(Cap), C.sizeof(FmtDesc), C.sizeof(Format), C.sizeof(FrmSize), C.sizeof(ReqBufs),
        C.sizeof(Buffer)) == (104, 64, 208, 44, 20, 88)
QUERYCAP, ENUM_FMT, G_FMT = _IOC(2, 0, 104), _IOC(3, 2, 64), _IOC(3, 4, 208)
REQBUFS, QUERYBUF, QBUF, DQBUF = _IOC(3, 8, 20), _IOC(3, 9, 88), _IOC(3, 15, 88), _IOC(3, 17, 88)
STREAMON, STREAMOFF, ENUM_FRAMESIZES = _IOC(1, 18, 4), _IOC(1, 19, 4), _IOC(3, 74, 44)
CAPTURE, MMAP = 1, 1


def fcc(v):
    return "".join(chr((v >> (8 * i)) & 0xFF) for i in range(4))


def ioctl(fd, req, arg):
    try:
        fcntl.ioctl(fd, req, arg)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def make_ref(d, size):
    os.makedirs(d, exist_ok=True)
    for i in range(6):
        n = 20000 + 7001 * i                     # distinct sizes, all well below w*h
        body = bytes((i * 37 + k) % 251 for k in range(n - 4)).replace(b"\xff", b"\x00")
        open(os.path.join(d, f"frame-{i:03d}.jpg"), "wb").write(b"\xff\xd8" + body + b"\xff\xd9")
    open(os.path.join(d, "size"), "w").write(size + "\n")


def query(dev):
    fd = os.open(dev, os.O_RDWR | os.O_NONBLOCK)
    c = Cap()
    print(f"QUERYCAP {ioctl(fd, QUERYCAP, c)}: driver={c.driver.decode()} card={c.card.decode()} "
          f"caps=0x{c.capabilities:08x} device_caps=0x{c.device_caps:08x}")
    d = FmtDesc(index=0, type=CAPTURE)
    r = ioctl(fd, ENUM_FMT, d)
    print(f"capture ENUM_FMT[0] {r}" + (f": {fcc(d.pixelformat)} '{d.description.decode()}' "
                                        f"flags=0x{d.flags:x}" if r == "ok" else ""))
    f = Format(type=CAPTURE)
    r = ioctl(fd, G_FMT, f)
    p = f.fmt.pix
    print(f"capture G_FMT {r}" + (f": {fcc(p.pixelformat)} {p.width}x{p.height} bytesperline="
                                  f"{p.bytesperline} sizeimage={p.sizeimage} colorspace={p.colorspace}"
                                  if r == "ok" else ""))
    fs = FrmSize(index=0, pixel_format=p.pixelformat if r == "ok" else 0x47504A4D)
    r = ioctl(fd, ENUM_FRAMESIZES, fs)
    kind = {1: "discrete", 2: "continuous", 3: "stepwise"}.get(fs.type, fs.type)
    print(f"ENUM_FRAMESIZES[0] {fcc(fs.pixel_format)} {r}" + (f": {kind} {list(fs.u)}" if r == "ok" else ""))
    rb = ReqBufs(count=4, type=CAPTURE, memory=MMAP)
    print(f"capture REQBUFS(4) {ioctl(fd, REQBUFS, rb)}: count={rb.count}")
    print(f"capture STREAMON {ioctl(fd, STREAMON, C.c_int(CAPTURE))}")
    ioctl(fd, STREAMOFF, C.c_int(CAPTURE))
    os.close(fd)


def capture(dev, refdir, n, writer_pid=0):
    refs = {open(p, "rb").read(): os.path.basename(p) for p in sorted(glob.glob(refdir + "/frame-*.jpg"))}
    fd = os.open(dev, os.O_RDWR)
    f = Format(type=CAPTURE)
    print(f"G_FMT {ioctl(fd, G_FMT, f)}: {fcc(f.fmt.pix.pixelformat)} {f.fmt.pix.width}x"
          f"{f.fmt.pix.height} sizeimage={f.fmt.pix.sizeimage}")
    rb = ReqBufs(count=4, type=CAPTURE, memory=MMAP)
    print(f"REQBUFS(4) {ioctl(fd, REQBUFS, rb)} -> count={rb.count}")
    maps = []
    for i in range(rb.count):
        b = Buffer(index=i, type=CAPTURE, memory=MMAP)
        r = ioctl(fd, QUERYBUF, b)
        print(f"QUERYBUF[{i}] {r}: offset={b.offset} length={b.length} bytesused={b.bytesused}")
        maps.append(mmap.mmap(fd, b.length, mmap.MAP_SHARED, mmap.PROT_READ, offset=b.offset))
        print(f"QBUF[{i}] {ioctl(fd, QBUF, b)}")
    print(f"STREAMON {ioctl(fd, STREAMON, C.c_int(CAPTURE))}")
    stats = {"exact": 0, "padded": 0, "other": 0}
    for k in range(n):
        select.select([fd], [], [], 5)
        b = Buffer(type=CAPTURE, memory=MMAP)
        r = ioctl(fd, DQBUF, b)
        if r != "ok":
            print(f"DQBUF {r}")
            break
        data = maps[b.index][:b.bytesused]
        eoi = data.find(b"\xff\xd9")
        tail = data[eoi + 2:] if eoi >= 0 else b""
        match = refs.get(data) or refs.get(data[:eoi + 2])
        kind = "exact" if data in refs else ("padded" if match else "other")
        stats[kind] += 1
        print(f"DQBUF #{k}: index={b.index} seq={b.sequence} bytesused={b.bytesused} length={b.length} "
              f"flags=0x{b.flags:x} ts={b.timestamp.sec}.{b.timestamp.usec:06d} SOI={data[:2].hex()} "
              f"EOI@{eoi} after-EOI={len(tail)} bytes ({'all zero' if not tail.strip(bytes(1)) else 'non-zero'})"
              f" -> {kind}{' ' + match if match else ''}")
        ioctl(fd, QBUF, b)
    print(f"mmap summary: {stats}")
    if writer_pid:
        os.kill(writer_pid, signal.SIGTERM)
        time.sleep(1)
        t = time.monotonic()
        r, _, _ = select.select([fd], [], [], 3)
        print(f"writer SIGTERMed; select() for the next frame: {'readable' if r else 'timed out'} after "
              f"{time.monotonic() - t:.1f}s")
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        b = Buffer(type=CAPTURE, memory=MMAP)
        r = ioctl(fd, DQBUF, b)
        print(f"non-blocking DQBUF with no writer: {r}" + (f" index={b.index} seq={b.sequence} "
                                                          f"bytesused={b.bytesused}" if r == "ok" else ""))
        f = Format(type=CAPTURE)
        print(f"G_FMT with no writer (reader still open): {ioctl(fd, G_FMT, f)} "
              f"{fcc(f.fmt.pix.pixelformat)} {f.fmt.pix.width}x{f.fmt.pix.height}")
        fcntl.fcntl(fd, fcntl.F_SETFL, fl)
    ioctl(fd, STREAMOFF, C.c_int(CAPTURE))
    for m in maps:
        m.close()
    os.close(fd)
    if writer_pid:
        return
    fd = os.open(dev, os.O_RDONLY)
    for k in range(3):
        data = os.read(fd, 4 << 20)
        print(f"read() #{k}: {len(data)} bytes, exact reference: {refs.get(data, 'no')}")
    os.close(fd)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make-ref":
        make_ref(sys.argv[2], sys.argv[3])
    elif cmd == "query":
        query(sys.argv[2])
    elif cmd == "capture":
        capture(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    else:
        sys.exit(__doc__)
