"""swapio: move tensors between memory and files on NVMe as fast as the device allows.

    import swapio, torch
    t = swapio.empty_pinned((1024, 1024), torch.float32)   # page-locked, huge-page memory
    with swapio.Handle(queue_depth=64, intra_op_parallelism=2) as h:
        h.write(t, "/nvme/x.swp")                           # -> OpResult
        f = h.read_async(t, "/nvme/x.swp")                  # -> Future
        print(f.result().gib_per_s)

Memory is taken by its Python protocols: CPU torch tensors (any dtype; contiguous), objects
with the buffer protocol (numpy arrays, bytearray, memoryview, mmap), swapio's device memory
(``swapio.open_device("emulated").empty(n)``), and CUDA tensors (their device, after torch's
current stream of it) and CUDA Array Interface objects (after the stream they name). Memory swapio did not allocate is
copied through swapio's own staging buffers, as in C++. Every call that blocks releases the
GIL. Errors: swapio.Error (an OSError), swapio.ConfigError (a ValueError),
swapio.ValidationError. DeepSpeed's async_io op, call for call: swapio.deepspeed.
"""

import operator as _operator
import os as _os
from math import prod as _prod

from ._errors import ConfigError, Error, ValidationError
from . import _swapio
from ._swapio import Config, Device, DeviceMemory, OpResult, PinnedMemory
from . import _future
from ._future import Future

__version__ = _swapio.__version__

__all__ = [
    "Config", "ConfigError", "Device", "DeviceMemory", "Error", "Future", "Handle", "OpResult",
    "PinnedMemory", "ValidationError", "cuda_built", "empty_pinned", "gds_deregister", "gds_info", "gds_register",
    "gds_summary", "knob_names", "open_device", "read_file", "write_file",
]


def _make_config(config, knobs):
    if config is None:
        return Config(**knobs)
    if not isinstance(config, Config):
        raise TypeError(f"config must be a swapio.Config, not {type(config).__name__}")
    return config.replace(**knobs) if knobs else config


_MAX_OFFSET = (1 << 63) - 1  # the largest file offset (off_t)


def _offset(offset, name="offset"):
    """A file offset (int, numpy integers) from 0 to 2^63 - 1; `name` names it in errors."""
    if isinstance(offset, bool):
        raise ConfigError(f"{name} must be a whole number of bytes, not {offset!r}")
    try:
        offset = _operator.index(offset)  # int, numpy integers
    except TypeError:
        raise ConfigError(f"{name} must be a whole number of bytes, not {offset!r}") from None
    if offset < 0:
        raise ConfigError(f"{name} {offset} is negative")
    if offset > _MAX_OFFSET:
        raise ConfigError(f"{name} {offset} is past the largest file offset (2^63 - 1)")
    return offset


def _flag(name, value):
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy.bool_ too
        return bool(value)
    raise ConfigError(f"{name} takes True or False, not {value!r}")


def _path(path):
    return _os.fspath(path)


class Handle:
    """A persistent engine: ``intra_op_parallelism`` worker threads, each with its own ring.

    ``Handle(config=None, **knobs)``: a swapio.Config, and/or knobs by name (see
    ``help(swapio.Config)``). A context manager: leaving the block waits for the ops in
    flight and stops the threads. Safe to call from several Python threads at once.

    read/write move ``nbytes(tensor)`` bytes between the memory and
    ``[offset, offset + nbytes)`` of the file, and return an OpResult. A read needs the range
    inside the file; a write creates the file if needed (never truncating it). With
    ``validate=True`` the bytes are checked against an independent read of the file
    (swapio.ValidationError names the first differing offset).

    read_async/write_async return a swapio.Future (a concurrent.futures.Future); the memory is
    kept alive until the op has ended. Bad arguments and a file the op cannot use (missing for a
    read, a range past its end, no permission) raise at submission, not through the future;
    what goes wrong while the op runs (an I/O error, validation) comes through the future, or
    through wait() for ops whose outcome nobody retrieved from their future.
    """

    def __init__(self, config=None, **knobs):
        self._h = _swapio._Handle(_make_config(config, knobs))

    def read(self, tensor, path, offset=0, validate=False):
        """File -> memory, synchronously. Returns an OpResult."""
        return self._h.transfer(False, tensor, _path(path), _offset(offset), _flag("validate", validate))

    def write(self, tensor, path, offset=0, validate=False):
        """Memory -> file, synchronously. Returns an OpResult."""
        return self._h.transfer(True, tensor, _path(path), _offset(offset), _flag("validate", validate))

    def read_async(self, tensor, path, offset=0, validate=False):
        """File -> memory, asynchronously. Returns a swapio.Future (a concurrent.futures.Future
        whose result() is the OpResult)."""
        return _future.track(self._h.submit(False, tensor, _path(path), _offset(offset), _flag("validate", validate)))

    def write_async(self, tensor, path, offset=0, validate=False):
        """Memory -> file, asynchronously. Returns a swapio.Future (see read_async)."""
        return _future.track(self._h.submit(True, tensor, _path(path), _offset(offset), _flag("validate", validate)))

    def wait(self):
        """Waits for every async op not yet reported; returns how many it reported and raises
        the first failure among them (in submission order) once all have ended."""
        return self._h.wait()

    def close(self):
        """Waits for the ops in flight (raising the first failure), then stops the threads."""
        self._h.close()

    @property
    def closed(self):
        return self._h.closed

    @property
    def in_flight(self):
        """Async ops submitted and not yet reported."""
        return self._h.in_flight

    @property
    def config(self):
        return self._h.config

    @property
    def engine(self):
        """The backend the workers run: 'uring', 'aio' or 'psync'."""
        return self._h.engine

    @property
    def engine_note(self):
        """Why engine='auto' fell back, and kernel features refused ('' when none)."""
        return self._h.engine_note

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            try:
                self.close()
            except Exception:  # the exception already leaving the block is the one to see
                pass
        return False

    def __repr__(self):
        if self.closed:
            return "<swapio.Handle closed>"
        return f"<swapio.Handle engine={self.engine} in_flight={self.in_flight} {self.config!r}>"


