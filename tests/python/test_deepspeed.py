"""swapio.deepspeed against DeepSpeed's async_io semantics: names, keywords, defaults, return
values, locked tensors, the fd overload, and install() on a stand-in DeepSpeed."""
import os
import sys

import pytest
import torch

import swapio
import swapio.deepspeed as ds
from conftest import pattern, read_plain, stand_in_deepspeed, write_plain


def tensor_of(data):
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def test_defaults_are_deepspeeds():
    h = ds.aio_handle()
    assert h.get_block_size() == 1048576
    assert h.get_queue_depth() == 128
    assert h.get_single_submit() is False
    assert h.get_overlap_events() is False
    assert h.get_intra_op_parallelism() == 1
    assert h.get_thread_count() == 1
    assert h.get_alignment() == 512  # intra_op_parallelism x 512, as DeepSpeed's
    assert ds.aio_handle(intra_op_parallelism=3).get_alignment() == 1536


def test_constructor_by_position_and_keyword():
    h = ds.aio_handle(65536, 16, True, True, 2)
    assert (h.get_block_size(), h.get_queue_depth(), h.get_single_submit(), h.get_overlap_events(),
            h.get_intra_op_parallelism()) == (65536, 16, True, True, 2)
    k = ds.aio_handle(block_size=131072, queue_depth=4, single_submit=False, overlap_events=True,
                      intra_op_parallelism=3)
    assert k.get_intra_op_parallelism() == 3 and k.get_block_size() == 131072


def test_bad_knobs_raise_config_error():
    with pytest.raises(swapio.ConfigError, match="block_size"):
        ds.aio_handle(block_size=0)
    with pytest.raises(ValueError, match="queue_depth"):
        ds.aio_handle(queue_depth=-1)
    with pytest.raises(swapio.ConfigError, match="intra_op_parallelism"):
        ds.aio_handle(intra_op_parallelism=0)


def test_sync_calls_return_one_and_async_calls_zero_then_wait_counts(folder):
    h = ds.aio_handle(block_size=65536, queue_depth=8, intra_op_parallelism=2)
    data = pattern(3 * 65536 + 123, seed=5)
    src = tensor_of(data)
    paths = [os.path.join(folder, f"d{i}.swp") for i in range(3)]
    assert h.write(src, paths[0], False) == 0  # DeepSpeed's code returns 0
    assert h.sync_pwrite(src, paths[1]) == 1
    assert h.pwrite(src, paths[2], True, False) == 1
    for p in paths:
        assert read_plain(p, len(data)) == data
    assert h.wait() == 0

    dst = [torch.zeros(len(data), dtype=torch.uint8) for _ in range(4)]
    assert h.async_pread(dst[0], paths[0]) == 0
    assert h.pread(dst[1], paths[1], True, True) == 0
    assert h.async_pread(dst[2], paths[2], 0) == 0
    assert h.wait() == 3
    assert h.wait() == 0
    assert h.read(dst[3], paths[0], True) == 0
    assert h.sync_pread(dst[3], paths[0]) == 1
    for d in dst:
        assert bytes(d.numpy()) == data

    # A synchronous parallel op waits for everything in flight and counts it, as DeepSpeed's.
    assert h.async_pread(dst[0], paths[0]) == 0
    assert h.async_pread(dst[1], paths[1]) == 0
    assert h.sync_pread(dst[2], paths[2]) == 3
    assert h.pread(dst[3], paths[0], False, False) == 1
    assert h.wait() == 0

    out = os.path.join(folder, "async.swp")
    assert h.async_pwrite(src, out) == 0
    assert h.pwrite(src, out + ".2", False, True) == 0
    assert h.wait() == 2
    assert read_plain(out, len(data)) == data and read_plain(out + ".2", len(data)) == data


def test_keywords_and_file_offset(folder):
    h = ds.aio_handle(block_size=4096, queue_depth=4)
    data = pattern(10000, seed=8)
    src = tensor_of(data)
    path = os.path.join(folder, "kw.swp")
    write_plain(path, b"\0" * 5)
    assert h.pwrite(buffer=src, filename=path, validate=True, file_offset=5, **{"async": False}) == 1
    assert read_plain(path, 10000, 5) == data
    dst = torch.zeros(10000, dtype=torch.uint8)
    assert h.pread(dst, path, False, **{"async": True}, file_offset=5) == 0
    assert h.wait() == 1
    assert bytes(dst.numpy()) == data
    assert h.read(buffer=dst, filename=path, validate=True, file_offset=5) == 0
    assert h.sync_pread(buffer=dst, filename=path, file_offset=5) == 1
    assert h.async_pwrite(buffer=src, filename=path, file_offset=5) == 0
    assert h.wait() == 1
    with pytest.raises(TypeError, match="async"):
        h.pread(dst, path, False)
    with pytest.raises(TypeError, match="unexpected keyword"):
        h.pread(dst, path, False, False, offset=3)


