"""DeepSpeed's page-locked tensors: one registry for the process, as DeepSpeed's one pinned-tensor
manager, shared by every aio_handle and pin_handle (and so by DeepSpeed's native pin backend,
deepspeed/utils/pin_memory.py, once install() has routed PinMemoryBuilder here).

The registry holds the memory, not the tensor: a tensor nobody frees stays locked (as in
DeepSpeed), and a tensor's Python object can still be collected, which DeepSpeed's native pin
backend relies on to free by address. Freed memory goes when the last view on it does, so a
view that outlives free_cpu_locked_tensor never reads freed memory (DeepSpeed frees at once).
"""

import bisect as _bisect
import threading as _threading

import swapio as _swapio
from . import _deepspeed_args as _args


class _LockedRegistry:
    def __init__(self):
        self._lock = _threading.Lock()
        self._starts = []   # sorted start addresses
        self._entries = {}  # start -> (end, PinnedMemory)

    def new(self, func, num_elem, example):
        num_elem = _args.integer(func, "num_elem", num_elem)
        if num_elem < 0:
            raise _swapio.ConfigError(f"{func}(): num_elem must be >= 0, not {num_elem}")
        dtype = getattr(example, "dtype", None)
        if dtype is None:
            raise TypeError(f"{func}(): the example tensor must be a tensor, not {type(example).__name__}")
        tensor, memory = _swapio._pinned(num_elem, dtype)
        if memory is not None:
            start = memory.address
            with self._lock:
                _bisect.insort(self._starts, start)
                self._entries[start] = (start + memory.nbytes, memory)
        return tensor

    def free(self, start):
        with self._lock:
            if start not in self._entries:
                return False
            del self._entries[start]
            self._starts.remove(start)
        return True

    def contains(self, tensor):
        try:
            start = _swapio._swapio.address(tensor)
            end = start + _swapio.nbytes(tensor)
        except (TypeError, ValueError):
            return False
        with self._lock:
            i = _bisect.bisect_right(self._starts, start) - 1
            return i >= 0 and end <= self._entries[self._starts[i]][0]


_registry = _LockedRegistry()


def _address(tensor):
    try:
        return _swapio._swapio.address(tensor)
    except (TypeError, ValueError):
        return None


def new_cpu_locked_tensor(num_elem, example_tensor):
    """A page-locked CPU tensor of num_elem elements of the example's dtype."""
    return _registry.new("new_cpu_locked_tensor", num_elem, example_tensor)


def free_cpu_locked_tensor(tensor):
    """Forgets a tensor new_cpu_locked_tensor gave (by its start): True when it was one. Its memory
    is freed when the last view on it is."""
    start = _address(tensor)
    return start is not None and _registry.free(start)


def free_cpu_locked_tensor_by_ptr(address):
    """free_cpu_locked_tensor by the allocation's start address (tensor.data_ptr())."""
    return _registry.free(_args.integer("free_cpu_locked_tensor_by_ptr", "address", address))


def is_pinned(buffer):
    """Whether the tensor (or view) lies inside one locked allocation, or is page-locked by torch
    (buffer.is_pinned()): DeepSpeed's test for memory its engine moves without a copy."""
    if _registry.contains(buffer):
        return True
    torch_pinned = getattr(buffer, "is_pinned", None)
    try:
        return bool(torch_pinned()) if callable(torch_pinned) else False
    except RuntimeError:  # torch without an accelerator runtime cannot tell
        return False


class pin_handle:
    """DeepSpeed's pin-memory op (PinMemoryBuilder().load().pin_handle()): the locked-tensor calls,
    on the registry every aio_handle uses."""

    def new_cpu_locked_tensor(self, num_elem, example_tensor):
        """new_cpu_locked_tensor(self, num_elem, example_tensor): a page-locked CPU tensor."""
        return _registry.new("new_cpu_locked_tensor", num_elem, example_tensor)

    def free_cpu_locked_tensor(self, locked_tensor):
        """free_cpu_locked_tensor(self, locked_tensor) -> bool: True when it was locked here."""
        return free_cpu_locked_tensor(locked_tensor)

    def free_cpu_locked_tensor_by_ptr(self, address):
        """free_cpu_locked_tensor_by_ptr(self, address) -> bool: frees by the allocation's start."""
        return free_cpu_locked_tensor_by_ptr(address)

    def is_pinned(self, buffer):
        """is_pinned(self, buffer) -> bool: torch-pinned, or inside a locked allocation."""
        return is_pinned(buffer)
