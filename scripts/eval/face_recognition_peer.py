"""face_recognition (dlib HOG detector + 5-point alignment + dlib ResNet, float) on the same photos
and pairs as `vigil evaluate`: the side-by-side column of `make eval`.

Usage: .venv/bin/python scripts/eval/face_recognition_peer.py --labels L.csv [--pairs P.txt] [--by COL]
       [--groups COL] [--list-size 500] [--splits 10] [--cache DIR] [--scores OUT.csv]

The protocol is the one Sources/Evaluation implements (Tests/EvaluationTests): the face nearest the
centre; a photo without a face makes its pairs errors (genuine rejected, impostor accepted); accuracy
cross-validated over the pairs file's folds; TAR at FAR 1 % / 0.1 %; error rates at the tool's own
default (distance 0.6). Scores are negated distances so "higher = more alike" as for Vigil's cosine.
Encodings are cached per photo set (keyed by the file list) in --cache: face_recognition's HOG
detector takes ~50 ms a photo.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT = -0.6  # face_recognition's tolerance 0.6, as a negated distance


def encode(path: str):
    import face_recognition
    img = face_recognition.load_image_file(path)
    locs = face_recognition.face_locations(img)  # HOG, upsample 1 (the library's default)
    if not locs:
        return 0, None
    h, w = img.shape[:2]
    # (top, right, bottom, left): the face nearest the centre
    best = min(locs, key=lambda l: ((l[1] + l[3]) / 2 - w / 2) ** 2 + ((l[0] + l[2]) / 2 - h / 2) ** 2)
    enc = face_recognition.face_encodings(img, [best])  # num_jitters=1, model="small" (5 points)
    return len(locs), (enc[0] if enc else None)


def encode_all(paths, cache: Path):
    key = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]
    f = cache / f"face_recognition-{key}.npz"
    if f.exists():
        d = np.load(f, allow_pickle=False)
        found, vecs, ok = d["found"], d["vecs"], d["ok"]
        return list(found), [v if o else None for v, o in zip(vecs, ok)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        res = list(ex.map(encode, paths, chunksize=16))
    found = np.array([r[0] for r in res])
    ok = np.array([r[1] is not None for r in res])
    vecs = np.array([r[1] if r[1] is not None else np.zeros(128) for r in res])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, found=found, vecs=vecs, ok=ok)
    return list(found), [v if o else None for v, o in zip(vecs, ok)]


def rates(pairs, t):
    """pairs: (genuine, score or None). Returns (fmr, fnmr, accuracy); a missing score is an error."""
    g = [s for gen, s in pairs if gen]
    i = [s for gen, s in pairs if not gen]
    fnm = sum(1 for s in g if s is None or s < t)
    fm = sum(1 for s in i if s is None or s >= t)
    n = len(g) + len(i)
    return (fm / len(i) if i else 0, fnm / len(g) if g else 0, (n - fm - fnm) / n if n else 0)


def best_threshold(pairs):
    sc = sorted(((s, gen) for gen, s in pairs if s is not None), key=lambda x: x[0])
    missing = len(pairs) - len(sc)
    if not sc:
        return 1.0, 0.0
    correct = sum(1 for _, gen in sc if gen)
    best = (sc[0][0] - 1e-6, correct)
    i = 0
    while i < len(sc):
        s = sc[i][0]
        while i < len(sc) and sc[i][0] == s:
            correct += -1 if sc[i][1] else 1
            i += 1
        t = (s + sc[i][0]) / 2 if i < len(sc) else s + 1e-6
        if correct >= best[1]:
            best = (t, correct)
    return best[0], best[1] / (len(sc) + missing)


def cross_validated(folds):
    accs = []
    for k in range(len(folds)):
        train = [p for j, f in enumerate(folds) if j != k for p in f]
        t, _ = best_threshold(train)
        accs.append(rates(folds[k], t)[2])
    return float(np.mean(accs)), float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0


def tar_at(pairs, far):
    imp = [s for gen, s in pairs if not gen]
    gen = [s for g, s in pairs if g]
    allowed = int(far * len(imp))
    missing = sum(1 for s in imp if s is None)
    if missing > allowed:
        return 0.0
    sc = sorted((s for s in imp if s is not None), reverse=True)
    budget = allowed - missing
    t = np.nextafter(sc[budget], np.inf) if budget < len(sc) else -np.inf
    return sum(1 for s in gen if s is not None and s >= t) / len(gen)


def lfw_path(name, i):
    return f"images/{name}/{name}_{int(i):04d}.jpg"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", required=True)
    ap.add_argument("--pairs")
    ap.add_argument("--by")
    ap.add_argument("--groups")
    ap.add_argument("--list-size", type=int, default=500)
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--cache", default=str(Path(__file__).resolve().parents[2] / ".cache" / "eval"))
    ap.add_argument("--scores")
    a = ap.parse_args()
    base = Path(a.labels).parent
    rows = list(csv.DictReader(open(a.labels, newline="")))
    images = [r["image"] for r in rows]
    found, vecs = encode_all([str(base / im) for im in images], Path(a.cache))
    idx = {im: i for i, im in enumerate(images)}
    tool = "face_recognition"
    print(f"{tool}: {len(images)} photos, no face found in {sum(1 for f in found if f == 0)}")

    def score(i, j):
        return None if vecs[i] is None or vecs[j] is None else -float(np.linalg.norm(vecs[i] - vecs[j]))

    if a.pairs:
        lines = [l.split() for l in open(a.pairs) if l.strip()]
        nf, n = int(lines[0][0]), int(lines[0][1])
        folds, out = [], []
        for f in range(nf):
            fold = []
            for k in range(2 * n):
                l = lines[1 + f * 2 * n + k]
                if k < n:
                    x, y, gen = lfw_path(l[0], l[1]), lfw_path(l[0], l[2]), True
                else:
                    x, y, gen = lfw_path(l[0], l[1]), lfw_path(l[2], l[3]), False
                i, j = idx[x], idx[y]
                s = score(i, j)
                grp = None
                if a.by and rows[i][a.by] and rows[i][a.by] == rows[j][a.by]:
                    grp = rows[i][a.by]
                fold.append((gen, s))
                out.append((x, y, gen, s, grp))
            folds.append(fold)
        allp = [p for f in folds for p in f]
        m, sd = cross_validated(folds)
        fmr, fnmr, _ = rates(allp, DEFAULT)
        print(f"{tool}: accuracy ({nf}-fold cross-validated) {m:.4f} ± {sd:.4f}")
        print(f"{tool}: TAR at FAR 1 %: {tar_at(allp, 0.01):.4f}; at FAR 0.1 %: {tar_at(allp, 0.001):.4f}")
        print(f"{tool}: at its default distance 0.6: FMR {fmr * 100:.2f} %, FNMR {fnmr * 100:.2f} %")
        if a.by:
            for g in sorted({o[4] for o in out if o[4]}):
                p = [(o[2], o[3]) for o in out if o[4] == g]
                fm, fn, _ = rates(p, DEFAULT)
                print(f"| {tool}: {g} | FMR {fm * 100:.2f} % | FNMR {fn * 100:.2f} % | TAR at FAR 1 % {tar_at(p, 0.01):.4f} |")
        if a.scores:
            with open(a.scores, "w") as fh:
                fh.write("a,b,genuine,score,group\n")
                for x, y, gen, s, grp in out:
                    fh.write(f"{x},{y},{int(gen)},{'' if s is None else s},{grp or ''}\n")

    if a.groups:
        groups = sorted({r[a.groups] for r in rows if r[a.groups]})
        print(f"| {tool}: group | faces found | pair FMR at 0.6 | FPIR at 0.6 ({a.list_size}-entry lists) |")
        print("|---|---|---|---|")
        per = a.list_size // len(groups)
        res = {}
        for g in groups:
            members = [i for i, r in enumerate(rows) if r[a.groups] == g]
            res[g] = dict(found=sum(1 for i in members if found[i] > 0), n=len(members), fp=0, probes=0, pf=0, pairs=0)
        for split in range(a.splits):
            rng = np.random.default_rng(split)
            enrolled, probes = [], []
            for g in groups:
                m = [i for i, r in enumerate(rows) if r[a.groups] == g and vecs[i] is not None]
                rng.shuffle(m)
                enrolled += m[:per]
                probes += m[per:]
            E = np.array([vecs[i] for i in enrolled])
            for p in probes:
                d = np.linalg.norm(E - vecs[p], axis=1)
                g = rows[p][a.groups]
                res[g]["probes"] += 1
                res[g]["fp"] += int((d <= 0.6).any())
                same = np.array([rows[e][a.groups] == g for e in enrolled])
                res[g]["pairs"] += int(same.sum())
                res[g]["pf"] += int((d[same] <= 0.6).sum())
        for g in groups:
            r = res[g]
            print(f"| {g} | {r['found']}/{r['n']} | {r['pf'] / max(1, r['pairs']) * 100:.2f} % | {r['fp'] / max(1, r['probes']) * 100:.2f} % |")
        fp = {g: res[g]["fp"] / max(1, res[g]["probes"]) for g in groups}
        w, b = max(fp, key=fp.get), min(fp, key=fp.get)
        ratio = f"{fp[w] / fp[b]:.1f}x" if fp[b] > 0 else "inf"
        print(f"{tool}: FPIR worst {w} {fp[w] * 100:.2f} %, best {b} {fp[b] * 100:.2f} %: {ratio}")
        fd = sum(r["found"] for r in res.values())
        print(f"{tool}: faces found in {fd} of {sum(r['n'] for r in res.values())} photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
