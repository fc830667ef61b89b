#!/usr/bin/env bash
# ci/gpu-check on this build: where no GPU is visible it says so with exit status 3 (from the
# build tree and from a bundle); its rehearsal on the host emulation runs every step and reports
# a ratio per direction; bad usage is exit status 2.
#   gpu_check_test.sh GPU_CHECK BUILD_DIR
set -uo pipefail
check=$1 build=$2
work=$(mktemp -d "${SWAPIO_TEST_DIR:-$build}/gpu-check-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect STATUS NEEDLE -- COMMAND...
  local want=$1 needle=$2; shift 3
  out=$("$@" 2>&1); rc=$?
  [ $rc -eq "$want" ] || fail "$* exited $rc, not $want: $out"
  grep -q -- "$needle" <<<"$out" || fail "$* did not say '$needle': $out"
}

expect 2 "give a whole number" -- "$check" --rounds 0 "$build"
expect 2 "no such build folder" -- "$check" "$work/none"
version=$("$build/swapio" --version)
if ! grep -q '^CUDA: yes' <<<"$version"; then
  expect 2 "build with CUDA on" -- "$check" "$build"
  echo "PASS (a build without CUDA is refused)"
  exit 0
fi
if grep -q '^GPUs visible: 0' <<<"$version"; then
  expect 3 "no GPU is visible" -- "$check" "$build"
  expect 0 "on the GPU node run" -- "$check" --bundle "$work/bundle" "$build"
  [ -x "$work/bundle/bin/swapio" ] && [ -e "$work/bundle/lib/liburing.so.2" ] || fail "the bundle lacks swapio or liburing"
  expect 3 "no GPU is visible" -- env -u LD_LIBRARY_PATH "$work/bundle/gpu-check"
fi
out=$("$check" --device emulated --size 16M --rounds 1 --folder "$work" "$build" 2>&1); rc=$?
[ $rc -eq 0 ] || [ $rc -eq 1 ] || fail "the rehearsal exited $rc: $out"
for want in "swapio_gpu_rules_test: PASS" "write: GPU/host median ratio" "read: GPU/host median ratio"; do
  grep -q "$want" <<<"$out" || fail "the rehearsal did not say '$want': $out"
done
[ -z "$(ls "$work" | grep -v bundle)" ] || fail "the rehearsal left files: $(ls "$work")"
echo "PASS"
