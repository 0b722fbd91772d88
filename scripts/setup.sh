#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install what is missing, configure,
# build (Release, into build/), then run the main job: scripts/demo.sh (per-layer
# scores and a pruned rerank on SciFact) and the reduced reproduction of the
# paper's experiments (make -f Makefile.bench quick: a few minutes on 2 cores;
# generated weights, clearly labelled, when ../shared is absent).
# GRATING_SKIP_DEPS=1 skips the package step (dependencies installed another way).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${GRATING_SKIP_DEPS:-0}" = 1 ]; then
  echo "GRATING_SKIP_DEPS=1: not checking the Debian packages (scripts/install-deps.sh)" >&2
else
  scripts/install-deps.sh
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
scripts/demo.sh
make -f Makefile.bench quick
