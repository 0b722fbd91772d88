#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install what is missing, configure,
# build (Release, into build/), then run the main job (scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
scripts/demo.sh
