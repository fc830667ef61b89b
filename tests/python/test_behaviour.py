"""The frontend's behaviour beyond moving bytes: the GIL, threads, lifetimes, errors, leaks."""
import gc
import os
import resource
import threading
import time

import numpy as np
import pytest
import torch

import swapio
from conftest import pattern, read_plain, write_plain


def test_config_takes_the_knob_tables_names():
    c = swapio.Config(block_size="64K", queue_depth=8, intra_op_parallelism=2, engine="psync", direct="off",
                      single_submit=True, overlap_events=False, staging="always")
    assert c.block_size == 65536 and c.queue_depth == 8 and c.intra_op_parallelism == 2
    assert c.engine == "psync" and c.direct == "off" and c.single_submit and not c.overlap_events
    assert swapio.Config(io_parallel=3).intra_op_parallelism == 3  # the JSON key works too
    d = c.to_dict()
    assert set(d) == set(swapio.knob_names()) and d["block_size"] == 65536
    assert c.replace(queue_depth=4).queue_depth == 4 and c.queue_depth == 8
    assert swapio.Config() == swapio.Config(queue_depth=32)
    assert "queue_depth=8" in repr(c)
    with pytest.raises(AttributeError):
        c.no_such_knob


@pytest.mark.parametrize("knobs, match", [
    (dict(bogus=1), "unknown knob 'bogus'"),
    (dict(block_size=0), "block_size 0"),
    (dict(block_size="12Q"), "12Q"),
    (dict(queue_depth=-1), "queue_depth"),
    (dict(queue_depth=1 << 40), "queue_depth"),
    (dict(engine="spdk"), "engine 'spdk'"),
    (dict(single_submit=1), "single_submit takes True or False"),
    (dict(block_size=1.5), "block_size takes an int"),
    (dict(intra_op_parallelism=0), "intra_op_parallelism"),
])
def test_bad_knobs(knobs, match):
    with pytest.raises(swapio.ConfigError, match=match):
        swapio.Config(**knobs)
    with pytest.raises(ValueError, match=match):
        swapio.Handle(**knobs)


def test_errors_carry_their_fields(folder):
    missing = os.path.join(folder, "nope.swp")
    with pytest.raises(swapio.Error) as e:
        swapio.read_file(bytearray(10), missing)
    err = e.value
    assert isinstance(err, OSError) and err.errno == 2 and err.filename == missing
    assert missing in str(err) and "No such file" in str(err)

    short = os.path.join(folder, "short.swp")
    write_plain(short, b"y" * 100)
    with swapio.Handle() as h:
        with pytest.raises(swapio.Error) as e:
            h.read(bytearray(50), short, offset=60)
        assert e.value.offset == 60 and e.value.length == 50 and "past end of file" in str(e.value)
        assert e.value.errno != 0 and e.value.filename == short
        # An async op's range is checked when it is submitted: the call raises, nothing is pending.
        with pytest.raises(swapio.Error, match="past end of file"):
            h.read_async(bytearray(200), short)
        assert h.in_flight == 0 and h.wait() == 0
        f = h.read_async(bytearray(100), short)
        assert f.exception() is None and f.result().bytes == 100
        with pytest.raises(swapio.ConfigError, match="negative"):
            h.read(bytearray(1), short, offset=-1)


def test_memory_it_refuses():
    with swapio.Handle() as h:
        with pytest.raises(ValueError, match="not contiguous"):
            h.write(torch.zeros(10, 10).t(), "unused")
        with pytest.raises(ValueError, match="not C-contiguous"):
            h.write(np.zeros((10, 10))[:, ::2], "unused")
        with pytest.raises(swapio.ConfigError, match="read-only"):
            h.read(b"immutable", "unused")
        with pytest.raises(TypeError, match="buffer protocol"):
            h.read(3.5, "unused")

        host = np.zeros(4, dtype=np.float32)

        class CudaLike:  # says it is CUDA memory, but the address is host memory
            __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4",
                                        "data": (host.ctypes.data, False), "version": 3}

        with pytest.raises(swapio.ConfigError, match="not device memory of any visible device"):
            h.write(CudaLike(), "unused")
        meta = torch.empty(4, device="meta")
        with pytest.raises(swapio.ConfigError, match="on device 'meta'"):
            h.write(meta, "unused")