def test_async_pwrite_on_an_o_direct_descriptor(folder):
    h = ds.aio_handle(block_size=65536, queue_depth=8, intra_op_parallelism=2)
    data = pattern(1 << 20, seed=11)
    src = h.new_cpu_locked_tensor(1 << 20, torch.empty(0, dtype=torch.uint8))
    src.numpy()[:] = torch.frombuffer(bytearray(data), dtype=torch.uint8).numpy()
    path = os.path.join(folder, "fd.swp")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
    try:
        assert h.async_pwrite(src, fd) == 0
        assert h.async_pwrite(src, fd, 1 << 20) == 0
        assert h.wait() == 2
    finally:
        os.close(fd)
    assert read_plain(path, 2 << 20) == data + data
    with pytest.raises(OSError):
        h.async_pwrite(src, fd)  # closed now


def test_locked_tensors_count_elements_and_are_pinned_across_handles():
    a, b = ds.aio_handle(), ds.aio_handle()
    pin = ds.pin_handle()
    t = a.new_cpu_locked_tensor(1000, torch.empty(3, dtype=torch.float32))
    assert t.dtype == torch.float32 and t.numel() == 1000 and t.element_size() == 4
    h16 = pin.new_cpu_locked_tensor(num_elem=77, example_tensor=torch.empty(1, dtype=torch.bfloat16))
    assert h16.dtype == torch.bfloat16 and h16.numel() == 77
    for h in (a, b, pin, ds):
        assert h.is_pinned(t) and h.is_pinned(t[10:20]) and h.is_pinned(t[999:])
        assert h.is_pinned(h16)
        assert not h.is_pinned(torch.zeros(1000))
    assert not ds.is_pinned(t.clone())
    assert b.free_cpu_locked_tensor(t) is True
    assert not a.is_pinned(t) and not pin.is_pinned(t[10:20])
    assert a.free_cpu_locked_tensor(t) is False
    t.fill_(1.5)  # the memory lives as long as a view does
    assert float(t.sum()) == 1500.0
    assert pin.free_cpu_locked_tensor(h16) is True


def test_plain_and_locked_tensors_both_move(folder):
    h = ds.aio_handle(block_size=65536, queue_depth=16)
    data = pattern(300001, seed=13)
    locked = h.new_cpu_locked_tensor(300001, torch.empty(0, dtype=torch.uint8))
    locked.numpy()[:] = torch.frombuffer(bytearray(data), dtype=torch.uint8).numpy()
    path = os.path.join(folder, "lk.swp")
    assert h.sync_pwrite(locked, path) == 1
    plain = torch.zeros(300001, dtype=torch.uint8)
    assert h.sync_pread(plain, path) == 1
    assert bytes(plain.numpy()) == data
    h.free_cpu_locked_tensor(locked)


def test_basic_api_functions(folder):
    data = pattern(200003, seed=17)
    path = os.path.join(folder, "basic.swp")
    assert ds.aio_write(tensor_of(data), path, 65536, 8, False, True, True) == 0
    assert read_plain(path, len(data)) == data
    dst = torch.zeros(len(data), dtype=torch.uint8)
    assert ds.aio_read(dst, path, 65536, 8, True, False, True) == 0
    assert bytes(dst.numpy()) == data


def test_deepspeed_memcpy():
    src = torch.arange(1000, dtype=torch.float32)
    dst = torch.zeros(1000, dtype=torch.float32)
    assert ds.deepspeed_memcpy(dst, src) == 0
    assert torch.equal(dst, src)
    with pytest.raises(ValueError, match="same size"):
        ds.deepspeed_memcpy(torch.zeros(10), src)


def test_errors_raise_instead_of_returning_minus_one(folder):
    h = ds.aio_handle()
    missing = os.path.join(folder, "missing.swp")
    with pytest.raises(swapio.Error) as e:
        h.sync_pread(torch.zeros(10, dtype=torch.uint8), missing)
    assert e.value.errno == 2 and e.value.filename == missing
    assert isinstance(e.value, OSError)
    short = os.path.join(folder, "short.swp")
    write_plain(short, b"x" * 100)
    with pytest.raises(swapio.Error, match="past end of file"):  # DeepSpeed: -1, or a short read
        h.async_pread(torch.zeros(200, dtype=torch.uint8), short)
    assert h.wait() == 0
    with pytest.raises(swapio.Error, match="past end of file"):
        h.sync_pread(torch.zeros(200, dtype=torch.uint8), short, 1)


