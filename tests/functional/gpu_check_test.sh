#!/usr/bin/env bash
# ci/gpu-check on this build: where no GPU is visible it says so with exit status 3 (from the
# build tree and from a bundle, and without BUILD_DIR from the build folder there is); its
# rehearsal on the host emulation runs every step and reports a ratio per direction; bad usage
# (an option without its value, a bad value) is exit status 2 and one line, before any device test.
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

usage() {  # usage NEEDLE -- COMMAND...: exit status 2, one line, and no device test run
  expect 2 "$@"
  [ "$(wc -l <<<"$out")" -eq 1 ] || fail "${*:3} said more than one line: $out"
}
usage "give a whole number" -- "$check" --rounds 0 "$build"
expect 2 "no such build folder" -- "$check" "$work/none"
for opt in --folder --size --rounds --device --floor --bundle; do
  usage "$opt needs a value" -- "$check" "$build" "$opt"
done
usage "--size needs a value" -- "$check" --size --rounds 1 "$build"
# Refused before the device tests, even in a rehearsal that would run them.
usage "--size 0: give a size above 0" -- "$check" --device emulated --size 0 "$build"
usage "--size 1.5G: give a size above 0" -- "$check" --device emulated --size 1.5G "$build"
usage "--device cuda1: give cuda, cuda:N or emulated" -- "$check" --device cuda1 "$build"

# Without BUILD_DIR: build/ci beside the script, else build/default (the Quick start's), named.
mkdir -p "$work/tree/ci" "$work/tree/build"
cp "$check" "$work/tree/ci/gpu-check"
usage "neither build/ci nor build/default exists" -- "$work/tree/ci/gpu-check"
ln -s "$(cd "$build" && pwd)" "$work/tree/build/default"
version=$("$build/swapio" --version)
if ! grep -q '^CUDA: yes' <<<"$version" || grep -q '^GPUs visible: 0' <<<"$version"; then  # else it would check the GPU
  if grep -q '^CUDA: yes' <<<"$version"; then want=(3 "no GPU is visible"); else want=(2 "build with CUDA on"); fi
  expect "${want[@]}" -- "$work/tree/ci/gpu-check"
  grep -q "build folder $work/tree/build/default (no BUILD_DIR given)" <<<"$out" || fail "the build used is not named: $out"
fi
rm -r "$work/tree"
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
for want in "swapio_gpu_rules_test: PASS" "write: GPU/host median ratio" "read: GPU/host median ratio" "== GDS: "; do
  grep -q "$want" <<<"$out" || fail "the rehearsal did not say '$want': $out"
done
# GPUDirect Storage rehearsed through the stand-in libcufile.so.0 (nvidia-fs "loaded").
standin="$build/cufile-standin/libcufile.so.0"
if [ -e "$standin" ]; then
  out=$(SWAPIO_CUFILE_LIBRARY="$standin" SWAPIO_NVIDIA_FS_PROC=/ "$check" --device emulated --size 16M --rounds 1 \
        --folder "$work" "$build" 2>&1); rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 1 ] || fail "the GDS rehearsal exited $rc: $out"
  for want in "== GDS: cuFile 1.15" "write: GDS/bounce median ratio" "read: GDS/bounce median ratio"; do
    grep -q "$want" <<<"$out" || fail "the GDS rehearsal did not say '$want': $out"
  done
fi
[ -z "$(ls "$work" | grep -v bundle)" ] || fail "the rehearsal left files: $(ls "$work")"
echo "PASS"
