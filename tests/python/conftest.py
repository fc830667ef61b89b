"""Fixtures for the Python frontend's tests: a folder on the build's disk (not /tmp, which may be
tmpfs without O_DIRECT), and memory of each kind the frontend takes."""
import contextlib
import os
import sys
import tempfile
import textwrap

import numpy as np
import pytest
import torch

import swapio


@pytest.fixture
def folder():
    base = os.environ.get("SWAPIO_TEST_DIR") or os.getcwd()
    os.makedirs(base, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pytest-", dir=base) as d:
        yield d


def pattern(n, seed=1):
    """n bytes that differ at every offset and between seeds."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()


_device = None


def emulated_device():
    global _device
    if _device is None:
        _device = swapio.open_device("emulated")
    return _device


MEMORY_KINDS = ["pinned-torch", "torch", "numpy", "bytearray", "emulated"]


def make_memory(kind, n):
    if kind == "pinned-torch":
        return swapio.empty_pinned(n, torch.uint8)
    if kind == "torch":
        return torch.empty(n, dtype=torch.uint8)
    if kind == "numpy":
        return np.empty(n, dtype=np.uint8)
    if kind == "bytearray":
        return bytearray(n)
    if kind == "emulated":
        return emulated_device().empty(n)
    raise AssertionError(kind)


def fill(mem, data):
    if isinstance(mem, swapio.DeviceMemory):
        mem.copy_from(data)
    elif isinstance(mem, torch.Tensor):
        mem.view(torch.uint8).reshape(-1).numpy()[:] = np.frombuffer(data, dtype=np.uint8)
    else:
        memoryview(mem).cast("B")[:] = data


def content(mem):
    if isinstance(mem, swapio.DeviceMemory):
        return mem.tobytes()
    if isinstance(mem, torch.Tensor):
        return mem.view(torch.uint8).reshape(-1).numpy().tobytes()
    return bytes(memoryview(mem).cast("B"))


def write_plain(path, data, offset=0):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def read_plain(path, n, offset=0):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


@contextlib.contextmanager
def stand_in_deepspeed(tmp_path, files):
    """A stand-in DeepSpeed package importable for the block (files: its paths under tmp_path ->
    their text); after it, swapio.deepspeed is uninstalled and DeepSpeed's modules are as before."""
    import swapio.deepspeed as ds
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    saved = {k: v for k, v in sys.modules.items() if k == "deepspeed" or k.startswith("deepspeed.")}
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        ds.uninstall()
        sys.path.remove(str(tmp_path))
        for k in [k for k in sys.modules if k == "deepspeed" or k.startswith("deepspeed.")]:
            del sys.modules[k]
        sys.modules.update(saved)
