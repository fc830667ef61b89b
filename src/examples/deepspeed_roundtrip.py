"""Writes a torch tensor to a file and reads it back through swapio.deepspeed.aio_handle, the way
ZeRO-Infinity uses DeepSpeed's op, with validate=True, and checks the bytes.

    PYTHONPATH=build/default/python /usr/bin/python3 src/examples/deepspeed_roundtrip.py FOLDER [SIZE_MIB]
"""
import os
import sys
import time

import torch

import swapio.deepspeed as ds


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    folder = sys.argv[1]
    mib = int(sys.argv[2]) if len(sys.argv) == 3 else 1024
    path = os.path.join(folder, "deepspeed-roundtrip.swp")
    h = ds.aio_handle()  # DeepSpeed's defaults
    print(f"aio_handle: block_size {h.get_block_size()}, queue_depth {h.get_queue_depth()}, "
          f"single_submit {h.get_single_submit()}, overlap_events {h.get_overlap_events()}, "
          f"intra_op_parallelism {h.get_intra_op_parallelism()}")
    n = mib * (1 << 20) // 4
    src = h.new_cpu_locked_tensor(n, torch.empty(0, dtype=torch.float32))
    torch.manual_seed(0)
    src.copy_(torch.randn(n))
    print(f"tensor: {n} float32 ({mib} MiB), pinned: {h.is_pinned(src)}")
    try:
        t0 = time.perf_counter()
        rc = h.async_pwrite(src, path)
        done = h.wait()
        t1 = time.perf_counter()
        print(f"async_pwrite -> {rc}, wait() -> {done}: {mib / 1024 / (t1 - t0):.2f} GiB/s")
        t0 = time.perf_counter()
        rc = h.pwrite(src, path, True, False)  # buffer, filename, validate, async
        t1 = time.perf_counter()
        print(f"pwrite(validate=True) -> {rc}: {t1 - t0:.2f} s, the check (an independent buffered read "
              f"of the file, compared) included")
        dst = h.new_cpu_locked_tensor(n, src)
        t0 = time.perf_counter()
        rc = h.async_pread(dst, path)
        done = h.wait()
        t1 = time.perf_counter()
        print(f"async_pread -> {rc}, wait() -> {done}: {mib / 1024 / (t1 - t0):.2f} GiB/s")
        rc = h.read(dst, path, True)
        print(f"read(validate=True) -> {rc}")
        same = torch.equal(src, dst)
        print(f"bytes equal: {same}; free_cpu_locked_tensor -> {h.free_cpu_locked_tensor(src)}, "
              f"{h.free_cpu_locked_tensor(dst)}")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
