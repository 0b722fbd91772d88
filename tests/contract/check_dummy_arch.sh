#!/usr/bin/env bash
# Checks issue 11's promise "adding an architecture is one file + one registry
# line": copies this source tree (its `git ls-files`, as in the working tree)
# to a temporary folder, adds tests/contract/dummy_arch.c.in as
# core/model/dummy/dummy.c and ONE line to core/model/arch_registry.c, builds
# test_arch_contract there and runs it. Passes when it builds, the test
# passes and the dummy family was among the families it tested.
#
#   bash tests/contract/check_dummy_arch.sh
#
# Environment:
#   GRATING_SHARED          shared data folder (default: ../shared next to the tree)
#   GRATING_CONTRACT_EXTRA  space-separated extra files (paths relative to the
#                           tree) to copy although git does not track them,
#                           e.g. a local stub while a module is being ported
#   GRATING_CONTRACT_KEEP=1 keep the temporary copy (its path is printed)
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
shared=${GRATING_SHARED:-$src/../shared}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grating-dummy-arch.XXXXXX")
if [[ ${GRATING_CONTRACT_KEEP:-0} == 1 ]]; then
    echo "check_dummy_arch: keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
start=$(date +%s)

# The tree as git knows it (working-tree contents), plus any declared extras.
# Not a git checkout (e.g. a release tarball): nothing to list; ctest's skip code.
if ! (cd "$src" && git ls-files --error-unmatch CMakeLists.txt >/dev/null 2>&1); then
    echo "check_dummy_arch: SKIP: $src is not a git checkout"
    exit 77
fi
(cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$tmp/"
for f in ${GRATING_CONTRACT_EXTRA:-}; do
    mkdir -p "$tmp/$(dirname "$f")"
    cp "$src/$f" "$tmp/$f"
done

# One file ...
mkdir -p "$tmp/core/model/dummy"
cp "$src/tests/contract/dummy_arch.c.in" "$tmp/core/model/dummy/dummy.c"
# ... and one line, after the registry's last ARCH_FAMILY(x) line.
reg="$tmp/core/model/arch_registry.c"
last=$(grep -n '^[[:space:]]*ARCH_FAMILY([a-z0-9_]*)' "$reg" | tail -1 | cut -d: -f1)
[[ -n $last ]] || { echo "check_dummy_arch: no ARCH_FAMILY(x) line in arch_registry.c" >&2; exit 1; }
sed -i "${last}a\\    ARCH_FAMILY(dummy) /* tests/contract/dummy_arch.c.in */ \\\\" "$reg"
added=$(diff "$src/core/model/arch_registry.c" "$reg" | grep -c '^>' || true)
removed=$(diff "$src/core/model/arch_registry.c" "$reg" | grep -c '^<' || true)
if [[ $added != 1 || $removed != 0 ]]; then
    echo "check_dummy_arch: the registry change is not one added line (+$added -$removed)" >&2
    exit 1
fi
echo "check_dummy_arch: added core/model/dummy/dummy.c and one line to arch_registry.c:"
diff "$src/core/model/arch_registry.c" "$reg" || true

# Build the contract test only (the library, the CLI it depends on, the test).
cmake -S "$tmp" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DGRATING_SHARED_DIR="$shared" \
    >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
if ! cmake --build "$tmp/build" -j2 --target test_arch_contract >"$tmp/build.log" 2>&1; then
    grep -E 'error|Error' "$tmp/build.log" | head -40
    echo "check_dummy_arch: FAIL: the copy with the dummy family does not build" >&2
    exit 1
fi

out="$tmp/test.log"
status=0
(cd "$tmp/build/tests" && OPENBLAS_NUM_THREADS=1 ./test_arch_contract) >"$out" 2>&1 || status=$?
grep -E '^contract: (registered family|family [a-z0-9_]+: (ok|SKIP))|families tested|^\[  (PASSED|FAILED)' "$out" || true
if [[ $status != 0 ]]; then
    cat "$out"
    echo "check_dummy_arch: FAIL: test_arch_contract exited with $status" >&2
    exit 1
fi
if ! grep -q '^contract: family dummy: ok' "$out"; then
    echo "check_dummy_arch: FAIL: the dummy family was not tested" >&2
    exit 1
fi
echo "check_dummy_arch: PASS: the dummy family built and passed the contract test" \
    "($(($(date +%s) - start)) s)"
