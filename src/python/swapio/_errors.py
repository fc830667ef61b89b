"""swapio's exceptions (the engine raises these; import them from swapio)."""


class Error(OSError):
    """An I/O or system-call failure.

    An ``OSError``: ``errno``, ``strerror`` and ``filename`` as usual, and ``op`` (what was
    being done: "write", "read", "open", "fallocate", ...), ``offset`` and ``length`` (the file
    range). ``str()`` gives the whole message, e.g.
    ``write /data/x.swp offset 4096 length 1048576: No space left on device``.
    """

    def __init__(self, errno, message, filename=None, *, op="", offset=0, length=0):
        super().__init__(errno, message, filename)
        self.op = op
        self.offset = offset
        self.length = length

    def __str__(self):
        return str(self.strerror)

    def __reduce__(self):
        return (_make_error, (self.errno, self.strerror, self.filename, self.op, self.offset, self.length))


def _make_error(errno, message, filename, op, offset, length):
    return Error(errno, message, filename, op=op, offset=offset, length=length)


class ConfigError(ValueError):
    """A bad argument: a knob value that breaks its rule, an unknown knob, memory the op
    cannot use (non-contiguous, read-only for a read, on an unsupported device)."""


class ValidationError(RuntimeError):
    """The bytes in memory and in the file differ. ``file_offset`` and ``buffer_offset`` name
    the first differing byte."""

    def __init__(self, message, *, file_offset=0, buffer_offset=0):
        super().__init__(message)
        self.file_offset = file_offset
        self.buffer_offset = buffer_offset

    def __reduce__(self):
        return (_make_validation_error, (self.args[0], self.file_offset, self.buffer_offset))


def _make_validation_error(message, file_offset, buffer_offset):
    return ValidationError(message, file_offset=file_offset, buffer_offset=buffer_offset)


for _cls in (Error, ConfigError, ValidationError):
    _cls.__module__ = "swapio"
del _cls
