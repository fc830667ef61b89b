"""The functional matrix from Python: api x single_submit x overlap_events x validate x memory x
direction, at odd sizes and offsets. Every case checks the bytes that moved."""
import os

import pytest

import swapio
from conftest import MEMORY_KINDS, content, fill, make_memory, pattern, read_plain, write_plain

APIS = ["basic", "handle-1", "handle-3", "async"]
# (bytes, file offset): a length and an offset that are multiples of nothing, and a small one.
SHAPES = [(1_052_673, 12_293), (4095, 0)]


def run(api, direction, mem, path, offset, validate, knobs):
    if api == "basic":
        fn = swapio.write_file if direction == "write" else swapio.read_file
        return fn(mem, path, offset=offset, validate=validate, **knobs)
    threads = 3 if api == "handle-3" else 1
    with swapio.Handle(intra_op_parallelism=threads, **knobs) as h:
        if api == "async":
            fn = h.write_async if direction == "write" else h.read_async
            future = fn(mem, path, offset, validate)
            assert h.in_flight == 1
            result = future.result()
            assert future.done()
            assert h.wait() == 0  # already reported by the future
            return result
        fn = h.write if direction == "write" else h.read
        return fn(mem, path, offset, validate)


@pytest.mark.parametrize("direction", ["read", "write"])
@pytest.mark.parametrize("memory", MEMORY_KINDS)
@pytest.mark.parametrize("validate", [False, True], ids=["novalidate", "validate"])
@pytest.mark.parametrize("overlap", [False, True], ids=["lockstep", "overlap"])
@pytest.mark.parametrize("single_submit", [False, True], ids=["batch", "single"])
@pytest.mark.parametrize("api", APIS)
def test_transfer_moves_the_bytes(folder, api, single_submit, overlap, validate, memory, direction):
    knobs = dict(single_submit=single_submit, overlap_events=overlap, block_size=65536, queue_depth=8)
    for i, (n, offset) in enumerate(SHAPES):
        path = os.path.join(folder, f"m{i}.swp")
        data = pattern(n, seed=i + 7)
        mem = make_memory(memory, n)
        # Bytes before the range must survive either way.
        guard = pattern(offset, seed=99) if offset else b""
        write_plain(path, guard)
        if direction == "write":
            fill(mem, data)
            r = run(api, direction, mem, path, offset, validate, knobs)
            assert read_plain(path, n, offset) == data
            assert os.path.getsize(path) == offset + n
        else:
            write_plain(path, data, offset)
            fill(mem, b"\x5a" * n)
            r = run(api, direction, mem, path, offset, validate, knobs)
            assert content(mem) == data
        assert read_plain(path, offset) == guard
        assert r.bytes == n
        assert r.write == (direction == "write")
        assert r.offset == offset
        assert r.validated == validate
        assert r.engine in ("uring", "aio", "psync")
        assert r.seconds > 0 and r.gib_per_s > 0
        assert r.latency["count"] == r.requests > 0
        assert r.device == ("emulated" if memory == "emulated" else "")
        if memory in ("torch", "numpy", "bytearray") and r.direct:
            assert r.staged, "memory swapio did not allocate goes through its staging buffers"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "int8", "int64", "bool", "complex64"])
def test_any_dtype_and_shape(folder, dtype):
    import torch
    dt = getattr(torch, dtype)
    src = (torch.rand(33, 517) * 100).to(dt) if dtype != "bool" else torch.rand(33, 517) > 0.5
    pinned = swapio.empty_pinned((33, 517), dt)
    assert pinned.shape == (33, 517) and pinned.dtype == dt
    pinned.copy_(src)
    path = os.path.join(folder, "t.swp")
    with swapio.Handle() as h:
        assert h.write(pinned, path, validate=True).bytes == src.numel() * src.element_size()
        back = torch.empty_like(src)
        h.read(back, path, validate=True)
    assert torch.equal(back, src)


def test_numpy_empty_pinned_and_views(folder):
    import numpy as np
    a = swapio.empty_pinned((4, 1000), np.float32)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.writeable
    a[:] = np.arange(4000, dtype=np.float32).reshape(4, 1000)
    path = os.path.join(folder, "n.swp")
    swapio.write_file(a[1], path)  # a contiguous row view
    out = np.zeros(1000, np.float32)
    swapio.read_file(out, path, validate=True)
    assert (out == a[1]).all()


def test_memoryview_and_mmap(folder):
    import mmap
    path = os.path.join(folder, "mm.swp")
    data = pattern(70000, seed=3)
    buf = bytearray(data)
    swapio.write_file(memoryview(buf)[100:60100], path)
    assert read_plain(path, 60000) == data[100:60100]
    m = mmap.mmap(-1, 60000)
    swapio.read_file(m, path)
    assert m[:] == data[100:60100]
    m.close()


def test_pathlike_paths(folder):
    import pathlib
    p = pathlib.Path(folder) / "p.swp"
    swapio.write_file(bytes(pattern(5000)), p)
    assert read_plain(str(p), 5000) == pattern(5000)