def test_the_gil_is_released_while_an_op_blocks(folder):
    n = 256 << 20
    path = os.path.join(folder, "gil.swp")
    buf = swapio.empty_pinned(n)
    with swapio.Handle(intra_op_parallelism=2) as h:
        h.write(buf, path)
        ticks = [0]
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                ticks[0] += 1

        t = threading.Thread(target=spin)
        t.start()
        try:
            time.sleep(0.05)
            best = 0
            for _ in range(3):
                before = ticks[0]
                r = h.read(buf, path)
                best = max(best, ticks[0] - before)
        finally:
            stop.set()
            t.join()
    # With the GIL held through the read, the spinning thread could not count at all.
    assert r.seconds > 0.01
    assert best > 10000, f"another Python thread counted only {best} times during a {r.seconds:.3f} s read"


def test_several_python_threads_on_one_handle(folder):
    per, threads = 1 << 20, 6
    path = os.path.join(folder, "threads.swp")
    data = [pattern(per, seed=s) for s in range(threads)]
    errors = []
    with swapio.Handle(intra_op_parallelism=3, block_size=65536, queue_depth=8) as h:
        def work(i):
            try:
                for _ in range(5):
                    src = torch.frombuffer(bytearray(data[i]), dtype=torch.uint8)
                    h.write(src, path, offset=i * per)
                    dst = torch.zeros(per, dtype=torch.uint8)
                    f = h.read_async(dst, path, offset=i * per, validate=True)
                    f.result()
                    assert bytes(dst.numpy()) == data[i]
            except Exception as e:  # reported below
                errors.append(e)

        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert errors == []
    assert read_plain(path, per * threads) == b"".join(data)


def test_a_tensor_dropped_while_its_async_op_runs(folder):
    n = 32 << 20
    data = pattern(n, seed=21)
    path = os.path.join(folder, "dropped.swp")
    with swapio.Handle(intra_op_parallelism=2) as h:
        src = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        f = h.write_async(src, path)
        del src, f
        gc.collect()
        garbage = [bytearray(pattern(1 << 20, seed=s)) for s in range(8)]  # reuse freed memory if it was
        assert h.wait() == 1
        del garbage
        dst = torch.zeros(n, dtype=torch.uint8)
        h.read_async(dst, path)
        del dst
        gc.collect()
        assert h.wait() == 1
    assert read_plain(path, n) == data


def test_a_bytearray_cannot_be_resized_while_an_op_holds_it(folder):
    path = os.path.join(folder, "resize.swp")
    write_plain(path, pattern(1 << 20))
    buf = bytearray(1 << 20)
    with swapio.Handle() as h:
        f = h.read_async(buf, path)
        if not f.done():
            with pytest.raises(BufferError):
                buf.extend(b"x")
        f.result()
        buf.extend(b"x")  # released once reported
    assert bytes(buf[: 1 << 20]) == pattern(1 << 20)


def test_futures_and_wait_report_each_op_once(folder):
    path = os.path.join(folder, "once.swp")
    write_plain(path, pattern(1 << 20))
    with swapio.Handle() as h:
        fs = [h.read_async(bytearray(65536), path, offset=i * 65536) for i in range(8)]
        assert fs[0].result().bytes == 65536
        assert fs[0].result().bytes == 65536  # the same result again
        assert h.wait() == 7
        assert all(f.done() for f in fs)
        assert [f.result().offset for f in fs] == [i * 65536 for i in range(8)]
        assert h.wait() == 0
        assert "done" in repr(fs[1])


