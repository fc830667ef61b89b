"""DeepSpeed's ``async_io`` op, call for call, on swapio's engine.

    import swapio.deepspeed
    swapio.deepspeed.install()      # before deepspeed.initialize(...)

From then on ``deepspeed.ops.op_builder.AsyncIOBuilder().load()`` returns this module, so
ZeRO-Infinity's swapping runs through swapio. Or use it directly::

    from swapio.deepspeed import aio_handle
    h = aio_handle()                                  # DeepSpeed's defaults
    h.async_pwrite(tensor, "/nvme/t.swp"); h.wait()   # -> 0, then 1

Names, positional order, keyword names, defaults and return values are DeepSpeed's: a
synchronous op returns the number of ops completed (1), an asynchronous one returns 0 and
the next ``wait()`` returns how many completed since the last ``wait()``. Where DeepSpeed
returns -1 or asserts, this raises swapio.Error (an OSError), swapio.ConfigError (a
ValueError) or swapio.ValidationError. Any size, offset and dtype; plain (unlocked) CPU
tensors work too (copied through swapio's staging memory).
"""

import bisect as _bisect
import operator as _operator
import os as _os
import sys as _sys
import threading as _threading

import swapio as _swapio

__all__ = [
    "aio_handle", "aio_read", "aio_write", "deepspeed_memcpy", "free_cpu_locked_tensor", "install",
    "is_pinned", "new_cpu_locked_tensor", "pin_handle", "uninstall",
]

_ALIGNMENT = 4096  # transfers whose offset and size are multiples of this are direct end to end


def _target(filename):
    """A path, or an open descriptor: the file it refers to, reopened through /proc/self/fd (so
    O_DIRECT or not is swapio's choice) as its access mode allows: a read-only or O_APPEND
    descriptor is refused for writes, a write-only one for reads (EBADF, as DeepSpeed's op)."""
    if isinstance(filename, bool):
        raise TypeError("filename must be a path or an open file descriptor, not a bool")
    if isinstance(filename, int):
        _os.fstat(filename)  # OSError EBADF for a descriptor that is not open
        return f"/proc/self/fd/{filename}"
    return _os.fspath(filename)


def _bind(name, params, defaults, args, kwargs):
    """Binds DeepSpeed's argument names (one of them, 'async', is a Python keyword)."""
    if len(args) > len(params):
        raise TypeError(f"{name}() takes at most {len(params)} arguments ({len(args)} given)")
    values = dict(zip(params, args))
    for key, value in kwargs.items():
        if key not in params:
            raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
        if key in values:
            raise TypeError(f"{name}() got multiple values for argument '{key}'")
        values[key] = value
    out = []
    for p in params:
        if p in values:
            out.append(values[p])
        elif p in defaults:
            out.append(defaults[p])
        else:
            raise TypeError(f"{name}() missing required argument '{p}'")
    return out


# ---- page-locked tensors: one registry for the process -----------------------------------

class _LockedRegistry:
    def __init__(self):
        self._lock = _threading.Lock()
        self._starts = []   # sorted start addresses
        self._entries = {}  # start -> (end, tensor)

    def new(self, num_elem, example):
        try:
            num_elem = _operator.index(num_elem)
        except TypeError:
            num_elem = -1
        if isinstance(num_elem, bool) or num_elem < 0:
            raise _swapio.ConfigError(f"num_elem must be a whole number >= 0, not {num_elem!r}")
        dtype = getattr(example, "dtype", None)
        if dtype is None:
            raise _swapio.ConfigError(f"example tensor {type(example).__name__} has no dtype")
        t = _swapio.empty_pinned(num_elem, dtype)
        if num_elem == 0:
            return t
        start = _swapio._swapio.address(t)
        with self._lock:
            _bisect.insort(self._starts, start)
            self._entries[start] = (start + _swapio.nbytes(t), t)
        return t

    def free(self, tensor):
        start = _swapio._swapio.address(tensor)
        with self._lock:
            if start not in self._entries:
                return False
            del self._entries[start]
            self._starts.remove(start)
        return True  # the memory goes when the last view on it does

    def contains(self, tensor):
        try:
            start = _swapio._swapio.address(tensor)
            end = start + _swapio.nbytes(tensor)
        except (TypeError, ValueError):
            return False
        with self._lock:
            i = _bisect.bisect_right(self._starts, start) - 1
            if i < 0:
                return False
            return end <= self._entries[self._starts[i]][0]


_registry = _LockedRegistry()


