#!/usr/bin/env bash
# Builds (Release, build/) and runs the whole test suite with ctest.
# Tests that need ../shared (real models and SciFact) skip with a message
# when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j"$(nproc)"