def test_handle_close_and_context_manager(folder):
    path = os.path.join(folder, "close.swp")
    h = swapio.Handle()
    h.write_async(bytearray(pattern(100000)), path)
    h.close()  # waits for it
    assert h.closed and read_plain(path, 100000) == pattern(100000)
    for call in (lambda: h.write(bytearray(10), path), lambda: h.read_async(bytearray(10), path), lambda: h.engine):
        with pytest.raises(swapio.ConfigError, match="is closed"):  # swapio's error, not a bare RuntimeError
            call()
    assert h.wait() == 0
    with pytest.raises(ZeroDivisionError):
        with swapio.Handle() as g:
            g.write_async(bytearray(10), path + ".2")
            1 / 0
    assert g.closed
    with swapio.Handle() as k:
        assert k.engine in ("uring", "aio", "psync")
        assert "engine=" in repr(k)
    assert "closed" in repr(k)


def test_emulated_device_memory(folder):
    dev = swapio.open_device("emulated")
    assert dev.name == "emulated"
    mem = dev.empty(3 << 20)
    data = pattern(3 << 20, seed=23)
    mem.copy_from(data)
    path = os.path.join(folder, "dev.swp")
    with swapio.Handle(device_chunk_size="256K", device_chunks=4) as h:
        r = h.write(mem, path, validate=True)
        assert r.device == "emulated" and r.validated
        back = dev.empty(3 << 20)
        h.read_async(back, path, validate=True).result()
    assert back.tobytes() == data and read_plain(path, 3 << 20) == data
    host = np.zeros(3 << 20, np.uint8)
    back.copy_to(host)
    assert host.tobytes() == data
    with pytest.raises(swapio.ConfigError):
        swapio.open_device("tpu")


def test_no_leak_of_descriptors_or_memory_over_1000_ops(folder):
    path = os.path.join(folder, "leak.swp")
    src = torch.frombuffer(bytearray(pattern(65536)), dtype=torch.uint8)
    dst = torch.zeros(65536, dtype=torch.uint8)

    def fds():
        return len(os.listdir("/proc/self/fd"))

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    with swapio.Handle(intra_op_parallelism=2) as h:
        def ops(count):
            for i in range(count):
                if i % 4 == 0:
                    h.write(src, path)
                elif i % 4 == 1:
                    h.read(dst, path, validate=True)
                elif i % 4 == 2:
                    h.read_async(dst, path)
                else:
                    h.wait()
                    swapio.read_file(dst, path)
            h.wait()

        ops(200)
        gc.collect()
        fd0, rss0 = fds(), rss()
        ops(1000)
        gc.collect()
        fd1, rss1 = fds(), rss()
    assert fd1 == fd0, f"descriptors grew from {fd0} to {fd1} over 1000 ops"
    assert rss1 - rss0 < (8 << 20), f"resident memory grew by {(rss1 - rss0) >> 10} KiB over 1000 ops"
    assert bytes(dst.numpy()) == pattern(65536)


def test_help_shows_docstrings():
    assert "intra_op_parallelism" in swapio.Handle.__doc__
    assert "OSError" in swapio.Error.__doc__
    assert swapio.Handle.read_async.__doc__ and swapio.Future.result.__doc__
    assert swapio.__version__


def test_concurrent_waits_report_each_op_exactly_once(folder):
    path = os.path.join(folder, "waits.swp")
    write_plain(path, pattern(4 << 20))
    with swapio.Handle(intra_op_parallelism=2) as h:
        for _ in range(20):
            for i in range(16):
                h.read_async(bytearray(1 << 18), path, offset=i << 18)
            counts = []
            ts = [threading.Thread(target=lambda: counts.append(h.wait())) for _ in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert sum(counts) == 16, counts
            assert h.in_flight == 0


def test_offsets_take_any_integer(folder):
    path = os.path.join(folder, "index.swp")
    write_plain(path, pattern(10000))
    buf = bytearray(100)
    swapio.read_file(buf, path, offset=np.int64(5000))
    assert bytes(buf) == pattern(10000)[5000:5100]
    with pytest.raises(swapio.ConfigError, match="whole number"):
        swapio.read_file(buf, path, offset=1.0)