STAND_IN = {
    "deepspeed/__init__.py": "",
    "deepspeed/ops/__init__.py": "__compatible_ops__ = {'async_io': False, 'pin_memory': False, 'cpu_adam': True}\n",
    "deepspeed/ops/op_builder/__init__.py": """
        class AsyncIOBuilder:
            def load(self, verbose=False):
                raise RuntimeError("stand-in: async_io was not built")
            def is_compatible(self, verbose=False):
                return False

        class PinMemoryBuilder:
            def load(self, verbose=False):
                raise RuntimeError("stand-in: pin_memory was not built")
            def is_compatible(self, verbose=False):
                return False
        """,
    "deepspeed/ops/aio/__init__.py": "from ..op_builder import AsyncIOBuilder\n",
    # DeepSpeed's native pin backend (DS_PIN_MEMORY_BACKEND=native) makes these calls of the op.
    "deepspeed/utils/__init__.py": "",
    "deepspeed/utils/pin_memory.py": """
        import weakref

        class NativePins:
            def __init__(self):
                from deepspeed.ops.op_builder import PinMemoryBuilder
                self.handle = PinMemoryBuilder().load().pin_handle()
                self.freed = []
                self.bases = {}  # begin -> base, until unpinned or dropped

            def pin(self, tensor):
                base = self.handle.new_cpu_locked_tensor(tensor.numel(), tensor)
                locked = base[:tensor.numel()]
                locked.copy_(tensor.reshape(-1))
                begin = base.data_ptr()
                weakref.finalize(base, self._release, self.handle, begin, self.freed)
                self.bases[begin] = base
                return locked.view(tensor.shape), begin

            def unpin(self, begin):
                freed = self.handle.free_cpu_locked_tensor_by_ptr(begin)
                self.bases.pop(begin, None)
                return freed

            @staticmethod
            def _release(handle, begin, freed):
                freed.append(handle.free_cpu_locked_tensor_by_ptr(begin))
        """,
}


@pytest.fixture
def stand_in(tmp_path):
    with stand_in_deepspeed(tmp_path, STAND_IN):
        yield


def test_install_routes_asyncio_builder_to_swapio(stand_in, folder):
    from deepspeed.ops.op_builder import AsyncIOBuilder
    with pytest.raises(RuntimeError, match="stand-in"):
        AsyncIOBuilder().load()
    assert ds.install() is ds
    assert ds.install() is ds  # idempotent
    op = AsyncIOBuilder().load(verbose=False)
    assert op is ds
    assert AsyncIOBuilder().is_compatible()
    import deepspeed.ops.aio
    assert deepspeed.ops.aio is ds
    import deepspeed.ops
    assert deepspeed.ops.aio is ds
    from deepspeed.ops.aio import AsyncIOBuilder as again  # DeepSpeed's own imports keep working
    assert again is AsyncIOBuilder
    # ZeRO-Infinity's use, through the loaded op.
    h = op.aio_handle(1048576, 128, False, False, 1)
    data = pattern(1 << 20, seed=19)
    path = os.path.join(folder, "zero.swp")
    assert h.async_pwrite(tensor_of(data), path) == 0
    assert h.wait() == 1
    assert read_plain(path, 1 << 20) == data
    ds.uninstall()
    with pytest.raises(RuntimeError, match="stand-in"):
        AsyncIOBuilder().load()
    assert AsyncIOBuilder().is_compatible() is False
    assert not hasattr(ds, "AsyncIOBuilder")
    import deepspeed.ops.aio as restored
    assert restored is not ds and restored.AsyncIOBuilder is AsyncIOBuilder


def test_install_answers_deepspeeds_pin_memory_op_with_swapios_one_registry(stand_in, folder):
    import gc

    import deepspeed.ops
    from deepspeed.ops.op_builder import PinMemoryBuilder
    with pytest.raises(RuntimeError, match="stand-in"):
        PinMemoryBuilder().load()
    ds.install()
    assert PinMemoryBuilder().load() is ds and PinMemoryBuilder().is_compatible()
    assert deepspeed.ops.__compatible_ops__ == {"async_io": True, "pin_memory": True, "cpu_adam": True}
    from deepspeed.utils.pin_memory import NativePins
    pins = NativePins()
    source = torch.arange(3000, dtype=torch.float32).reshape(30, 100)
    pinned, begin = pins.pin(source)
    assert torch.equal(pinned, source) and pinned.data_ptr() == begin
    h = ds.aio_handle(block_size=65536, intra_op_parallelism=2)
    assert h.is_pinned(pinned) and h.is_pinned(pinned[7]) and ds.pin_handle().is_pinned(pinned)
    path = os.path.join(folder, "pinned.swp")
    assert h.async_pwrite(pinned, path) == 0 and h.wait() == 1
    back = torch.zeros(30, 100)
    assert h.sync_pread(back, path) == 1 and torch.equal(back, source)
    # The backend frees by address: explicitly (unpin), or when its tensor is collected.
    assert pins.unpin(begin) is True and not h.is_pinned(back) and not h.is_pinned(pinned)
    assert pins.unpin(begin) is False
    again, begin = pins.pin(source)
    assert h.is_pinned(again)
    del again, pins.bases[begin]
    gc.collect()
    assert pins.freed == [False, True]  # the first base, already unpinned; then this one
    assert not ds.pin_handle().free_cpu_locked_tensor_by_ptr(begin)
    ds.uninstall()
    assert deepspeed.ops.__compatible_ops__ == {"async_io": False, "pin_memory": False, "cpu_adam": True}
    with pytest.raises(RuntimeError, match="stand-in"):
        PinMemoryBuilder().load()


def test_install_without_deepspeed_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # import deepspeed -> ImportError
    with pytest.raises(ImportError, match="DeepSpeed is not importable"):
        ds.install()
