#!/usr/bin/python3
"""Feed reference JPEG frames into a v4l2loopback device as an MJPEG stream (python3 stdlib only).

Opens DEVICE write-only, sets the output format (V4L2_BUF_TYPE_VIDEO_OUTPUT, MJPG, WxH) with
VIDIOC_S_FMT, then write()s the frames (frame-*.jpg in --frames, sorted by name) cyclically at --fps,
one write() per frame, until SIGTERM/SIGINT or --seconds.

Readiness: the capture side of v4l2loopback 0.12.7 only exposes a format (ENUM_FMT, G_FMT,
ENUM_FRAMESIZES, STREAMON) after the first frame has been written, not after S_FMT. So the
writer writes one frame first, then writes "READY <fourcc> <w>x<h> sizeimage=<n>" to --ready-file
(and stdout). A reader must be started only after that.

Usage: loopback_writer.py --device /dev/video10 --frames DIR [--size 640x480] [--fps 15]
                          [--seconds N] [--ready-file PATH] [--hold-after-sfmt S --sfmt-file PATH]
--size defaults to the contents of DIR/size.
"""
import argparse
import ctypes
import fcntl
import glob
import os
import signal
import sys
import time

V4L2_BUF_TYPE_VIDEO_OUTPUT = 2
V4L2_FIELD_NONE = 1
V4L2_COLORSPACE_JPEG = 7


def fourcc(s):
    return ord(s[0]) | ord(s[1]) << 8 | ord(s[2]) << 16 | ord(s[3]) << 24


def fourcc_str(v):
    return "".join(chr((v >> (8 * i)) & 0xFF) for i in range(4))


class v4l2_pix_format(ctypes.Structure):
    _fields_ = [("width", ctypes.c_uint32), ("height", ctypes.c_uint32),
                ("pixelformat", ctypes.c_uint32), ("field", ctypes.c_uint32),
                ("bytesperline", ctypes.c_uint32), ("sizeimage", ctypes.c_uint32),
                ("colorspace", ctypes.c_uint32), ("priv", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("ycbcr_enc", ctypes.c_uint32),
                ("quantization", ctypes.c_uint32), ("xfer_func", ctypes.c_uint32)]


class _fmt_union(ctypes.Union):
    # raw_data[200]; the kernel union also holds struct v4l2_window (pointers), hence 8-byte alignment
    _fields_ = [("pix", v4l2_pix_format), ("raw_data", ctypes.c_uint8 * 200),
                ("_align", ctypes.c_uint64)]


class v4l2_format(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("fmt", _fmt_union)]


assert ctypes.sizeof(v4l2_format) == 208, ctypes.sizeof(v4l2_format)  # x86_64/aarch64 layout


def _IOWR(typ, nr, size):
    return (3 << 30) | (size << 16) | (ord(typ) << 8) | nr


VIDIOC_G_FMT = _IOWR("V", 4, ctypes.sizeof(v4l2_format))
VIDIOC_S_FMT = _IOWR("V", 5, ctypes.sizeof(v4l2_format))
assert VIDIOC_S_FMT == 0xC0D05605


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="/dev/video10")
    ap.add_argument("--frames", required=True, help="directory with frame-*.jpg (and size)")
    ap.add_argument("--size", help="WxH (default: contents of FRAMES/size)")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until killed)")
    ap.add_argument("--ready-file")
    ap.add_argument("--hold-after-sfmt", type=float, default=0, metavar="S",
                    help="probe aid: after S_FMT, touch --sfmt-file and wait S seconds before writing")
    ap.add_argument("--sfmt-file")
    a = ap.parse_args()

    paths = sorted(glob.glob(os.path.join(a.frames, "frame-*.jpg"))) or \
        sorted(glob.glob(os.path.join(a.frames, "*.jpg")))
    if not paths:
        sys.exit(f"loopback_writer: no *.jpg in {a.frames}")
    frames = [open(p, "rb").read() for p in paths]
    size = a.size or open(os.path.join(a.frames, "size")).read().strip()
    w, h = (int(x) for x in size.lower().split("x"))
    biggest = max(len(f) for f in frames)

    fd = os.open(a.device, os.O_WRONLY)
    f = v4l2_format()
    f.type = V4L2_BUF_TYPE_VIDEO_OUTPUT
    p = f.fmt.pix
    p.width, p.height, p.pixelformat = w, h, fourcc("MJPG")
    p.field, p.bytesperline, p.colorspace = V4L2_FIELD_NONE, 0, V4L2_COLORSPACE_JPEG
    p.sizeimage = (biggest + 4095) // 4096 * 4096   # a request; v4l2loopback 0.12.7 overrides it
    fcntl.ioctl(fd, VIDIOC_S_FMT, f)
    got = f.fmt.pix
    desc = f"{fourcc_str(got.pixelformat)} {got.width}x{got.height} sizeimage={got.sizeimage}"
    print(f"loopback_writer: S_FMT -> {desc}; {len(frames)} frames, {min(map(len, frames))}.."
          f"{biggest} bytes", flush=True)
    if (got.pixelformat, got.width, got.height) != (fourcc("MJPG"), w, h):
        sys.exit(f"loopback_writer: driver changed the format to {desc}")
    if got.sizeimage < biggest:
        sys.exit(f"loopback_writer: sizeimage {got.sizeimage} < biggest frame {biggest}: frames would be cut")

    if a.hold_after_sfmt:
        if a.sfmt_file:
            open(a.sfmt_file, "w").write(f"SFMT {desc}\n")
        time.sleep(a.hold_after_sfmt)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    period = 1.0 / a.fps
    t0 = next_t = time.monotonic()
    n = short = 0
    while not stop:
        data = frames[n % len(frames)]
        try:
            k = os.write(fd, data)
        except InterruptedError:
            continue
        if k != len(data):
            short += 1
            print(f"loopback_writer: short write {k} of {len(data)} bytes (frame {n})", flush=True)
        n += 1
        if n == 1:
            line = f"READY {desc}"
            print(line, flush=True)
            if a.ready_file:
                with open(a.ready_file + ".tmp", "w") as rf:
                    rf.write(line + "\n")
                os.rename(a.ready_file + ".tmp", a.ready_file)
        if a.seconds and time.monotonic() - t0 >= a.seconds:
            break
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)          # on SIGTERM the handler runs and the loop ends after this
        else:
            next_t = time.monotonic()  # fell behind (slow TCG): don't burst to catch up
    os.close(fd)
    dt = time.monotonic() - t0
    print(f"loopback_writer: wrote {n} frames in {dt:.1f}s ({n / dt if dt else 0:.1f} fps), "
          f"{short} short writes", flush=True)
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
