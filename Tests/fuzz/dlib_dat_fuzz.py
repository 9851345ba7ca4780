#!/usr/bin/env python3
"""Fuzzes the dlib .dat reader used by the model build (scripts/models/dlib_dat.py: read_dat).

With atheris installed (pip install atheris): a coverage-guided libFuzzer run; arguments are
libFuzzer's (corpus dirs, -max_total_time=N, files to replay, ...). Without atheris: a small
coverage-free mutation fuzzer (bit flips, byte sets, truncations, insertions, integer-header and
length tweaks) over the seeds, with the same command line and the same final stats lines.

A crash is any exception other than the reader's own errors (ValueError, which includes
UnicodeDecodeError, and AssertionError, which it uses for layout checks), or a hang (> -timeout s).

  dlib_dat_fuzz.py --make-seed DIR   writes DIR/tiny.dat: a structurally valid .dat with the real
                                     architecture and empty tensors (made here, not dlib's file)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "models"))

EXPECTED = (ValueError, AssertionError)

try:
    import atheris  # type: ignore
    with atheris.instrument_imports(include=["dlib_dat"]):
        import dlib_dat
except ImportError:
    atheris = None
    import dlib_dat


def test_one_input(data: bytes) -> None:
    try:
        dlib_dat.read_dat(data)
    except EXPECTED:
        pass


# ---- a writer for the format (the inverse of DatReader), for the seed --------------------------
def w_int(v: int) -> bytes:
    mag = abs(v)
    body = mag.to_bytes((mag.bit_length() + 7) // 8, "little") if mag else b""
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def w_real(x: float) -> bytes:
    # value = m * 2**e with an integer mantissa
    m, e = float(x).as_integer_ratio()
    exp = 0
    while e > 1:
        e //= 2
        exp -= 1
    return w_int(m) + w_int(exp)


def w_str(s: str) -> bytes:
    return w_int(len(s)) + s.encode("ascii")


def w_tensor(shape=(0, 0, 0, 0), values=()) -> bytes:
    import struct
    return w_int(2) + b"".join(w_int(d) for d in shape) + b"".join(struct.pack("<f", v) for v in values)


def w_alias(shape) -> bytes:
    return w_int(1) + b"".join(w_int(d) for d in shape)


def make_seed() -> bytes:
    arch = dlib_dat.ARCH
    out = w_int(1) + w_str("loss_metric_") + w_real(0.04) + w_real(0.6)
    # wrapper versions, outer -> inner: computational 2, tag/skip 1, innermost (the first conv) 3
    for i in range(len(arch) - 1, -1, -1):
        out += w_int(3 if i == 0 else (1 if arch[i][0] in ("tag1", "tag2", "skip1") else 2))
    out += w_str("input_rgb_image_sized") + w_real(122.5) + w_real(117.0) + w_real(104.0) + w_int(150) + w_int(150)
    first = True
    counts = {}
    for spec in arch:
        kind = spec[0]
        if kind in ("tag1", "tag2", "skip1"):
            continue
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "con":
            n, k, s = spec[1], spec[2], spec[3]
            out += w_str("con_4") + w_tensor((1, 1, 1, 2), (0.5, -0.25))
            out += b"".join(w_int(v) for v in (n, k, k, s, s, k // 2, k // 2))
            out += w_alias((1, 1, 1, 1)) + w_alias((1, 1, 1, 1)) + w_real(1) + w_real(1) + w_real(0) + w_real(0)
        elif kind == "affine":
            out += w_str("affine_con") + w_tensor((1, 1, 1, 2), (1.0, 0.0)) + w_alias((1, 1, 1, 1)) + w_alias((1, 1, 1, 1)) + w_int(0)
        elif kind == "relu":
            out += w_str("relu_")
        elif kind == "max_pool":
            out += w_str("max_pool") + b"".join(w_int(v) for v in (spec[1], spec[1], spec[2], spec[2]))
        elif kind == "avg_pool":
            out += w_str("avg_pool_2") + b"".join(w_int(v) for v in (spec[1], spec[1], spec[2], spec[2], 0, 0))
        elif kind == "avg_pool_everything":
            out += w_str("avg_pool") + b"".join(w_int(v) for v in (0, 0, 1, 1))
        elif kind == "add_prev":
            out += w_str("add_prev1")
        elif kind == "fc":
            out += w_str("fc_no_bias") + w_int(128) + w_int(0) + w_tensor() + w_alias((0, 0, 0, 0)) + w_alias((0, 0, 0, 0))
            out += w_int(1) + w_real(1) + w_real(1) + w_real(0) + w_real(0)
        out += b"000" + w_tensor() + w_tensor() + w_tensor()
        if first:
            out += w_int(1)
            first = False
    net = dlib_dat.read_dat(out)  # must be what the reader accepts
    assert net["consumed"] == len(out)
    return out


# ---- the fallback fuzzer --------------------------------------------------------------------------
def fallback_main(argv) -> int:
    import hashlib
    import random
    import signal
    import time
    opts, paths = {}, []
    for a in argv[1:]:
        if a.startswith("-") and "=" in a:
            k, v = a[1:].split("=", 1)
            opts[k] = v
        else:
            paths.append(a)
    timeout = int(opts.get("timeout", "2"))
    prefix = opts.get("artifact_prefix", "./")
    files = [p for p in paths if os.path.isfile(p)]
    dirs = [p for p in paths if os.path.isdir(p)]

    class Hang(Exception):
        pass

    def on_alarm(*_):
        raise Hang()
    signal.signal(signal.SIGALRM, on_alarm)

    def run(data: bytes):
        signal.alarm(timeout)
        try:
            test_one_input(data)
            return None
        except Hang:
            return f"timeout (> {timeout} s)"
        except BaseException as e:  # noqa: BLE001 -- anything else is a crash
            return f"{type(e).__name__}: {e}"
        finally:
            signal.alarm(0)

    def crash(data: bytes, why: str) -> int:
        kind = "timeout" if why.startswith("timeout") else "crash"
        path = prefix + f"{kind}-" + hashlib.sha1(data).hexdigest()
        with open(path, "wb") as f:
            f.write(data)
        print(f"==ERROR: dlib-dat: {why}\nartifact_prefix='{prefix}'; Test unit written to {path}", flush=True)
        return 1

    if files:  # replay mode, like libFuzzer with file arguments
        for p in files:
            with open(p, "rb") as f:
                data = f.read()
            why = run(data)
            if why:
                return crash(data, why)
            print(f"Executed {p}", flush=True)
        return 0
    corpus = []
    for d in dirs:
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                corpus.append(f.read())
    if not corpus:
        corpus = [make_seed()]
    rng = random.Random(int(opts.get("seed", "1")))
    total = float(opts.get("max_total_time", "30"))
    start, execs = time.time(), 0

    def mutate(b: bytearray) -> bytearray:
        for _ in range(rng.randint(1, 4)):
            if not b:
                b = bytearray(rng.randbytes(rng.randint(1, 8)))
            op = rng.randrange(7)
            i = rng.randrange(len(b))
            if op == 0:
                b[i] ^= 1 << rng.randrange(8)
            elif op == 1:
                b[i] = rng.choice([0, 1, 2, 3, 0x7F, 0x80, 0x81, 0x88, 0x89, 0x8F, 0xFF, 0x30, 0x31, rng.randrange(256)])
            elif op == 2:
                del b[rng.randrange(len(b) + 1):]
            elif op == 3:
                b[i:i] = rng.randbytes(rng.randint(1, 16))
            elif op == 4:
                del b[i:i + rng.randint(1, 32)]
            elif op == 5:  # an integer header: claim more or fewer bytes, or flip the sign bit
                b[i] = (b[i] & 0x80) | rng.randrange(16) if rng.random() < 0.5 else b[i] ^ 0x80
            else:  # splice another corpus entry
                o = rng.choice(corpus)
                j = rng.randrange(len(o) + 1)
                b[i:] = o[j:]
        return b

    while time.time() - start < total:
        data = bytes(mutate(bytearray(rng.choice(corpus))))
        execs += 1
        why = run(data)
        if why:
            return crash(data, why)
    elapsed = max(time.time() - start, 1e-9)
    print(f"stat::number_of_executed_units: {execs}")
    print(f"stat::average_exec_per_sec:     {int(execs / elapsed)}")
    print(f"stat::new_units_added:          0")
    print(f"Done {execs} runs in {int(elapsed)} second(s) (coverage-free fallback fuzzer)", flush=True)
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--make-seed":
        os.makedirs(sys.argv[2], exist_ok=True)
        with open(os.path.join(sys.argv[2], "tiny.dat"), "wb") as f:
            f.write(make_seed())
        return 0
    if atheris is None or os.environ.get("VIGIL_FUZZ_NO_ATHERIS"):
        return fallback_main(sys.argv)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
