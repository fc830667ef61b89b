"""swapio.Future: a concurrent.futures.Future settled as its op ends.

One thread of the process ("swapio-completions") takes the ops that have ended from the engine's
completion queue and settles their futures, so that ``concurrent.futures.wait``,
``as_completed``, ``add_done_callback`` and ``asyncio.wrap_future`` work; done callbacks run in
that thread, as they would in an executor's worker. A call that asks a future directly
(``result()``, ``done()``) settles it at once when its op has ended.
"""

import atexit as _atexit
import concurrent.futures as _cf
import os as _os
import threading as _threading
import warnings as _warnings

from . import _swapio
from ._errors import ConfigError

_lock = _threading.Lock()
_waiting = {}  # op serial -> Future, until settled
_thread = None
_thread_pid = None


def _serve():
    while True:
        serial = _swapio._next_completion()
        if serial is None:
            return
        with _lock:
            future = _waiting.pop(serial, None)
        if future is not None:
            future._settle()
        del future  # nothing here keeps a settled future alive


def _start():
    global _thread, _thread_pid
    if _thread is None or _thread_pid != _os.getpid():
        _thread = _threading.Thread(target=_serve, name="swapio-completions", daemon=True)
        _thread.start()
        _thread_pid = _os.getpid()


def _stop():
    # At exit, before the interpreter is torn down: the thread returns instead of being cut off.
    _swapio._stop_completions()
    if _thread is not None and _thread_pid == _os.getpid() and _thread.is_alive():
        _thread.join(timeout=10)


def _after_fork_in_child():
    global _lock, _waiting, _thread
    _lock = _threading.Lock()  # a parent thread may have held it at the fork
    _waiting = {}
    _thread = None


_atexit.register(_stop)
_os.register_at_fork(after_in_child=_after_fork_in_child)


def track(op):
    """The Future of op, just submitted."""
    future = Future(op)
    with _lock:
        _start()
        _waiting[op.serial] = future
    op.notify()
    return future


class Future(_cf.Future):
    """An asynchronous op, as a ``concurrent.futures.Future``.

    ``result(timeout=None)`` gives the op's OpResult (or raises its error),
    ``exception(timeout=None)`` its error or None, ``done()`` whether it has ended. ``cancel()``
    returns False: swapio starts every op when it is submitted. Works with
    ``concurrent.futures.wait``/``as_completed`` and ``asyncio.wrap_future``. The op's memory is
    kept alive until it has ended. Retrieving the outcome here (result() or exception()) takes the
    op out of what ``Handle.wait()`` counts. A future whose op failed, collected while nobody
    retrieved its error (result(), exception() or the handle's wait()/close()), warns with
    RuntimeWarning ("exception was never retrieved"), as asyncio does.
    """

    def __init__(self, op):
        super().__init__()
        self._op = op
        self._pid = _os.getpid()
        self.set_running_or_notify_cancel()

    def _settle(self):
        try:
            result = self._op.outcome()
        except BaseException as e:  # noqa: B902 - the op's error, whatever it is
            # Its traceback is this frame only: dropped, so that the error does not hold the future.
            self.set_exception(e.with_traceback(None))
        else:
            self.set_result(result)

    def _settle_here(self, wait):
        """Settles the future in the calling thread when its op has ended, or, with `wait`, once it
        ends (the op's outcome waits in the engine, the GIL released): a caller never depends on
        the completions thread, which may be the caller itself (a done callback)."""
        if self._pid != _os.getpid():
            raise ConfigError(f"this swapio.Future belongs to process {self._pid}, and its handle's threads did not "
                              "survive fork(); create a new Handle in the child")
        if super().done() or not (wait or self._op.done()):
            return
        with _lock:
            mine = _waiting.pop(self._op.serial, None) is not None
        if mine:
            self._settle()
        else:
            super().exception()  # the completions thread took it, its op has ended: a moment

    def done(self):
        """Whether the op has ended (successfully or not), without waiting."""
        self._settle_here(wait=False)
        return super().done()

    def result(self, timeout=None):
        """Waits up to timeout seconds (None: no limit) for the op; returns its OpResult or raises its
        error (concurrent.futures.TimeoutError when the time runs out)."""
        self._settle_here(wait=timeout is None)
        try:
            return super().result(timeout)
        finally:
            if super().done():
                self._op.report()

    def exception(self, timeout=None):
        """Waits as result() does; returns the op's error, or None when it succeeded."""
        self._settle_here(wait=timeout is None)
        error = super().exception(timeout)
        self._op.report()
        return error

    @property
    def id(self):
        """The op's id in its handle."""
        return self._op.id

    def __repr__(self):
        state = "done" if super().done() else "running"
        return f"<swapio.Future {'write' if self._op.write else 'read'} '{self._op.path}' {state}>"

    def __del__(self):
        try:
            if super().done() and self._exception is not None and not self._op.reported:
                _warnings.warn(f"swapio.Future exception was never retrieved: {self._exception}", RuntimeWarning,
                               stacklevel=2)
        except Exception:  # at interpreter exit the modules may be gone
            pass


Future.__module__ = "swapio"
