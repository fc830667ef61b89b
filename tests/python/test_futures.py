"""swapio.Future is a concurrent.futures.Future: result/exception with a timeout, done, cancel,
callbacks, concurrent.futures.wait/as_completed, asyncio.wrap_future; an error nobody retrieved
warns; and the small things of the Pythonic API (any integer for a shape, the closed Handle's
error, the Error docstring's example)."""
import asyncio
import concurrent.futures as cf
import errno
import gc
import os
import re
import threading
import warnings

import numpy as np
import pytest
import torch

import swapio
import swapio.testing as st
from conftest import pattern, read_plain, write_plain


def slow_handle(delay_us):
    """A Handle whose every request completes delay_us late."""
    return swapio.Handle(st.with_faults(swapio.Config(block_size=65536), delay_us=delay_us, count=0))


def failing_handle(op="write"):
    """A Handle whose first `op` request fails with EIO."""
    return swapio.Handle(st.with_faults(swapio.Config(block_size=65536), error=errno.EIO, op=op))


def test_a_future_is_a_concurrent_futures_future(folder):
    path = os.path.join(folder, "f.swp")
    data = pattern(200000, seed=3)
    with slow_handle(500000) as h:  # every request 0.5 s late: the op runs while it is asked
        f = h.write_async(bytearray(data), path)
        assert isinstance(f, cf.Future) and isinstance(f, swapio.Future)
        assert not f.done() and f.running()
        assert f.cancel() is False and not f.cancelled()  # swapio starts every op when submitted
        with pytest.raises(cf.TimeoutError):
            f.result(timeout=0.001)
        with pytest.raises(cf.TimeoutError):
            f.exception(timeout=0.001)
        r = f.result(timeout=30)
        assert r.bytes == len(data) and r.write and f.done() and f.exception(timeout=0) is None
        assert f.cancel() is False
        assert h.wait() == 0, "an op whose result was retrieved is not counted again"
    assert read_plain(path, len(data)) == data


def test_callbacks_wait_and_as_completed(folder):
    paths = [os.path.join(folder, f"c{i}.swp") for i in range(6)]
    seen, threads = [], set()
    lock = threading.Lock()

    def callback(fut):
        with lock:
            seen.append(fut)
            threads.add(threading.current_thread().name)

    with slow_handle(300000) as h:  # late enough that every callback is added before its op ends
        fs = [h.write_async(bytearray(pattern(100000, seed=i)), p) for i, p in enumerate(paths)]
        for f in fs:
            f.add_done_callback(callback)
        done, not_done = cf.wait(fs, timeout=60, return_when=cf.ALL_COMPLETED)
        assert done == set(fs) and not not_done
        reads = [h.read_async(bytearray(100000), p) for p in paths]
        finished = list(cf.as_completed(reads, timeout=60))
        assert set(finished) == set(reads)
        for i, f in enumerate(reads):
            assert f.result().bytes == 100000 and f.result().path == paths[i]
        late = []
        fs[0].add_done_callback(late.append)  # already done: called at once, here
        assert late == [fs[0]]
    for _ in range(100):
        if len(seen) == len(fs):
            break
        threading.Event().wait(0.01)
    assert sorted(id(f) for f in seen) == sorted(id(f) for f in fs)
    assert threads == {"swapio-completions"}
    for i, p in enumerate(paths):
        assert read_plain(p, 100000) == pattern(100000, seed=i)


def test_a_done_callback_may_wait_for_another_future(folder):
    # Callbacks run on the thread that settles futures: waiting there for another op must not stop
    # that op's future from being settled.
    # One request at a time, each 0.3 s late: quick (1 request of 64 KiB) ends while slow (4) runs.
    config = st.with_faults(swapio.Config(block_size=65536, queue_depth=1), delay_us=300000, count=0)
    got, called = {}, threading.Event()
    with swapio.Handle(config) as h:
        quick = h.write_async(bytearray(65536), os.path.join(folder, "quick.swp"))
        slow = h.write_async(bytearray(pattern(262144)), os.path.join(folder, "slow.swp"))
        assert not quick.done(), "the callback must be added while quick runs"

        def callback(_):
            got["slow"] = slow.result().bytes
            called.set()

        quick.add_done_callback(callback)
        assert called.wait(30), "a done callback waiting for another future stopped the settling"
    assert got["slow"] == 262144
    assert read_plain(os.path.join(folder, "slow.swp"), 262144) == pattern(262144)


