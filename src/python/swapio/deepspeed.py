"""DeepSpeed's ``async_io`` and ``pin_memory`` ops, call for call, on swapio's engine.

    import swapio.deepspeed
    swapio.deepspeed.install()      # before deepspeed.initialize(...)

From then on ``deepspeed.ops.op_builder.AsyncIOBuilder().load()`` (and ``PinMemoryBuilder``'s)
returns this module, so ZeRO-Infinity's swapping runs through swapio. Or use it directly::

    from swapio.deepspeed import aio_handle
    h = aio_handle()                                  # DeepSpeed's defaults
    h.async_pwrite(tensor, "/nvme/t.swp"); h.wait()   # -> 0, then 1

Names, positional order, keyword names, defaults and return values are those of DeepSpeed's
code (v0.19): read() and write() return 0; a synchronous parallel op waits for every op in
flight and returns how many completed; an asynchronous one returns 0 and the next ``wait()``
returns how many completed since the last ``wait()``. Where DeepSpeed returns -1, asserts or
drops an error, this raises swapio.Error (an OSError), swapio.ConfigError (a ValueError) or
swapio.ValidationError, at the call for bad arguments and files that cannot be opened, at
``wait()`` for I/O errors. Any size, offset, dtype and view; plain (unlocked) CPU tensors
work too (copied through swapio's staging memory).
"""

import sys as _sys
import threading as _threading

import swapio as _swapio
from . import _deepspeed_args as _args
from . import _deepspeed_gds
from . import _deepspeed_install
from ._deepspeed_pin import (free_cpu_locked_tensor, free_cpu_locked_tensor_by_ptr, is_pinned,  # noqa: F401
                             new_cpu_locked_tensor, pin_handle)

__all__ = [
    "aio_handle", "aio_read", "aio_write", "deepspeed_memcpy", "free_cpu_locked_tensor",
    "free_cpu_locked_tensor_by_ptr", "gds_handle", "install", "is_pinned", "new_cpu_locked_tensor", "pin_handle", "uninstall",
]

_O_DIRECT_ALIGNMENT = 512  # DeepSpeed's: get_alignment() is intra_op_parallelism times this

# DeepSpeed's parameter lists: (names, defaults).
_PARALLEL = (("buffer", "filename", "validate", "async", "file_offset"), {"file_offset": 0})
_BY_PATH = (("buffer", "filename", "file_offset"), {"file_offset": 0})
_BY_FD = (("buffer", "fd", "file_offset"), {"file_offset": 0})


