"""Plots for `make eval` (PNG under docs/): DET curves by gender on lfw-dev for Vigil and
face_recognition, and per-group false-match curves on utkface-dev before and after per-entry
calibration. Inputs are the score files `vigil evaluate --scores` and
scripts/eval/face_recognition_peer.py --scores write; only aggregate curves are drawn.

Usage: .venv/bin/python scripts/eval/plots.py --lfw-vigil A.csv --lfw-fr B.csv --groups C.csv --out docs/
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_pairs(path):
    out = []
    for r in csv.DictReader(open(path)):
        s = float(r["score"]) if r["score"] else None
        out.append((r["genuine"] == "1", s, r["group"] or None))
    return out


def det(pairs):
    """(fmr, fnmr) over thresholds; a missing score is an error at every threshold."""
    g = np.array([s if s is not None else -np.inf for gen, s, _ in pairs if gen])
    i = np.array([s if s is not None else np.inf for gen, s, _ in pairs if not gen])
    ts = np.unique(np.concatenate([g[np.isfinite(g)], i[np.isfinite(i)]]))
    fmr = np.array([(i >= t).mean() for t in ts])
    fnmr = np.array([(g < t).mean() for t in ts])
    return fmr, fnmr


def lfw_plot(vigil, fr, out):
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    for name, pairs, style in (("Vigil (int8)", vigil, "-"), ("face_recognition (float)", fr, "--")):
        for grp, color in (("female", "tab:red"), ("male", "tab:blue"), (None, "black")):
            p = pairs if grp is None else [x for x in pairs if x[2] == grp]
            if not p:
                continue
            fmr, fnmr = det(p)
            ok = (fmr > 0) & (fnmr > 0)
            ax.loglog(fmr[ok], fnmr[ok], style, color=color, label=f"{name}: {grp or 'all'}")
    ax.set_xlabel("false match rate")
    ax.set_ylabel("false non-match rate")
    ax.set_title("lfw-dev (folds 4-10, official pairs): DET by gender")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "eval-lfw-det.png")


def groups_plot(path, out):
    rows = list(csv.DictReader(open(path)))
    groups = sorted({r["probe_group"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), dpi=100, sharey=True)
    cmap = plt.get_cmap("tab10")
    for k, g in enumerate(groups):
        same = [r for r in rows if r["probe_group"] == g and r["entry_group"] == g]
        s = np.array([float(r["score"]) for r in same])
        d = np.array([float(r["score"]) - float(r["threshold"]) for r in same])
        for ax, v, lo, hi in ((axes[0], s, 0.75, 1.0), (axes[1], d, -0.15, 0.05)):
            ts = np.linspace(lo, hi, 300)
            f = np.array([(v >= t).mean() for t in ts])
            ok = f > 0
            ax.semilogy(ts[ok], f[ok], color=cmap(k % 10), ls="-" if g.endswith("female") else "--", label=g)
    axes[0].set_xlabel("one cosine threshold for every entry")
    axes[1].set_xlabel("score minus the entry's calibrated threshold (0 = the device's decision)")
    axes[0].set_ylabel("false-match rate, impostor pairs within the group")
    axes[0].set_title("utkface-dev, one global cosine")
    axes[1].set_title("utkface-dev, per-entry calibration")
    axes[1].axvline(0, color="black", lw=0.8)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "eval-utk-groups.png")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw-vigil")
    ap.add_argument("--lfw-fr")
    ap.add_argument("--groups")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.lfw_vigil and a.lfw_fr:
        lfw_plot(read_pairs(a.lfw_vigil), read_pairs(a.lfw_fr), a.out)
        print(f"eval: wrote {a.out / 'eval-lfw-det.png'}")
    if a.groups:
        groups_plot(a.groups, a.out)
        print(f"eval: wrote {a.out / 'eval-utk-groups.png'}")


if __name__ == "__main__":
    main()
