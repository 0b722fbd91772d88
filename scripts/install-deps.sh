#!/usr/bin/env bash
# Installs the Debian 12 packages grating needs to build and test, if missing.
# Idempotent: when every package is present it installs nothing and needs no
# privileges. Otherwise it runs apt-get as root, or through sudo when sudo
# works without a password prompt (or can ask for one on a terminal); when
# neither is possible it lists the missing packages, prints the exact apt-get
# command for an administrator and exits 1.
#
#   GRATING_DEPS_EXTRA="python3-torch python3-h5py nodejs npm"  optional extras
#       (the reference scripts under tests/reference; not needed to build or test)
#   GRATING_DEPS_CHECK_ONLY=1  only report what is missing (exit 1 if anything is)
#
# scripts/test.sh and scripts/setup.sh skip this script with GRATING_SKIP_DEPS=1
# (e.g. dependencies installed another way, such as a conda environment).
set -euo pipefail

packages=(build-essential cmake pkg-config libhdf5-dev hdf5-tools libcjson-dev libopenblas-dev
          libgsl-dev libcmocka-dev libutf8proc-dev libdnnl-dev gnuplot-nox)
if [ -n "${GRATING_DEPS_EXTRA:-}" ]; then
  read -r -a extra <<< "$GRATING_DEPS_EXTRA"
  packages+=("${extra[@]}")
fi

if ! command -v dpkg-query > /dev/null 2>&1; then
  echo "install-deps: dpkg-query not found: this script installs Debian 12 packages." >&2
  echo "install-deps: install the equivalents of: ${packages[*]}" >&2
  echo "install-deps: then run scripts/test.sh with GRATING_SKIP_DEPS=1" >&2
  exit 1
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
command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
echo "install-deps: missing Debian packages: ${missing[*]}" >&2
if [ "${GRATING_DEPS_CHECK_ONLY:-0}" = 1 ]; then
  echo "install-deps: to install them, run as root: $command" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  # sudo only when it can work here: no password needed, or a terminal to ask on.
  if command -v sudo > /dev/null 2>&1 && { sudo -n true 2> /dev/null || [ -t 0 ]; }; then
    sudo=(sudo)
  else
    echo "install-deps: not root and sudo is not available (or needs a password with no" >&2
    echo "install-deps: terminal to ask on), so nothing was installed. Ask an administrator" >&2
    echo "install-deps: to run, as root:" >&2
    echo "" >&2
    echo "    $command" >&2
    echo "" >&2
    echo "install-deps: or, with the dependencies installed another way, skip this step:" >&2
    echo "install-deps:     GRATING_SKIP_DEPS=1 scripts/test.sh" >&2
    exit 1
  fi
fi
echo "install-deps: installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
