#!/usr/bin/env bash
# Fetches real test photos that every fresh machine can get: the test images shipped in the
# face_recognition 1.3.0 sdist on PyPI (MIT licence), pinned by SHA-256. They land in
# .cache/photos/ (never committed). Used by tests (real JPEG decoding) and the benchmarks.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
DL=$REPO/.cache/downloads
OUT=$REPO/.cache/photos
NAME=face_recognition-1.3.0.tar.gz
SHA=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec
mkdir -p "$DL" "$OUT"
if ! echo "$SHA  $DL/$NAME" | sha256sum -c --status 2>/dev/null; then
  rm -f "$DL/$NAME"
  "$PY" -m pip download -q --no-deps --no-binary :all: face_recognition==1.3.0 -d "$DL"
  echo "$SHA  $DL/$NAME" | sha256sum -c --status || { echo "fetch-photos: $NAME: SHA-256 mismatch" >&2; exit 1; }
fi
tmp=$(mktemp -d)
tar -xzf "$DL/$NAME" -C "$tmp" --wildcards 'face_recognition-1.3.0/tests/test_images/*.jpg'
cp "$tmp"/face_recognition-1.3.0/tests/test_images/*.jpg "$OUT/"
rm -rf "$tmp"
echo "fetch-photos: $(ls "$OUT" | wc -l) photos in $OUT"
