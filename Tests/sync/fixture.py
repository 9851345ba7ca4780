#!/usr/bin/env python3
"""Test fixtures for Tests/sync/run.sh, standard library + the openssl CLI only.

  fixture.py bundle   --version V --key authority.key --embedder MODEL.onnx [--embedder-id ID]
                      [--entries N] [--expired] [--bad-signature] --out FILE
  fixture.py manifest --bundle FILE --key authority.key --out DIR [--name list-V.vwl]
                      [--version V] [--sha256 HEX] [--bad-signature]

`bundle` writes a synthetic watchlist bundle in format 1 (docs/WATCHLIST-BUNDLE.md), signed with
the authority key (Ed25519 via `openssl pkeyutl`): what `vigil watchlist build` makes, but with any
number of entries and with the defects the device must refuse (expired, altered signature).
`manifest` copies the bundle into DIR and writes DIR/manifest, optionally lying about the version
or hash, or with an altered signature: what a compromised or broken server could serve.
"""
import argparse, hashlib, os, shutil, struct, subprocess, sys, tempfile, time


def read_key(path):
    lines = open(path).read().split("\n")
    assert lines[0] == "vigil-key 1" and lines[2] == "kind ed25519-private", "not an authority private key"
    return bytes.fromhex(lines[3][4:])


def pem(seed):
    import base64
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    return "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PRIVATE KEY-----\n"


def openssl_sign(seed, data):
    with tempfile.TemporaryDirectory() as d:
        k, m, s = (os.path.join(d, n) for n in ("k.pem", "m", "s"))
        fd = os.open(k, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, pem(seed).encode()); os.close(fd)
        open(m, "wb").write(data)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", k, "-rawin", "-in", m, "-out", s], check=True)
        return open(s, "rb").read()


def public_key(seed):
    with tempfile.TemporaryDirectory() as d:
        k = os.path.join(d, "k.pem")
        fd = os.open(k, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, pem(seed).encode()); os.close(fd)
        der = subprocess.run(["openssl", "pkey", "-in", k, "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
        return der[-32:]


def bundle(a):
    seed = read_key(a.key)
    model = open(a.embedder, "rb").read()
    emb_id = a.embedder_id or os.path.basename(a.embedder).removesuffix(".onnx")
    emb_sha = hashlib.sha256(model).digest()
    # The embedding pipeline's identity (Watchlist EmbeddingPipeline): the landmark model beside
    # the embedder, when present, is part of it — id NAME+landmarks, sha256 over both sha256s.
    lm = os.path.join(os.path.dirname(os.path.abspath(a.embedder)), "shape_predictor_5.dat")
    if os.path.exists(lm) and not a.embedder_id:
        emb_id = emb_id.encode()[:22].decode() + "+landmarks"
        emb_sha = hashlib.sha256(emb_sha + hashlib.sha256(open(lm, "rb").read()).digest()).digest()
    now = int(time.time())
    if a.expired:
        issued, expires = now - 10 * 86400, now - 86400
    else:
        issued, expires = now - 60, now + 30 * 86400
    E = R = a.entries
    D = 128
    M = (256 + 128 * E + 63) & ~63
    S = (M + R * D + 3) & ~3
    out = bytearray(S + 4 * R)
    struct.pack_into("<8sHHIQqqq", out, 0, b"VIGILWL\0", 1, 256, 0, a.version, issued, expires, 14 * 86400)
    out[48:48 + len(emb_id)] = emb_id.encode()
    out[80:112] = emb_sha
    struct.pack_into("<B3xfHHIII", out, 112, 1, 0.9, D, 0, E, R, 0)
    struct.pack_into("<QQQ", out, 136, 256, M, S)
    out[160:192] = hashlib.sha256(public_key(seed)).digest()
    for i in range(E):
        o = 256 + 128 * i
        basis = f"case SYNC-{a.version}-{i}".encode()
        ident = struct.pack("<IIII", a.version, i, 0x5EED, 0xAB)
        struct.pack_into("<16sqIHBB", out, o, ident, expires, i, 1, 1, len(basis))
        out[o + 32:o + 32 + len(basis)] = basis
        for d in range(D):
            out[M + i * D + d] = ((i * 31 + d * 13) % 255 - 127) & 0xFF
        struct.pack_into("<f", out, S + 4 * i, 0.0078)
    sig = openssl_sign(seed, bytes(out))
    if a.bad_signature:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    open(a.out, "wb").write(bytes(out) + sig)


def manifest(a):
    seed = read_key(a.key)
    data = open(a.bundle, "rb").read()
    version = a.version if a.version is not None else struct.unpack_from("<Q", data, 16)[0]
    name = a.name or f"list-{version}.vwl"
    sha = a.sha256 or hashlib.sha256(data).hexdigest()
    os.makedirs(a.out, exist_ok=True)
    shutil.copyfile(a.bundle, os.path.join(a.out, name))
    body = f"vigil-watchlist-manifest 1\nversion {version}\nsize {len(data)}\nsha256 {sha}\nbundle {name}\n".encode()
    sig = openssl_sign(seed, body)
    if a.bad_signature:
        sig = sig[:10] + bytes([sig[10] ^ 0x40]) + sig[11:]
    tmp = os.path.join(a.out, "manifest.tmp")
    open(tmp, "wb").write(body + f"signature {sig.hex()}\n".encode())
    os.replace(tmp, os.path.join(a.out, "manifest"))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("--version", type=int, required=True)
    b.add_argument("--key", required=True)
    b.add_argument("--embedder", required=True)
    b.add_argument("--embedder-id")
    b.add_argument("--entries", type=int, default=400)
    b.add_argument("--expired", action="store_true")
    b.add_argument("--bad-signature", action="store_true")
    b.add_argument("--out", required=True)
    m = sub.add_parser("manifest")
    m.add_argument("--bundle", required=True)
    m.add_argument("--key", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--name")
    m.add_argument("--version", type=int)
    m.add_argument("--sha256")
    m.add_argument("--bad-signature", action="store_true")
    a = p.parse_args()
    bundle(a) if a.cmd == "bundle" else manifest(a)


if __name__ == "__main__":
    main()