class aio_handle:
    """DeepSpeed's aio_handle: block_size bytes per request, queue_depth requests in flight
    per thread, intra_op_parallelism threads each taking one slice of every parallel op.

    aio_handle(self, block_size=1048576, queue_depth=128, single_submit=False,
    overlap_events=False, intra_op_parallelism=1)

    Every method takes DeepSpeed's argument names, positions and defaults and returns what
    DeepSpeed's returns; see the README's DeepSpeed table for the differences (errors raise).
    Device tensors go through pinned host memory, never GPUDirect Storage (gds_handle's).
    """

    _GDS = "off"

    def __init__(self, block_size=1048576, queue_depth=128, single_submit=False, overlap_events=False,
                 intra_op_parallelism=1):
        f = "aio_handle"
        self._config = _swapio.Config(
            block_size=_args.integer(f, "block_size", block_size),
            queue_depth=_args.integer(f, "queue_depth", queue_depth),
            single_submit=_args.flag(f, "single_submit", single_submit),
            overlap_events=_args.flag(f, "overlap_events", overlap_events),
            intra_op_parallelism=_args.integer(f, "intra_op_parallelism", intra_op_parallelism),
            gds=self._GDS)
        self._engine = _swapio._swapio._Handle(self._config)
        self._serial = None
        self._serial_lock = _threading.Lock()

    def _serial_engine(self):
        # read()/write() are DeepSpeed's non-parallel ops: one thread, apart from the parallel ops.
        with self._serial_lock:
            if self._serial is None:
                self._serial = _swapio._swapio._Handle(self._config.replace(intra_op_parallelism=1))
            return self._serial

    def get_block_size(self):
        return self._config.block_size

    def get_queue_depth(self):
        return self._config.queue_depth

    def get_single_submit(self):
        return self._config.single_submit

    def get_overlap_events(self):
        return self._config.overlap_events

    def get_intra_op_parallelism(self):
        return self._config.intra_op_parallelism

    get_thread_count = get_intra_op_parallelism  # DeepSpeed's older name

    def get_alignment(self):
        """intra_op_parallelism x 512, as DeepSpeed's: the unit its I/O buffers (deepspeed/io) keep
        sizes and offsets to. swapio itself takes any size and offset."""
        return self._config.intra_op_parallelism * _O_DIRECT_ALIGNMENT

    def _serial_op(self, func, write, buffer, filename, validate, file_offset):
        path = _args.target(func, filename)
        validate = _args.flag(func, "validate", validate)
        file_offset = _args.offset(func, file_offset)
        self._serial_engine().transfer(write, buffer, path, file_offset, validate)
        return 0

    def read(self, buffer, filename, validate, file_offset=0):
        """Synchronous and non-parallel file read. Returns 0, as DeepSpeed's code does."""
        return self._serial_op("read", False, buffer, filename, validate, file_offset)

    def write(self, buffer, filename, validate, file_offset=0):
        """Synchronous and non-parallel file write. Returns 0, as DeepSpeed's code does."""
        return self._serial_op("write", True, buffer, filename, validate, file_offset)

    def _parallel(self, func, write, buffer, path, validate, run_async, file_offset):
        validate = _args.flag(func, "validate", validate)
        run_async = _args.flag(func, "async", run_async)
        file_offset = _args.offset(func, file_offset)
        self._engine.submit(write, buffer, path, file_offset, validate)
        if run_async:
            return 0
        # As DeepSpeed's: a synchronous parallel op waits for everything pending, and returns how
        # many ops that completed (1 when nothing else was in flight).
        return self._engine.wait()

    def pread(self, *args, **kwargs):
        """pread(self, buffer, filename, validate, async, file_offset=0) -> int

        Parallel read. Returns 0 when async (the next wait() counts it), else waits for every op
        in flight and returns how many completed (1 when it was alone)."""
        buffer, filename, validate, run_async, file_offset = _args.bind("pread", *_PARALLEL, args, kwargs)
        return self._parallel("pread", False, buffer, _args.target("pread", filename), validate, run_async, file_offset)

    def pwrite(self, *args, **kwargs):
        """pwrite(self, buffer, filename, validate, async, file_offset=0) -> int

        Parallel write. Returns 0 when async (the next wait() counts it), else waits for every op
        in flight and returns how many completed (1 when it was alone)."""
        buffer, filename, validate, run_async, file_offset = _args.bind("pwrite", *_PARALLEL, args, kwargs)
        return self._parallel("pwrite", True, buffer, _args.target("pwrite", filename), validate, run_async,
                              file_offset)

    def sync_pread(self, buffer, filename, file_offset=0):
        """Synchronous parallel read: waits for every op in flight; returns how many completed."""
        return self._parallel("sync_pread", False, buffer, _args.target("sync_pread", filename), False, False,
                              file_offset)

    def sync_pwrite(self, buffer, filename, file_offset=0):
        """Synchronous parallel write: waits for every op in flight; returns how many completed."""
        return self._parallel("sync_pwrite", True, buffer, _args.target("sync_pwrite", filename), False, False,
                              file_offset)

    def async_pread(self, buffer, filename, file_offset=0):
        """Asynchronous parallel read. Returns 0; the next wait() counts it."""
        return self._parallel("async_pread", False, buffer, _args.target("async_pread", filename), False, True,
                              file_offset)

    def async_pwrite(self, *args, **kwargs):
        """async_pwrite(*args, **kwargs)
        Overloaded function.

        1. async_pwrite(self, buffer, filename, file_offset=0) -> int
        2. async_pwrite(self, buffer, fd, file_offset=0) -> int

        Asynchronous parallel write, to a path or to an open file descriptor (used as it was
        opened: a read-only one is refused). Returns 0; the next wait() counts it."""
        form, (buffer, where, file_offset) = _args.bind_overloads(
            "async_pwrite", [(*_BY_PATH, lambda v: not _args.is_descriptor(v[1])),
                             (*_BY_FD, lambda v: _args.is_descriptor(v[1])),
                             (*_BY_PATH, lambda v: True)], args, kwargs)
        where = _args.target("async_pwrite", where, "fd" if form == 1 else "filename")
        return self._parallel("async_pwrite", True, buffer, where, False, True, file_offset)

    def wait(self):
        """Waits for the async ops; returns how many completed since the last wait(). Raises the
        first failure among them once all have ended."""
        return self._engine.wait()

    def new_cpu_locked_tensor(self, num_elem, example_tenosr=None, *, example_tensor=None):
        """new_cpu_locked_tensor(self, num_elem, example_tenosr): a page-locked CPU tensor of
        num_elem elements of the example's dtype (DeepSpeed's keyword is spelled example_tenosr;
        example_tensor is taken too)."""
        example = example_tenosr if example_tenosr is not None else example_tensor
        if example is None:
            raise TypeError("new_cpu_locked_tensor() missing required argument 'example_tenosr'")
        return new_cpu_locked_tensor(num_elem, example)

    def free_cpu_locked_tensor(self, tensor):
        """Forgets a tensor new_cpu_locked_tensor gave: True when it was one."""
        return free_cpu_locked_tensor(tensor)

    def is_pinned(self, buffer):
        """Whether the buffer is torch-pinned or inside memory new_cpu_locked_tensor locked (through
        any handle or pin_handle): what DeepSpeed's engine moves without a copy."""
        return is_pinned(buffer)