def new_cpu_locked_tensor(num_elem, example_tenosr=None, *, example_tensor=None):
    """A page-locked CPU tensor of num_elem elements of the example's dtype (DeepSpeed spells
    the keyword example_tenosr; example_tensor is taken too)."""
    example = example_tenosr if example_tenosr is not None else example_tensor
    if example is None:
        raise TypeError("new_cpu_locked_tensor() missing required argument 'example_tenosr'")
    return _registry.new(num_elem, example)


def free_cpu_locked_tensor(tensor):
    """Forgets a tensor new_cpu_locked_tensor gave: True when it was one. Its memory is freed
    when the last view on it is (never under a live view)."""
    return _registry.free(tensor)


def is_pinned(tensor):
    """Whether the tensor (or view) lies inside memory new_cpu_locked_tensor locked, through
    any handle, or is page-locked by torch itself (tensor.is_pinned())."""
    if _registry.contains(tensor):
        return True
    torch_pinned = getattr(tensor, "is_pinned", None)
    try:
        return bool(torch_pinned()) if callable(torch_pinned) else False
    except RuntimeError:  # torch without an accelerator runtime cannot tell
        return False


class pin_handle:
    """DeepSpeed's pin-memory op: the locked-tensor calls, sharing aio_handle's registry."""

    def new_cpu_locked_tensor(self, num_elem, example_tenosr=None, *, example_tensor=None):
        return new_cpu_locked_tensor(num_elem, example_tenosr, example_tensor=example_tensor)

    def free_cpu_locked_tensor(self, tensor):
        return free_cpu_locked_tensor(tensor)

    def is_pinned(self, tensor):
        return is_pinned(tensor)


# ---- the handle ---------------------------------------------------------------------------

class aio_handle(pin_handle):
    """DeepSpeed's aio_handle: block_size bytes per request, queue_depth requests in flight
    per thread, intra_op_parallelism threads each taking one slice of every parallel op. The
    locked-tensor calls are pin_handle's (one registry for the process)."""

    def __init__(self, block_size=1048576, queue_depth=128, single_submit=False, overlap_events=False,
                 intra_op_parallelism=1):
        self._config = _swapio.Config(block_size=block_size, queue_depth=queue_depth, single_submit=single_submit,
                                      overlap_events=overlap_events, intra_op_parallelism=intra_op_parallelism)
        self._handle = _swapio.Handle(self._config)
        self._serial = None
        self._serial_lock = _threading.Lock()

    def _serial_handle(self):
        # read()/write() are DeepSpeed's non-parallel ops: one thread.
        with self._serial_lock:
            if self._serial is None:
                if self._config.intra_op_parallelism == 1:
                    self._serial = self._handle
                else:
                    self._serial = _swapio.Handle(self._config.replace(intra_op_parallelism=1))
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
        """The offset and size alignment at which a transfer is direct end to end (swapio takes
        any; unaligned edges go through its staging memory)."""
        return _ALIGNMENT

    def read(self, buffer, filename, validate, file_offset=0):
        """Synchronous and non-parallel file read. Returns the count of completed ops (1)."""
        self._serial_handle().read(buffer, _target(filename), file_offset, validate)
        return 1

    def write(self, buffer, filename, validate, file_offset=0):
        """Synchronous and non-parallel file write. Returns the count of completed ops (1)."""
        self._serial_handle().write(buffer, _target(filename), file_offset, validate)
        return 1

    def _parallel(self, write, buffer, filename, validate, run_async, file_offset):
        h = self._handle
        (h.write_async if write else h.read_async)(buffer, _target(filename), file_offset, validate)
        if run_async:
            return 0
        # As DeepSpeed's: a synchronous parallel op waits for everything pending, and returns how
        # many ops that completed (1 when nothing else was in flight).
        return h.wait()

    def pread(self, *args, **kwargs):
        """pread(buffer, filename, validate, async, file_offset=0): parallel read. Returns 0 when
        async (the next wait() counts it), else waits for every op in flight and returns how many
        completed (1 when it was alone)."""
        buffer, filename, validate, run_async, file_offset = _bind(
            "pread", ("buffer", "filename", "validate", "async", "file_offset"), {"file_offset": 0}, args, kwargs)
        return self._parallel(False, buffer, filename, validate, run_async, file_offset)

    def pwrite(self, *args, **kwargs):
        """pwrite(buffer, filename, validate, async, file_offset=0): parallel write. Returns 0 when
        async (the next wait() counts it), else waits for every op in flight and returns how many
        completed (1 when it was alone)."""
        buffer, filename, validate, run_async, file_offset = _bind(
            "pwrite", ("buffer", "filename", "validate", "async", "file_offset"), {"file_offset": 0}, args, kwargs)
        return self._parallel(True, buffer, filename, validate, run_async, file_offset)

    def sync_pread(self, buffer, filename, file_offset=0):
        """Synchronous parallel read: waits for every op in flight; returns how many completed."""
        return self._parallel(False, buffer, filename, False, False, file_offset)

    def sync_pwrite(self, buffer, filename, file_offset=0):
        """Synchronous parallel write: waits for every op in flight; returns how many completed."""
        return self._parallel(True, buffer, filename, False, False, file_offset)

    def async_pread(self, buffer, filename, file_offset=0):
        """Asynchronous parallel read. Returns 0; the next wait() counts it."""
        return self._parallel(False, buffer, filename, False, True, file_offset)

    def async_pwrite(self, buffer, filename, file_offset=0):
        """Asynchronous parallel write, to a path or an open descriptor (fd). Returns 0; the next
        wait() counts it."""
        return self._parallel(True, buffer, filename, False, True, file_offset)

    def wait(self):
        """Waits for the async ops; returns how many completed since the last wait(). Raises the
        first failure among them once all have ended."""
        return self._handle.wait()



