"""ZeRO-3's swap pattern: gradient pieces as narrow() views of page-locked swap buffers, at the
cumulative element offsets of the parameter partitions. After a partition whose size is not a
multiple of 128 elements, every later piece starts at an address that is not 512-byte aligned;
DeepSpeed's engine (v0.19) issues such a view with O_DIRECT, gets EINVAL in the completion and
counts the op as done, so the bytes never move. swapio must move every byte of every piece."""
import os

import numpy as np
import pytest
import torch

import swapio.deepspeed as ds
from conftest import read_plain

# Partition sizes in elements: odd, tiny, just under and over 128, and large enough for several
# requests per piece.
PARTITIONS = [1, 3, 64, 127, 129, 1000, 4099, 65537, 3]
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8]


def offsets(sizes):
    out, at = [], 0
    for n in sizes:
        out.append(at)
        at += n
    return out, at


def as_bytes(t):
    return t.contiguous().view(torch.uint8).numpy().tobytes()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
def test_narrow_views_of_locked_buffers_move_every_byte(folder, threads, dtype):
    writer = ds.aio_handle(block_size=8192, queue_depth=8, single_submit=False, overlap_events=True,
                           intra_op_parallelism=threads)
    reader = ds.aio_handle(block_size=4096, queue_depth=4, single_submit=True, overlap_events=False,
                           intra_op_parallelism=threads)
    starts, total = offsets(PARTITIONS)
    example = torch.empty(0, dtype=dtype)
    grads = writer.new_cpu_locked_tensor(total, example)
    back = reader.new_cpu_locked_tensor(total, example)
    try:
        rng = np.random.default_rng(threads)
        grads.view(torch.uint8).numpy()[:] = rng.integers(0, 256, size=grads.numel() * grads.element_size(),
                                                            dtype=np.uint8)
        back.view(torch.uint8).numpy()[:] = 0
        size = grads.element_size()
        path = os.path.join(folder, "grads.swp")
        pieces = [(start, n) for start, n in zip(starts, PARTITIONS)]
        misaligned = [s for s, _ in pieces if (grads.narrow(0, s, 1).data_ptr() % 512) != 0]
        assert len(misaligned) >= 4, "the pattern must put pieces at unaligned addresses"

        for start, n in pieces:
            view = grads.narrow(0, start, n)
            assert writer.is_pinned(view) and reader.is_pinned(view)  # as DeepSpeed sees them
            assert writer.async_pwrite(view, path, start * size) == 0
        assert writer.wait() == len(pieces)
        assert read_plain(path, total * size) == as_bytes(grads), "the file misses bytes of some piece"

        for start, n in reversed(pieces):
            assert reader.async_pread(back.narrow(0, start, n), path, start * size) == 0
        assert reader.wait() == len(pieces)
        for start, n in pieces:
            assert as_bytes(back.narrow(0, start, n)) == as_bytes(grads.narrow(0, start, n)), f"piece at {start}"
    finally:
        writer.free_cpu_locked_tensor(grads)
        reader.free_cpu_locked_tensor(back)


def test_one_file_per_piece_as_the_optimizer_swapper_writes_them(folder):
    h = ds.aio_handle(intra_op_parallelism=2)
    starts, total = offsets(PARTITIONS)
    buf = h.new_cpu_locked_tensor(total, torch.empty(0, dtype=torch.float32))
    buf.copy_(torch.arange(total, dtype=torch.float32))
    paths = [os.path.join(folder, f"p{i}.swp") for i in range(len(PARTITIONS))]
    for p, start, n in zip(paths, starts, PARTITIONS):
        assert h.async_pwrite(buf.narrow(0, start, n), p) == 0
    assert h.wait() == len(paths)
    out = h.new_cpu_locked_tensor(total, torch.empty(0, dtype=torch.float32))
    out.zero_()
    for p, start, n in zip(paths, starts, PARTITIONS):
        assert os.path.getsize(p) == n * 4
        assert h.sync_pread(out.narrow(0, start, n), p) == 1
    assert torch.equal(out, buf)