def read_file(tensor, path, offset=0, validate=False, config=None, **knobs):
    """The basic API: a one-shot read that sets up (file, rings, threads) and tears down per
    call, as DeepSpeed's aio_read. Returns an OpResult."""
    return _swapio.transfer(False, tensor, _path(path), _make_config(config, knobs), _offset(offset), _flag("validate", validate))


def write_file(tensor, path, offset=0, validate=False, config=None, **knobs):
    """The basic API: a one-shot write (see read_file). Returns an OpResult."""
    return _swapio.transfer(True, tensor, _path(path), _make_config(config, knobs), _offset(offset), _flag("validate", validate))


def nbytes(tensor):
    """The bytes an op on this memory moves (raises as an op would for memory it refuses)."""
    return _swapio.nbytes(tensor)


def _resolve_dtype(dtype):
    """('torch', torch.dtype, itemsize) or ('numpy', numpy.dtype, itemsize)."""
    if dtype is None:
        try:
            import torch
        except ImportError:
            import numpy
            return "numpy", numpy.dtype("uint8"), 1
        return "torch", torch.uint8, 1
    if type(dtype).__module__ == "torch":
        import torch
        return "torch", dtype, torch.empty((), dtype=dtype).element_size()
    import numpy
    dt = numpy.dtype(dtype)
    return "numpy", dt, dt.itemsize


def empty_pinned(shape, dtype=None):
    """A tensor on swapio's page-locked, 2 MiB-aligned, huge-page host memory: the memory
    swapio moves without staging (DMA in large physical pieces).

    ``shape``: an integer (elements; bytes for the default dtype; numpy integers too) or a
    tuple of them. ``dtype``: a torch dtype (-> torch tensor), a numpy dtype (-> numpy array),
    or None (torch.uint8, or numpy.uint8 where torch is not installed). The memory is freed
    when the last tensor or view on it is. Raises swapio.Error where page-locking is refused
    (RLIMIT_MEMLOCK).
    """
    return _pinned(shape, dtype)[0]


def _dims(shape):
    try:
        try:
            dims = (shape,) if isinstance(shape, bool) else (_operator.index(shape),)  # any integer
        except TypeError:
            dims = tuple(shape)
        if any(isinstance(d, bool) for d in dims):
            raise TypeError
        dims = tuple(_operator.index(d) for d in dims)
    except TypeError:
        raise ConfigError(f"shape must be whole numbers >= 0, not {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ConfigError(f"shape must be whole numbers >= 0, not {shape!r}")
    return dims


def _pinned(shape, dtype):
    """(tensor, its PinnedMemory or None when empty)."""
    dims = _dims(shape)
    kind, dt, itemsize = _resolve_dtype(dtype)
    count = _prod(dims)
    if kind == "torch":
        import torch
        if count == 0:
            return torch.empty(dims, dtype=dt), None
        mem = PinnedMemory(count * itemsize)
        return torch.frombuffer(mem, dtype=dt, count=count).reshape(dims), mem
    import numpy
    if count == 0:
        return numpy.empty(dims, dtype=dt), None
    mem = PinnedMemory(count * itemsize)
    return numpy.frombuffer(mem, dtype=dt, count=count).reshape(dims), mem


def open_device(spec):
    """A device by spec: "emulated" (the host emulation of a GPU, whose memory the host
    cannot touch directly: the same staged pipeline, for tests), "cuda" or "cuda:N".
    ``device.empty(nbytes)`` gives DeviceMemory to pass to the same calls as host memory.
    Raises swapio.ConfigError for an unknown spec or where no such device is visible."""
    return _swapio.open_device(spec)


def cuda_built():
    """Whether this build can drive CUDA devices."""
    return _swapio.cuda_built()


def gds_info():
    """GPUDirect Storage on this machine: {'loaded': bool, 'library': name, 'version': cuFile's
    (1150: 1.15; 0 where unknown), 'nvidia_fs': bool (False: cuFile runs in compat mode),
    'why_not': why the library is not loaded}. Ops use it by the gds knob (auto|on|off); each
    OpResult says whether its body went by cuFile (gds) and why not (gds_note)."""
    return _swapio.gds_info()


def gds_summary():
    """gds_info() in one line: "cuFile 1.15 (libcufile.so.0), nvidia-fs loaded" or "no: why"."""
    return _swapio.gds_summary()


def gds_register(buffer):
    """Registers device memory (a CUDA tensor, DeviceMemory) with cuFile until gds_deregister,
    so GDS ops on it skip cuFile's bounce buffers. Raises ConfigError where GDS is unavailable
    or the buffer is host memory, swapio.Error with cuFile's error (already registered)."""
    _swapio.gds_register(buffer)


def gds_deregister(buffer):
    """Undoes gds_register; raises swapio.Error with cuFile's error when it was not registered."""
    _swapio.gds_deregister(buffer)


def knob_names():
    """The names swapio.Config takes."""
    return list(_swapio.knob_names())