# ---- the basic API ------------------------------------------------------------------------

def _basic(write, buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate):
    config = _swapio.Config(block_size=block_size, queue_depth=queue_depth, single_submit=single_submit,
                            overlap_events=overlap_events)
    (_swapio.write_file if write else _swapio.read_file)(buffer, _target(filename), 0, validate, config)
    return 0


def aio_read(buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate):
    """One-shot read of the whole buffer from the start of the file. Returns 0."""
    return _basic(False, buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate)


def aio_write(buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate):
    """One-shot write of the whole buffer to the start of the file. Returns 0."""
    return _basic(True, buffer, filename, block_size, queue_depth, single_submit, overlap_events, validate)


def deepspeed_memcpy(dest, src):
    """Copies src into dest (the same number of bytes), the GIL released. Returns 0."""
    _swapio._swapio.memcpy(dest, src)
    return 0


# ---- routing DeepSpeed to swapio ----------------------------------------------------------

_saved = {}


def install():
    """Makes DeepSpeed's async_io op swapio's: AsyncIOBuilder().load() returns this module (and
    is_compatible() is True), and deepspeed.ops.aio is this module. Idempotent; uninstall()
    undoes it. Raises ImportError where DeepSpeed is not importable."""
    try:
        import deepspeed.ops.op_builder as op_builder
    except ImportError as e:
        raise ImportError(f"swapio.deepspeed.install(): DeepSpeed is not importable ({e})") from e
    cls = op_builder.AsyncIOBuilder
    this = _sys.modules[__name__]
    if "class" not in _saved:
        _saved["class"] = (cls, {k: cls.__dict__[k] for k in ("load", "is_compatible") if k in cls.__dict__})

        def load(self, verbose=True):
            return this

        def is_compatible(self, verbose=True):
            return True

        cls.load = load
        cls.is_compatible = is_compatible
    import deepspeed.ops as ops
    if "aio" not in _saved:
        try:
            import deepspeed.ops.aio as original
        except ImportError:
            original = None
        _saved["aio"] = (_sys.modules.get("deepspeed.ops.aio"), ops.__dict__.get("aio"), [])
        # What DeepSpeed imports from its aio package (AsyncIOBuilder, ...) stays importable.
        for name in dir(original) if original is not None else []:
            if not name.startswith("_") and not hasattr(this, name):
                setattr(this, name, getattr(original, name))
                _saved["aio"][2].append(name)
    _sys.modules["deepspeed.ops.aio"] = this
    ops.aio = this
    return this


def uninstall():
    """Undoes install()."""
    if "class" in _saved:
        cls, methods = _saved.pop("class")
        for k in ("load", "is_compatible"):
            if k in methods:
                setattr(cls, k, methods[k])
            elif k in cls.__dict__:
                delattr(cls, k)
    if "aio" in _saved:
        module, attr, borrowed = _saved.pop("aio")
        for name in borrowed:
            delattr(_sys.modules[__name__], name)
        import deepspeed.ops as ops
        if module is None:
            _sys.modules.pop("deepspeed.ops.aio", None)
        else:
            _sys.modules["deepspeed.ops.aio"] = module
        if attr is None:
            ops.__dict__.pop("aio", None)
        else:
            ops.aio = attr
