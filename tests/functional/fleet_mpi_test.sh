#!/usr/bin/env bash
# swapio qualify --fleet under mpirun, on this machine: ranks stand in for nodes through
# SWAPIO_FLEET_HOST and distinct folders (one mpirun app context each).
#  1. three nodes, one of them on a loop device throttled by the block cgroup (as root), and a
#     fourth rank on node-a's name: the report names the throttled node as the outlier, the others
#     pass, the fourth rank idles;
#  2. a rank given a folder that does not exist, or a profile of other settings: the whole job
#     exits 2, rank 0 naming it;
#  3. a node whose run fails during a workload (its reference program fails): named as failed;
#  4-6. a run that does not finish (--fleet-timeout, a rank killed with SIGKILL, SIGINT to
#     mpirun): --json and --junit have what was measured, the stalled or dead rank is named.
# Exit 77 (skipped, with the reason) without mpirun or MPI; the throttled case is skipped, with
# the reason, where the machine cannot throttle (not root, no loop devices or no block cgroup).
#   fleet_mpi_test.sh SWAPIO
set -uo pipefail
swapio=$1
command -v mpirun >/dev/null || { echo "SKIP: mpirun is not installed (Debian: openmpi-bin)"; exit 77; }
grep -q '^MPI: yes' <<<"$("$swapio" --version)" || { echo "SKIP: swapio was built without MPI"; exit 77; }
work=$(mktemp -d "${SWAPIO_TEST_DIR:-/tmp}/fleet-mpi.XXXXXX")
loop="" cgroup="" mounted=""
cleanup() {
  if [ -n "$mounted" ]; then  # a rank killed at the end of a job may leave its children a moment
    for _ in $(seq 30); do umount "$mounted" 2>/dev/null && break; sleep 0.5; done
    mountpoint -q "$mounted" && umount -l "$mounted"
  fi
  [ -n "$loop" ] && losetup -d "$loop"
  [ -n "$cgroup" ] && rmdir "$cgroup"
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
mpi=(mpirun --allow-run-as-root --oversubscribe)
# Under AddressSanitizer: OpenMPI's own allocations outlive MPI_Finalize by design; leaks of
# swapio's are looked for by every other test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mkdir -p "$work"/{a,b,c}
cat >"$work/p.json" <<'JSON'
{ "name": "fleet-test", "rounds": 2,
  "fleet": { "outlier_fraction": 0.5, "outlier_mads": 0 },
  "workloads": [
    { "name": "write-16m", "op": "write", "size": "16M", "floor_gib_per_s": 0.0001 },
    { "name": "read-16m", "op": "read", "size": "16M", "floor_gib_per_s": 0.0001 } ] }
JSON
rank() {  # rank NODE FOLDER [EXTRA...]: one app context
  local node=$1 folder=$2; shift 2
  echo "-np 1 -x SWAPIO_FLEET_HOST=$node $swapio qualify --fleet --profile $work/p.json --folder $folder $*"
}

# --- 1. the throttled node ------------------------------------------------------------------
throttle_skip=""
if [ "$(id -u)" != 0 ]; then
  throttle_skip="not root: a throttled loop device needs root"
elif ! command -v losetup >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
  throttle_skip="losetup or mkfs.ext4 is missing"
elif [ -d /sys/fs/cgroup/blkio ]; then
  kind=v1
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw io /sys/fs/cgroup/cgroup.controllers; then
  kind=v2
else
  throttle_skip="no block I/O cgroup (v1 blkio or v2 io) to throttle with"
fi
if [ -z "$throttle_skip" ]; then
  truncate -s 160M "$work/slow.img"
  loop=$(losetup -f --show "$work/slow.img") || { loop=""; throttle_skip="losetup refused (no loop device)"; }
fi
if [ -z "$throttle_skip" ]; then
  mkfs.ext4 -q "$loop" && mkdir -p "$work/slow" && mount "$loop" "$work/slow" && mounted="$work/slow" ||
    fail "cannot make a filesystem on $loop"
  mm=$(lsblk -no MAJ:MIN "$loop" | tr -d ' ')
  rate=$((8 << 20))  # 8 MiB/s, against hundreds of MiB/s
  if [ "$kind" = v1 ]; then
    cgroup=/sys/fs/cgroup/blkio/swapio-fleet-$$
    mkdir "$cgroup" && echo "$mm $rate" >"$cgroup/blkio.throttle.write_bps_device" &&
      echo "$mm $rate" >"$cgroup/blkio.throttle.read_bps_device" || fail "cannot throttle $loop in $cgroup"
  else
    grep -qw io /sys/fs/cgroup/cgroup.subtree_control || echo +io >/sys/fs/cgroup/cgroup.subtree_control
    cgroup=/sys/fs/cgroup/swapio-fleet-$$
    mkdir "$cgroup" && echo "$mm rbps=$rate wbps=$rate" >"$cgroup/io.max" || fail "cannot throttle $loop in $cgroup"
  fi
  start=$(date +%s%N)
  # shellcheck disable=SC2046
  out=$("${mpi[@]}" $(rank node-a "$work/a" --json "$work/fleet.json" --junit "$work/fleet.xml") \
        : $(rank node-b "$work/b") \
        : -np 1 -x SWAPIO_FLEET_HOST=node-c sh -c 'echo $$ > "$0/cgroup.procs" && shift && exec "$@"' "$cgroup" x \
          "$swapio" qualify --fleet --profile "$work/p.json" --folder "$work/slow" \
        : $(rank node-a "$work/a") 2>&1)
  rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "$out"
  echo "(the run took $((ms / 1000)).$(printf %03d $((ms % 1000))) s)"
  [ $rc -eq 1 ] || fail "a fleet with an outlier must exit 1, not $rc"
  grep -Eq '^node-a +[0-9.]+ PASS +[0-9.]+ PASS +PASS' <<<"$out" || fail "node-a does not pass"
  grep -Eq '^node-b +[0-9.]+ PASS +[0-9.]+ PASS +PASS' <<<"$out" || fail "node-b does not pass"
  grep -Eq '^node-c +[0-9.]+ OUTLIER' <<<"$out" || fail "node-c is not named as the outlier"
  grep -q '^  node-c: write-16m' <<<"$out" || fail "the outliers list does not name node-c"
  grep -q 'ranks 3 (node-a) shared a node' <<<"$out" || fail "the fourth rank did not idle"
  grep -q 'verdict: FAIL (2 of 3 nodes pass)' <<<"$out" || fail "the verdict is not 2 of 3"
  python3 - "$work/fleet.json" "$work/fleet.xml" <<'PY' || fail "the JSON or JUnit report is wrong"
import json, sys, xml.etree.ElementTree as ET
j = json.load(open(sys.argv[1]))
assert j["complete"] is True and j["ranks"] == 4 and j["schema_version"] == 1, j
verdicts = {n["node"]: n["verdict"] for n in j["nodes"]}
assert verdicts == {"node-a": "PASS", "node-b": "PASS", "node-c": "FAIL"}, verdicts
assert all(w["outliers"] == ["node-c"] for w in j["workloads"]), j["workloads"]
assert all(n["report"]["facts"]["host"] for n in j["nodes"]), "facts missing"
suites = ET.parse(sys.argv[2]).getroot().findall("testsuite")
assert sorted(s.get("name") for s in suites) == ["node-a", "node-b", "node-c"]
assert [s.get("failures") for s in suites if s.get("name") == "node-c"] == ["2"]
PY

  # The throttled node makes the others wait past --fleet-timeout: rank 0 writes the report of
  # what it has (complete: false) and the job ends.
  rm -f "$work/fleet.json"
  # shellcheck disable=SC2046
  out=$("${mpi[@]}" $(rank node-a "$work/a" --json "$work/fleet.json" --fleet-timeout 2) \
        : $(rank node-b "$work/b" --fleet-timeout 2) \
        : -np 1 -x SWAPIO_FLEET_HOST=node-c sh -c 'echo $$ > "$0/cgroup.procs" && shift && exec "$@"' "$cgroup" x \
          "$swapio" qualify --fleet --profile "$work/p.json" --folder "$work/slow" --fleet-timeout 2 2>&1)
  rc=$?
  [ $rc -ne 0 ] || fail "a job past its timeout must not exit 0"
  grep -q "did not reach workload 2 within --fleet-timeout 2 s" <<<"$out" || fail "the timeout is not said: $out"
  python3 - "$work/fleet.json" <<'PY' || fail "the partial report is wrong"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["complete"] is False, j.get("complete")
by = {n["node"]: n for n in j["nodes"]}
for node in ("node-a", "node-b"):
    w = by[node]["workloads"]
    assert w[0]["gib_per_s"] is not None and w[1]["error"] == "not run yet", w
assert by["node-c"]["workloads"][0]["gib_per_s"] is None, by["node-c"]
PY
fi

# --- 2. a rank that cannot start -------------------------------------------------------------
# shellcheck disable=SC2046
out=$("${mpi[@]}" $(rank node-a "$work/a") : $(rank node-b "$work/missing") : $(rank node-c "$work/c") 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "a rank with a missing folder must end the job with 2, not $rc: $out"
grep -q "node-b (rank 1): --folder: folder $work/missing" <<<"$out" || fail "rank 0 did not name node-b's folder: $out"

# A rank whose profile has the same name and workloads but another block size: refused at the
# start, naming the rank and the setting (a fleet compares like with like).
sed 's/"op": "read",/"op": "read", "block_size": "4M",/' "$work/p.json" >"$work/other.json"
# shellcheck disable=SC2046
out=$("${mpi[@]}" $(rank node-a "$work/a") : $(rank node-b "$work/b") : $(rank node-c "$work/c" | sed "s#p.json#other.json#") 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "a rank with other settings must end the job with 2, not $rc: $out"
grep -q "node-c (rank 2) and rank 0 differ in workloads\[1\].block_size: 4194304 and 1048576" <<<"$out" ||
  fail "rank 0 did not name node-c's block size: $out"

# --- 3. a node whose run fails during a workload ------------------------------------------------
sed 's/"floor_gib_per_s": 0.0001 }/"floor_gib_per_s": 0.0001, "floor_vs_ceiling": 0.01 }/' "$work/p.json" >"$work/q.json"
# shellcheck disable=SC2046
out=$("${mpi[@]}" $(rank node-a "$work/a" | sed "s#p.json#q.json#") : $(rank node-b "$work/b" | sed "s#p.json#q.json#") \
      : $(rank node-c "$work/c" --ceiling false | sed "s#p.json#q.json#") 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "a fleet with a failed node must exit 1, not $rc: $out"
grep -q '^  node-c (rank 2): write-16m: ' <<<"$out" || fail "the failed node is not named: $out"
grep -Eq '^node-a +[0-9.]+ PASS' <<<"$out" || fail "node-a should pass: $out"

# --- 4-6. a run that does not finish ------------------------------------------------------------
# node-c stalls in its first workload: its ceiling tool sleeps (and says which process runs it),
# while node-a and node-b finish it and wait at the start of the second. The run then ends by
# --fleet-timeout (4), node-c's rank killed with SIGKILL (5), or SIGINT to mpirun (6): each time
# rank 0 writes --json and --junit with what was measured, names node-c's rank, gives the nodes
# never measured to the end INCOMPLETE, and null for the workload nobody measured.
sed 's/"floor_gib_per_s": 0.0001 }/"floor_gib_per_s": 0.0001, "floor_vs_ceiling": 0.01 }/' "$work/p.json" >"$work/s.json"
cat >"$work/stall.sh" <<SH
#!/bin/sh
echo \$\$ >"$work/sleeper.pid"
echo \$PPID >"$work/stalled.pid.tmp" && mv "$work/stalled.pid.tmp" "$work/stalled.pid"
exec sleep 120
SH
chmod +x "$work/stall.sh"
stalled_run() {  # stalled_run TIMEOUT: the job in the background, its pid in $job, output in $work/out
  rm -f "$work"/{stalled.pid,sleeper.pid,fleet.json,fleet.xml}
  # shellcheck disable=SC2046
  "${mpi[@]}" $(rank node-a "$work/a" --json "$work/fleet.json" --junit "$work/fleet.xml" --fleet-timeout "$1" | sed "s#p.json#s.json#") \
    : $(rank node-b "$work/b" --fleet-timeout "$1" | sed "s#p.json#s.json#") \
    : $(rank node-c "$work/c" --fleet-timeout "$1" --ceiling "$work/stall.sh" | sed "s#p.json#s.json#") >"$work/out" 2>&1 &
  job=$!
  for _ in $(seq 600); do [ -f "$work/stalled.pid" ] && break; sleep 0.1; done
  [ -f "$work/stalled.pid" ] || { kill "$job"; wait "$job"; fail "node-c never reached its ceiling tool: $(cat "$work/out")"; }
}
finish_run() {  # waits for the job (at most 60 s), then for the sleeper
  for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$job" 2>/dev/null && { kill -9 "$job"; fail "the job did not end: $(cat "$work/out")"; }
  wait "$job"
  rc=$?
  out=$(cat "$work/out")
  echo "$out"
  if [ -f "$work/sleeper.pid" ]; then  # an orphan only where node-c's swapio was killed with SIGKILL
    sleeper=$(cat "$work/sleeper.pid")
    kill -9 "$sleeper" 2>/dev/null
  fi
}
check_partial() {  # check_partial WHAT-IS-SAID: the JSON and JUnit of a run that did not finish
  [ $rc -ne 0 ] || fail "a run that did not finish must not exit 0"
  grep -q "$1" <<<"$out" || fail "rank 0 did not say: $1"
  python3 - "$work/fleet.json" "$work/fleet.xml" <<'PY' || fail "the partial JSON or JUnit report is wrong"
import json, sys, xml.etree.ElementTree as ET
j = json.load(open(sys.argv[1]))
assert j["complete"] is False, j.get("complete")
by = {n["node"]: n for n in j["nodes"]}
for node in ("node-a", "node-b"):
    assert by[node]["verdict"] == "INCOMPLETE", (node, by[node]["verdict"])
    assert by[node]["workloads"][0]["gib_per_s"] is not None, by[node]["workloads"]
    assert by[node]["workloads"][1]["gib_per_s"] is None, by[node]["workloads"]
assert by["node-c"]["workloads"][0]["gib_per_s"] is None, by["node-c"]
assert j["workloads"][1]["median_gib_per_s"] is None, j["workloads"][1]
assert j["workloads"][1]["nodes_measured"] == 0, j["workloads"][1]
assert j["workloads"][0]["median_gib_per_s"] is not None, j["workloads"][0]
suites = {s.get("name"): s for s in ET.parse(sys.argv[2]).getroot().findall("testsuite")}
assert sorted(suites) == ["node-a", "node-b", "node-c"], sorted(suites)
for node in ("node-a", "node-b"):
    assert suites[node].get("skipped") == "1" and suites[node].get("failures") == "0", suites[node].attrib
PY
}
dead_named() {  # node-c's rank named in its node's error, and its verdict not a pass
  python3 - "$work/fleet.json" <<'PY' || fail "node-c's rank is not named in its error"
import json, sys
by = {n["node"]: n for n in json.load(open(sys.argv[1]))["nodes"]}
assert by["node-c"]["error"] and "rank 2 (node-c)" in by["node-c"]["error"], by["node-c"]["error"]
assert by["node-c"]["verdict"] == "FAIL", by["node-c"]["verdict"]
PY
}

stalled_run 3
finish_run
check_partial "rank 2 (node-c) did not reach workload 2 within --fleet-timeout 3 s"
dead_named

stalled_run 120
sleep 5  # node-a and node-b at the start of workload 2 (a round of 16 MiB takes well under a second)
kill -9 "$(cat "$work/stalled.pid")"
finish_run
check_partial "while waiting for rank 2 (node-c) at workload 2"
dead_named

stalled_run 120
sleep 5
kill -INT "$job"
finish_run
check_partial "interrupted by"

if [ -n "$throttle_skip" ]; then
  echo "SKIP: the throttled-node case: $throttle_skip (the other cases passed)"
  exit 77
fi
echo PASS
