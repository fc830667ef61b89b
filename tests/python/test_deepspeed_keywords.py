"""swapio.deepspeed keyword for keyword with DeepSpeed v0.19's op binding (csrc/aio/py_lib/py_ds_aio.cpp,
csrc/pin_memory/py_ds_pin_memory.cpp, deepspeed_py_io_handle.cpp): the descriptor overload's `fd`,
is_pinned(buffer), get_alignment(), the values read()/write() return, the conversions pybind11 makes
(numpy integers, bools), and one-line errors naming the argument."""
import os
import pydoc

import numpy as np
import pytest
import torch

import swapio
import swapio.deepspeed as ds
from conftest import pattern, read_plain, write_plain


def locked(h, data):
    t = h.new_cpu_locked_tensor(len(data), torch.empty(0, dtype=torch.uint8))
    t.numpy()[:] = np.frombuffer(data, dtype=np.uint8)
    return t


def test_async_pwrite_takes_a_descriptor_by_the_keyword_fd(folder):
    # DeepSpeed's own test (tests/unit/v1/nvme/test_aio.py, TestAsyncFileOffset) calls it so.
    h = ds.aio_handle(65536, 8, True, True, 2)
    data = pattern(3 << 16, seed=21)
    src = locked(h, data)
    path = os.path.join(folder, "fd.swp")
    fd = os.open(path, os.O_DIRECT | os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        for i in range(3):
            piece = torch.narrow(src, 0, i << 16, 1 << 16)
            assert h.async_pwrite(buffer=piece, fd=fd, file_offset=i << 16) == 0
            assert h.wait() == 1
        assert h.async_pwrite(src, fd=fd) == 0             # fd by keyword, buffer by position
        assert h.async_pwrite(src, np.int32(fd), np.int64(0)) == 0  # numpy integers, as pybind11 takes them
        assert h.wait() == 2
    finally:
        os.close(fd)
    assert read_plain(path, len(data)) == data
    assert h.async_pwrite(buffer=src, filename=path, file_offset=5) == 0
    assert h.wait() == 1
    assert read_plain(path, len(data), 5) == data
    with pytest.raises(TypeError, match="none of its forms.*async_pwrite\\(buffer, fd, file_offset\\)"):
        h.async_pwrite(src, fd=path)                      # a path is not a descriptor
    with pytest.raises(TypeError, match="none of its forms"):
        h.async_pwrite(src, filename=path, fd=3)
    with pytest.raises(TypeError, match="none of its forms"):
        h.async_pwrite(buffer=src)
    h.free_cpu_locked_tensor(src)


def test_is_pinned_names_its_argument_buffer():
    h, pin = ds.aio_handle(), ds.pin_handle()
    t = h.new_cpu_locked_tensor(4096, torch.empty(0, dtype=torch.float32))
    try:
        assert h.is_pinned(buffer=t) and pin.is_pinned(buffer=t) and ds.is_pinned(buffer=t)
        assert h.is_pinned(buffer=t.narrow(0, 1024, 1024))
        assert not h.is_pinned(buffer=torch.empty(4096))
    finally:
        assert h.free_cpu_locked_tensor(tensor=t) is True


def test_pin_handle_takes_deepspeeds_keywords():
    pin = ds.pin_handle()
    t = pin.new_cpu_locked_tensor(num_elem=100, example_tensor=torch.empty(0, dtype=torch.float16))
    assert t.dtype == torch.float16 and t.numel() == 100
    assert pin.free_cpu_locked_tensor(locked_tensor=t) is True
    u = pin.new_cpu_locked_tensor(np.int64(10), torch.empty(0, dtype=torch.int32))
    assert pin.is_pinned(u)
    assert pin.free_cpu_locked_tensor_by_ptr(address=u.data_ptr() + 4) is False  # not an allocation's start
    assert pin.free_cpu_locked_tensor_by_ptr(u.data_ptr()) is True
    assert not pin.is_pinned(u) and pin.free_cpu_locked_tensor_by_ptr(u.data_ptr()) is False
    with pytest.raises(TypeError, match="example_tenosr"):
        pin.new_cpu_locked_tensor(10, example_tenosr=torch.empty(0))  # the aio_handle's spelling only


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_get_alignment_is_intra_op_parallelism_times_512(threads):
    # deepspeed/io's buffers assert their sizes and file offsets modulo this value.
    assert ds.aio_handle(intra_op_parallelism=threads).get_alignment() == threads * 512


def test_read_and_write_return_0_as_deepspeeds_code_does(folder):
    h = ds.aio_handle(block_size=65536, intra_op_parallelism=2)
    data = pattern(100000, seed=22)
    path = os.path.join(folder, "rw.swp")
    assert h.write(torch.frombuffer(bytearray(data), dtype=torch.uint8), path, True) == 0
    back = torch.zeros(len(data), dtype=torch.uint8)
    assert h.read(back, path, True) == 0
    assert bytes(back.numpy()) == data
    assert h.read(buffer=back, filename=path, validate=False, file_offset=np.uint64(0)) == 0
    assert h.wait() == 0  # read() and write() are not parallel ops: nothing for wait() to count


def test_numpy_integers_and_bools_are_taken_as_pybind11_takes_them(folder):
    h = ds.aio_handle(np.int64(65536), np.int32(8), np.bool_(False), 1, np.int8(2))
    assert (h.get_block_size(), h.get_queue_depth(), h.get_single_submit(), h.get_overlap_events()) == (
        65536, 8, False, True)
    data = pattern(70000, seed=23)
    path = os.path.join(folder, "np.swp")
    write_plain(path, b"\0" * 7)
    src = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    assert h.pwrite(src, path, np.bool_(True), 0, np.int64(7)) == 1
    dst = torch.zeros(len(data), dtype=torch.uint8)
    assert h.sync_pread(dst, path, np.uint64(7)) == 1
    assert h.pread(dst, path, None, True, np.int16(7)) == 0  # None is False to pybind11
    assert h.wait() == 1
    assert bytes(dst.numpy()) == data
    fd = os.open(path, os.O_RDONLY)
    try:
        dst.zero_()
        assert h.sync_pread(dst, np.int32(fd), 7) == 1  # a descriptor as a numpy integer
        assert bytes(dst.numpy()) == data
    finally:
        os.close(fd)


@pytest.mark.parametrize("call, error, words", [
    (lambda h, t, p: h.sync_pread(t, p, 1 << 64), swapio.ConfigError, "file_offset 18446744073709551616 is past"),
    (lambda h, t, p: h.async_pwrite(t, p, 1 << 63), swapio.ConfigError, "file_offset 9223372036854775808 is past"),
    (lambda h, t, p: h.sync_pwrite(t, p, -1), swapio.ConfigError, "file_offset -1 is negative"),
    (lambda h, t, p: h.pread(t, p, "no", False), TypeError, "pread(): validate takes True or False, not 'no'"),
    (lambda h, t, p: h.pwrite(t, p, False, "yes"), TypeError, "pwrite(): async takes True or False"),
    (lambda h, t, p: h.read(t, p, [1]), TypeError, "read(): validate takes True or False"),
    (lambda h, t, p: h.async_pread(t, p, "4096"), TypeError, "async_pread(): file_offset takes an integer, not '4096'"),
    (lambda h, t, p: h.sync_pread(t, 2.5), TypeError, "sync_pread(): filename takes a path or an open file"),
    (lambda h, t, p: ds.aio_handle(block_size="1M"), TypeError, "aio_handle(): block_size takes an integer"),
    (lambda h, t, p: ds.aio_read(t, p, 4096, 8, False, False, "no"), TypeError, "aio_read(): validate takes"),
    (lambda h, t, p: h.new_cpu_locked_tensor(1.5, t), TypeError, "num_elem takes an integer, not 1.5"),
    (lambda h, t, p: swapio.Handle().read(t, p, 1 << 64), swapio.ConfigError, "offset 18446744073709551616 is past"),
    (lambda h, t, p: swapio.Handle().write(t, p, validate="no"), swapio.ConfigError, "validate takes True or False"),
])
def test_bad_arguments_get_one_line_naming_the_argument(folder, call, error, words):
    path = os.path.join(folder, "bad.swp")
    write_plain(path, b"x" * 4096)
    with pytest.raises(error) as e:
        call(ds.aio_handle(), torch.zeros(16, dtype=torch.uint8), path)
    message = str(e.value)
    assert words in message and "\n" not in message, message
    assert "incompatible function arguments" not in message
    assert read_plain(path, 4096) == b"x" * 4096


def test_help_shows_deepspeeds_signatures():
    text = pydoc.render_doc(ds.aio_handle, renderer=pydoc.plaintext)
    for signature in [
        "__init__(self, block_size=1048576, queue_depth=128, single_submit=False, overlap_events=False, "
        "intra_op_parallelism=1)",
        "pread(self, buffer, filename, validate, async, file_offset=0)",
        "pwrite(self, buffer, filename, validate, async, file_offset=0)",
        "read(self, buffer, filename, validate, file_offset=0)",
        "write(self, buffer, filename, validate, file_offset=0)",
        "sync_pread(self, buffer, filename, file_offset=0)",
        "sync_pwrite(self, buffer, filename, file_offset=0)",
        "async_pread(self, buffer, filename, file_offset=0)",
        "1. async_pwrite(self, buffer, filename, file_offset=0) -> int",
        "2. async_pwrite(self, buffer, fd, file_offset=0) -> int",
        "new_cpu_locked_tensor(self, num_elem, example_tenosr",
        "free_cpu_locked_tensor(self, tensor)",
        "is_pinned(self, buffer)",
        "get_alignment(self)",
        "wait(self)",
    ]:
        assert signature in text, signature
    pin = pydoc.render_doc(ds.pin_handle, renderer=pydoc.plaintext)
    for signature in ["new_cpu_locked_tensor(self, num_elem, example_tensor)", "free_cpu_locked_tensor(self, locked_tensor)",
                      "free_cpu_locked_tensor_by_ptr(self, address)", "is_pinned(self, buffer)"]:
        assert signature in pin, signature
