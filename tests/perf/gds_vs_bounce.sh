#!/usr/bin/env bash
# GPUDirect Storage against the bounce path (the pinned staging ring) on the emulated device,
# through the stand-in libcufile.so.0: interleaved rounds, each program on a fresh file after its
# own rm + sync, the GDS/bounce ratio per direction (medians). On the emulation the figure shows
# swapio's overheads on each path only (the stand-in's "DMA" is an O_DIRECT pread into host
# memory, the bounce's copies are the emulation's memcpy): it must stay at 0.9x or above. On a GPU
# node, ci/gpu-check prints the ratio that counts (goal >= 1).
# usage: gds_vs_bounce.sh SWAPIO FOLDER STANDIN [SIZE] [ROUNDS]
set -euo pipefail
swapio=$1 folder=$2 standin=$3 size=${4:-1G} rounds=${5:-5}
export SWAPIO_CUFILE_LIBRARY=$standin SWAPIO_NVIDIA_FS_PROC=/
trap 'rm -f "$folder"/gds-perf-{gds,bounce}.swp.0' EXIT
run() {  # run gds|bounce write|read -> GiB/s
  local path=$1 op=$2 args=(--gpu --device emulated --gds "$([ "$1" = gds ] && echo on || echo off)" --json)
  if [ "$op" = write ]; then
    rm -f "$folder/gds-perf-$path.swp.0"; sync
    args+=(--write-file "$folder/gds-perf-$path.swp" --write-size "$size" --loops 1 --warmup-loops 0)
  else
    args+=(--read-file "$folder/gds-perf-$path.swp.0" --loops 3 --warmup-loops 1)
  fi
  "$swapio" bench "${args[@]}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["phases"][0]["aggregate"]["e2e_gib_per_s"])'
}
declare -A ratios=([write]="" [read]="")
for ((r = 1; r <= rounds; r++)); do
  for op in write read; do
    if (( r % 2 )); then g=$(run gds $op); b=$(run bounce $op); else b=$(run bounce $op); g=$(run gds $op); fi
    ratio=$(/usr/bin/python3 -c "print(f'{$g / $b:.3f}')")
    ratios[$op]+="$ratio "
    printf 'round %d %-5s  gds %6.2f GiB/s  bounce %6.2f GiB/s  ratio %s\n' "$r" "$op" "$g" "$b" "$ratio"
  done
done
status=0
for op in write read; do
  m=$(/usr/bin/python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1].split()):.3f}')" "${ratios[$op]}")
  verdict=$(/usr/bin/python3 -c "print('PASS' if $m >= 0.9 else 'FAIL')")
  echo "$op: GDS/bounce median ratio $m on the emulation (overheads only; floor 0.9): $verdict"
  [ "$verdict" = PASS ] || status=1
done
exit $status