_args.with_signature(aio_handle.pread, *_PARALLEL)
_args.with_signature(aio_handle.pwrite, *_PARALLEL)

gds_handle = _deepspeed_gds.make_gds_handle(aio_handle)


# ---- the basic API ------------------------------------------------------------------------

def _basic(func, write, buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate):
    config = _swapio.Config(block_size=_args.integer(func, "block_size", block_size),
                            queue_depth=_args.integer(func, "queue_depth", queue_depth),
                            single_submit=_args.flag(func, "single_submit", single_submit),
                            overlap_events=_args.flag(func, "overlap_events", overlap_events))
    _swapio._swapio.transfer(write, buffer, _args.target(func, filename), config, 0,
                             _args.flag(func, "validate", validate))
    return 0


def aio_read(buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate):
    """One-shot read of the whole buffer from the start of the file. Returns 0."""
    return _basic("aio_read", False, buffer, filename, block_size, queue_depth, single_submit, overlap_events,
                  validate)


def aio_write(buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate):
    """One-shot write of the whole buffer to the start of the file. Returns 0."""
    return _basic("aio_write", True, buffer, filename, block_size, queue_depth, single_submit, overlap_events,
                  validate)


def deepspeed_memcpy(dest, src):
    """Copies src into dest (the same number of bytes), the GIL released. Returns 0."""
    _swapio._swapio.memcpy(dest, src)
    return 0


# ---- routing DeepSpeed to swapio ----------------------------------------------------------

def install():
    """Makes DeepSpeed's async_io, gds and pin_memory ops swapio's: AsyncIOBuilder().load(),
    GDSBuilder().load() and PinMemoryBuilder().load() return this module (their is_compatible() is True, and so are
    their entries in deepspeed.ops.__compatible_ops__), and deepspeed.ops.aio is this module.
    DeepSpeed's native pin backend (DS_PIN_MEMORY_BACKEND=native) then pins through
    pin_handle, on the registry every aio_handle sees. Call it before DeepSpeed pins or swaps
    anything. Idempotent; uninstall() undoes it. Raises ImportError where DeepSpeed is not
    importable."""
    return _deepspeed_install.install(_sys.modules[__name__])


def uninstall():
    """Undoes install()."""
    _deepspeed_install.uninstall(_sys.modules[__name__])
