#!/usr/bin/env bash
# Installs the Debian 12 packages grating needs to build and test, if missing.
# Uses sudo when not root. Idempotent: does nothing when all are present.
set -euo pipefail

packages=(build-essential cmake pkg-config libhdf5-dev hdf5-tools libcjson-dev libopenblas-dev
          libgsl-dev libcmocka-dev libutf8proc-dev gnuplot-nox)
# Optional extras: GRATING_DEPS_EXTRA="python3-torch python3-h5py nodejs npm" for the reference
# scripts under tests/reference (not needed to build or test).
if [ -n "${GRATING_DEPS_EXTRA:-}" ]; then
  read -r -a extra <<< "$GRATING_DEPS_EXTRA"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