def test_asyncio_wrap_future(folder):
    path = os.path.join(folder, "a.swp")
    data = pattern(300000, seed=9)
    write_plain(path, data)

    async def main(h):
        bufs = [bytearray(100000) for _ in range(3)]
        futs = [asyncio.wrap_future(h.read_async(b, path, offset=i * 100000)) for i, b in enumerate(bufs)]
        results = await asyncio.gather(*futs)
        return bufs, results

    with slow_handle(2000) as h:
        bufs, results = asyncio.run(main(h))
    assert [r.offset for r in results] == [0, 100000, 200000]
    assert b"".join(bufs) == data


def test_a_failure_comes_through_result_and_exception(folder):
    path = os.path.join(folder, "e.swp")
    with failing_handle() as h:
        f = h.write_async(bytearray(100000), path)
        e = f.exception(timeout=30)
        assert isinstance(e, swapio.Error) and e.errno == errno.EIO and e.filename == path
        with pytest.raises(swapio.Error, match="Input/output error"):
            f.result()
        assert h.wait() == 0  # retrieved through the future: wait() neither counts nor raises it
        ok = h.write_async(bytearray(pattern(1000)), path)  # the handle stays usable
        assert ok.result().bytes == 1000


def test_an_error_nobody_retrieved_warns_when_its_future_goes(folder):
    path = os.path.join(folder, "w.swp")
    h = failing_handle()
    f = h.write_async(bytearray(100000), path)
    cf.wait([f], timeout=30)
    with pytest.warns(RuntimeWarning, match="exception was never retrieved.*Input/output error"):
        del f
        gc.collect()
    with pytest.raises(swapio.Error):
        h.wait()  # wait() still reports it
    h.close()


def _by_result(future, handle):
    with pytest.raises(swapio.Error):
        future.result()


def _by_exception(future, handle):
    assert isinstance(future.exception(), swapio.Error)


def _by_wait(future, handle):
    with pytest.raises(swapio.Error):
        handle.wait()


@pytest.mark.parametrize("retrieve", [_by_result, _by_exception, _by_wait])
def test_an_error_retrieved_does_not_warn(folder, retrieve):
    with failing_handle() as h:
        f = h.write_async(bytearray(100000), os.path.join(folder, "r.swp"))
        cf.wait([f], timeout=30)
        retrieve(f, h)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del f
            gc.collect()
        assert [str(w.message) for w in caught] == []


def test_submission_errors_raise_at_the_call_not_through_the_future(folder):
    with swapio.Handle() as h:
        with pytest.raises(swapio.Error) as e:
            h.read_async(bytearray(10), os.path.join(folder, "missing.swp"))
        assert e.value.errno == errno.ENOENT
        assert h.in_flight == 0


def test_a_closed_handle_raises_swapios_error(folder):
    h = swapio.Handle()
    h.close()
    with pytest.raises(swapio.ConfigError, match="this swapio.Handle is closed"):
        h.write(bytearray(10), os.path.join(folder, "c.swp"))


@pytest.mark.parametrize("shape", [np.int64(10), np.int32(10), (np.int64(2), np.uint8(5)), torch.tensor(10)])
def test_empty_pinned_takes_any_integer(shape):
    t = swapio.empty_pinned(shape, torch.float32)
    assert t.numel() == 10
    t.fill_(2.0)
    assert float(t.sum()) == 20.0
    with pytest.raises(swapio.ConfigError, match="shape"):
        swapio.empty_pinned(2.5)


def test_the_error_docstrings_example_is_shaped_as_real_messages(folder):
    shape = re.compile(r"^(\w+) (\S+) offset (\d+) length (\d+)(?: \([^)]*\))?: ([A-Z][^:]+)$")
    example = re.search(r"``(\w+ /\S+ offset .*?)``", swapio.Error.__doc__).group(1)
    assert shape.match(example), example
    with failing_handle() as h:
        real = str(h.write_async(bytearray(100000), os.path.join(folder, "d.swp")).exception(timeout=30))
    assert shape.match(real), real
    assert shape.match(example).group(1) == shape.match(real).group(1)  # the same op name ("write")
