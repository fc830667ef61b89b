"""CUDA tensors through the frontend, on the host emulation: objects with the protocol a torch
CUDA tensor exposes (device, data_ptr, numel, element_size, is_contiguous) over emulated device
memory, and torch.cuda.current_stream answering with an emulated stream. Every case checks the
bytes."""
import os
import types

import pytest
import torch

import swapio
import swapio.deepspeed as ds
import swapio.testing as emu
from conftest import pattern

LATE_US = 150_000  # a kernel that runs 150 ms after it was queued


class CudaTensorProtocol:
    """What swapio reads of a torch CUDA tensor, over emulated device memory."""

    def __init__(self, mem, index, nbytes=None, dtype=torch.float32, offset=0):
        self.mem, self.index, self.offset = mem, index, offset
        self.dtype = dtype
        self.nbytes = mem.nbytes - offset if nbytes is None else nbytes
        self.device = torch.device("cuda", index)

    def data_ptr(self):
        return self.mem.address + self.offset

    def element_size(self):
        return torch.empty(0, dtype=self.dtype).element_size()

    def numel(self):
        return self.nbytes // self.element_size()

    def is_contiguous(self):
        return True


@pytest.fixture
def gpus(monkeypatch):
    """Two emulated GPUs; torch.cuda.current_stream(device) is stream[index] (0: legacy)."""
    devices = emu.emulated_devices(2)
    streams = {0: 0, 1: 0}
    asked = []

    def current_stream(device=None):
        index = torch.device(device).index if device is not None else 0
        asked.append(index)
        return types.SimpleNamespace(cuda_stream=streams[index])

    monkeypatch.setattr(torch.cuda, "current_stream", current_stream)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    return types.SimpleNamespace(devices=devices, streams=streams, asked=asked)


def device_bytes(dev, tensor):
    return emu.read_device(dev, tensor.data_ptr(), tensor.nbytes)


@pytest.mark.parametrize("api", ["basic", "handle", "async", "aio_handle"])
@pytest.mark.parametrize("stream", ["current", "legacy"])
def test_cuda_tensors_are_ordered_after_torchs_current_stream(gpus, folder, api, stream):
    dev = gpus.devices[1]
    n = 2 * 1024 * 1024 + 4096 * 3
    tensor = CudaTensorProtocol(dev.empty(n), 1)
    if stream == "current":
        gpus.streams[1] = emu.create_stream(dev, blocking=False)
    kernel_stream = gpus.streams[1] if stream == "current" else emu.create_stream(dev, blocking=True)
    h = swapio.Handle(intra_op_parallelism=2)
    aio = ds.aio_handle(block_size=1 << 20, queue_depth=8, intra_op_parallelism=2)
    path = os.path.join(folder, "t.swp")

    def move(write):
        if api == "basic":
            (swapio.write_file if write else swapio.read_file)(tensor, path)
        elif api == "handle":
            (h.write if write else h.read)(tensor, path)
        elif api == "async":
            (h.write_async if write else h.read_async)(tensor, path).result()
        else:
            assert (aio.sync_pwrite if write else aio.sync_pread)(tensor, path) == 1

    data = pattern(n, seed=5)
    emu.launch_write(dev, kernel_stream, tensor.data_ptr(), data, LATE_US)
    move(True)
    with open(path, "rb") as f:
        assert f.read() == data, "the write saved the tensor before torch's stream had written it"
    assert 1 in gpus.asked, "the stream was not asked of the tensor's device"

    emu.launch_write(dev, kernel_stream, tensor.data_ptr(), bytes(n), LATE_US)
    move(False)
    assert device_bytes(dev, tensor) == data, "the read landed before the stream's kernel, which overwrote it"
    h.close()


def test_the_device_is_taken_from_the_tensor(gpus, folder):
    d0, d1 = gpus.devices
    path = os.path.join(folder, "d.swp")
    data = pattern(65536, seed=9)
    with open(path, "wb") as f:
        f.write(data)
    t1 = CudaTensorProtocol(d1.empty(65536), 1)
    r = swapio.read_file(t1, path)
    assert r.device == "emulated:1" and r.staged and r.bytes == 65536
    assert device_bytes(d1, t1) == data
    liar = CudaTensorProtocol(d1.empty(4096), 0)  # says cuda:0, lives on device 1
    with pytest.raises(swapio.ConfigError, match="says it is on device 0"):
        swapio.read_file(liar, path)


def test_the_callers_current_device_is_kept(gpus, folder):
    emu.set_current_device(1)
    try:
        t0 = CudaTensorProtocol(gpus.devices[0].empty(1 << 20), 0)
        swapio.write_file(t0, os.path.join(folder, "c.swp"))
        assert emu.current_device() == 1
    finally:
        emu.set_current_device(0)


def test_a_tensor_past_its_allocation_is_refused(gpus, folder):
    mem = gpus.devices[0].empty(8192)
    over = CudaTensorProtocol(mem, 0, nbytes=8192, offset=4096)
    with pytest.raises(swapio.ConfigError, match="runs past the end of its allocation"):
        swapio.write_file(over, os.path.join(folder, "o.swp"))
    assert not os.path.exists(os.path.join(folder, "o.swp"))


def test_host_memory_posing_as_cuda_is_refused(gpus, folder):
    host = torch.zeros(1024)

    class Impostor(CudaTensorProtocol):
        def data_ptr(self):
            return host.data_ptr()

    with pytest.raises(swapio.ConfigError, match="not device memory"):
        swapio.write_file(Impostor(gpus.devices[0].empty(4096), 0), os.path.join(folder, "i.swp"))


def test_many_small_cuda_ops_register_one_ring(gpus, folder):
    dev = gpus.devices[0]
    t = CudaTensorProtocol(dev.empty(4096), 0)
    path = os.path.join(folder, "s.swp")
    swapio.write_file(t, path)
    before = emu.registrations(dev)
    for _ in range(50):
        swapio.write_file(t, path)
        swapio.read_file(t, path)
    assert emu.registrations(dev) == before


class CudaArray:
    """The CUDA Array Interface (version 3), as CuPy exposes it."""

    def __init__(self, mem, stream, readonly=False):
        self.__cuda_array_interface__ = {
            "shape": (mem.nbytes // 4,), "typestr": "<f4", "data": (mem.address, readonly),
            "strides": None, "version": 3, "stream": stream,
        }


def test_cuda_array_interface_objects_move_after_their_stream(gpus, folder):
    dev = gpus.devices[0]
    mem = dev.empty(1 << 20)
    s = emu.create_stream(dev, blocking=False)
    data = pattern(1 << 20, seed=3)
    emu.launch_write(dev, s, mem.address, data, LATE_US)
    path = os.path.join(folder, "a.swp")
    swapio.write_file(CudaArray(mem, s), path)
    with open(path, "rb") as f:
        assert f.read() == data
    with pytest.raises(swapio.ConfigError, match="read-only"):
        swapio.read_file(CudaArray(mem, s, readonly=True), path)
