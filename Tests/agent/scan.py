#!/usr/bin/env python3
"""Scans every file under DIR for a frame (JPEG SOI) and for the embedding in EMB.json (`vigil embed
--json` of a face that must not be stored), as float32 and as int8 the way the index quantizes it.
Prints one line per finding (nothing when clean)."""
import json
import os
import struct
import sys

root, emb = sys.argv[1], json.load(open(sys.argv[2]))
first = emb[0] if isinstance(emb, list) else emb
vec = first["faces"][0]["embedding"]
scale = max(abs(v) for v in vec) / 127
needles = {
    "JPEG frame": b"\xff\xd8\xff",
    "float32 embedding": struct.pack("<4f", *vec[:4]),
    "int8 embedding": bytes((round(v / scale) & 0xFF) for v in vec[:12]),
}
if len(sys.argv) > 3 and sys.argv[3] == "--write-control":
    # the control: a file holding each needle, to show the scan can find them
    with open(os.path.join(root, "control.bin"), "wb") as f:
        f.write(b"x" + b"y".join(needles.values()))
for d, _, files in os.walk(root):
    for f in files:
        data = open(os.path.join(d, f), "rb").read()
        for name, n in needles.items():
            if n in data:
                print(f"{name} in {os.path.join(d, f)}")
