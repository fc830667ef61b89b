"""The Python frontend against the C++ Handle on the same work: the same handle, tensor and
file, the C++ side timed in C++ with no Python in its loop. Interleaved rounds (the order flips
every round), medians; the frontend must keep `--floor` of the C++ Handle's speed at every size
and direction. Then the per-op overhead at 1 MiB tensors, in microseconds per call.

    python3 python_frontend.py --folder DIR [--rounds 9] [--floor 0.97] [--json out.json]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

import swapio

MiB = 1 << 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, help="folder on the device under test")
    ap.add_argument("--sizes", default="1G,64M", help="tensor sizes, comma-separated (K/M/G)")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds per size and direction")
    ap.add_argument("--floor", type=float, default=0.97, help="least median speed ratio, Python / C++")
    ap.add_argument("--overhead-ops", type=int, default=1000, help="1 MiB calls per side for the overhead figure")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    os.makedirs(args.folder, exist_ok=True)
    units = {"K": 1 << 10, "M": MiB, "G": 1 << 30}
    sizes = []
    for s in args.sizes.split(","):
        s = s.strip().upper()
        try:
            sizes.append(int(s[:-1]) * units[s[-1]] if s[-1] in units else int(s))
        except (ValueError, IndexError):
            ap.error(f"--sizes: '{s}' is not a size such as 64M")

    report = {"floor": args.floor, "rounds": args.rounds, "workloads": [], "overhead": {}}
    ok = True
    path = os.path.join(args.folder, "python-frontend.swp")
    try:
        with swapio.Handle() as h:  # default knobs
            print(f"engine {h.engine}; default knobs; {args.rounds} interleaved rounds; floor {args.floor:.2f}x of C++")
            print(f"{'size':>8} {'op':>5} {'C++ GiB/s':>10} {'Python GiB/s':>13} {'ratio':>7}  rounds (Python/C++)")
            for size in sizes:
                t = swapio.empty_pinned(size)
                t.fill_(7)
                h.write(t, path)  # the file exists for the reads, and everything is warm
                for write in (True, False):
                    ratios, py_speeds, cpp_speeds = [], [], []
                    reps = max(1, (256 * MiB) // size)  # at least 256 MiB per side and round
                    fn = h.write if write else h.read
                    for r in range(args.rounds):
                        order = ("py", "cpp") if r % 2 == 0 else ("cpp", "py")
                        secs = {}
                        for side in order:
                            if side == "py":
                                t0 = time.perf_counter()
                                for _ in range(reps):
                                    fn(t, path)
                                secs["py"] = time.perf_counter() - t0
                            else:
                                secs["cpp"] = sum(h._h._reference_seconds(write, t, path, 0, reps))
                        py_speeds.append(reps * size / secs["py"] / (1 << 30))
                        cpp_speeds.append(reps * size / secs["cpp"] / (1 << 30))
                        ratios.append(secs["cpp"] / secs["py"])
                    med = statistics.median(ratios)
                    passed = med >= args.floor
                    ok = ok and passed
                    name = f"{size // MiB} MiB"
                    print(f"{name:>8} {'write' if write else 'read':>5} {statistics.median(cpp_speeds):>10.2f} "
                          f"{statistics.median(py_speeds):>13.2f} {med:>6.3f}x  "
                          f"{' '.join(f'{x:.2f}' for x in ratios)}{'' if passed else '  BELOW FLOOR'}")
                    report["workloads"].append({"bytes": size, "op": "write" if write else "read",
                                                "cpp_gib_per_s": statistics.median(cpp_speeds),
                                                "python_gib_per_s": statistics.median(py_speeds),
                                                "median_ratio": med, "ratios": ratios, "pass": passed})
                del t
            # Per-op overhead: 1 MiB calls, one Python call and one C++ call in turn, each timed
            # alone; the medians' difference is what the frontend adds to a call.
            t = swapio.empty_pinned(MiB)
            h.write(t, path)
            for write in (True, False):
                fn = h.write if write else h.read
                py, cpp = [], []
                for i in range(args.overhead_ops):
                    for side in (("py", "cpp") if i % 2 == 0 else ("cpp", "py")):
                        if side == "py":
                            t0 = time.perf_counter()
                            fn(t, path)
                            py.append(time.perf_counter() - t0)
                        else:
                            cpp.append(h._h._reference_seconds(write, t, path, 0, 1)[0])
                py_us, cpp_us = statistics.median(py) * 1e6, statistics.median(cpp) * 1e6
                op = "write" if write else "read"
                print(f"1 MiB {op}: {py_us:.1f} us per Python call, {cpp_us:.1f} us per C++ call (medians of "
                      f"{args.overhead_ops}): {py_us - cpp_us:+.1f} us per op")
                report["overhead"][op] = {"python_us": py_us, "cpp_us": cpp_us, "overhead_us": py_us - cpp_us}
    finally:
        if os.path.exists(path):
            os.unlink(path)
    report["pass"] = ok
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print("PASS" if ok else "FAIL: the Python frontend fell below the floor")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
