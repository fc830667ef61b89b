#!/usr/bin/env bash
# swapio step's schedules side by side, I/O-bound (--compute none), several GiB of state per rank,
# on 1 and 2 ranks and 1 and 2 folders: every round of every schedule is printed, and swapio's
# schedule must come within 1.15x of the step's I/O lower bound and run at least 1.3x as fast as
# DeepSpeed's pipelined swapper and 2x as fast as its partitioned one (medians of interleaved rounds).
# usage: step_schedules.sh SWAPIO FOLDER [PARAMS]
set -euo pipefail
swapio=$1 folder=$2 params=${3:-600M}
second="$folder/step-second"
mkdir -p "$second"
trap 'rm -rf "$second"' EXIT
status=0
for ranks in 1 2; do
  for folders in 1 2; do
    args=(--folder "$folder")
    [ "$folders" = 2 ] && args+=(--folder "$second")
    echo "== $ranks rank(s), $folders folder(s): $swapio step --params $params --world-size 2 --ranks $ranks ${args[*]}"
    json=$("$swapio" step --params "$params" --world-size 2 --ranks "$ranks" --sub-group-size 50M --schedule all \
      --rounds 3 --steps 2 --compute none --json "${args[@]}")
    /usr/bin/python3 - "$json" <<'PY' || status=1
import json, sys
doc = json.loads(sys.argv[1])
c = doc["ceilings"]
print(f"ceilings: read {c['read_gib_per_s']:.2f} write {c['write_gib_per_s']:.2f} duplex {c['duplex_gib_per_s']:.2f} GiB/s")
for s in doc["steps"]:
    if not s["warmup"]:
        print(f"  round {s['round'] + 1} {s['schedule']:<12} step {s['number']}: {s['seconds']:.3f} s, "
              f"lower bound {s['lower_bound']:.3f} s, efficiency {100 * s['efficiency']:.0f}%")
sch = doc["schedules"]
for name, v in sch.items():
    print(f"{name:<12} median {v['median_seconds']:.3f} s  {v['gib_per_s']:.2f} GiB/s  efficiency {100 * v['efficiency']:.0f}%")
mine = sch["swapio"]
ok = True
checks = [("within 1.15x of the lower bound", mine["median_seconds"] <= 1.15 * mine["lower_bound"]),
          ("1.3x pipelined", sch["pipelined"]["median_seconds"] >= 1.3 * mine["median_seconds"]),
          ("2x partitioned", sch["partitioned"]["median_seconds"] >= 2.0 * mine["median_seconds"])]
for what, good in checks:
    print(f"  swapio's schedule {what}: {'PASS' if good else 'FAIL'}")
    ok = ok and good
print("speedup:", {k: round(v, 2) for k, v in doc["speedup"].items()})
sys.exit(0 if ok else 1)
PY
  done
done
exit $status
