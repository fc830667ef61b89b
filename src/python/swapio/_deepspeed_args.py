"""Arguments as DeepSpeed's op binding takes them: its names (one of them, 'async', a Python
keyword), its overloads, and its conversions (any integer for an int, True/False/None/an integer
for a bool), each bad value refused in one line that names the argument."""

import inspect as _inspect
import operator as _operator
import os as _os

import swapio as _swapio

_EMPTY = _inspect.Parameter.empty


def bind(name, params, defaults, args, kwargs):
    """The values of params (in order) from args and kwargs, as a pybind11 binding binds them."""
    if len(args) > len(params):
        raise TypeError(f"{name}() takes at most {len(params)} arguments ({len(args)} given)")
    values = dict(zip(params, args))
    for key, value in kwargs.items():
        if key not in params:
            raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
        if key in values:
            raise TypeError(f"{name}() got multiple values for argument '{key}'")
        values[key] = value
    missing = [p for p in params if p not in values and p not in defaults]
    if missing:
        raise TypeError(f"{name}() missing required argument '{missing[0]}'")
    return [values[p] if p in values else defaults[p] for p in params]


def bind_overloads(name, overloads, args, kwargs):
    """(index, values) of the first overload ((params, defaults, accepts)) whose names bind args
    and kwargs and whose accepts(values) is true; a TypeError listing them all otherwise."""
    for i, (params, defaults, accepts) in enumerate(overloads):
        try:
            values = bind(name, params, defaults, args, kwargs)
        except TypeError:
            continue
        if accepts(values):
            return i, values
    forms = "; ".join(f"{name}({', '.join(p)})" for p, _, _ in overloads)
    raise TypeError(f"{name}(): these arguments match none of its forms: {forms}")


def integer(func, name, value):
    """Any integer (int, numpy integers: operator.index), not a bool."""
    if not isinstance(value, bool):
        try:
            return _operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{func}(): {name} takes an integer, not {value!r}")


def flag(func, name, value):
    """DeepSpeed's bool: True, False, None (False), numpy.bool_ or an integer."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if type(value).__name__ == "bool_":  # numpy.bool_
        return bool(value)
    try:
        return _operator.index(value) != 0
    except TypeError:
        raise TypeError(f"{func}(): {name} takes True or False, not {value!r}") from None


def offset(func, value, name="file_offset"):
    """A file offset: an integer (TypeError otherwise, as pybind11's), then swapio's range check."""
    return _swapio._offset(integer(func, name, value), f"{func}(): {name}")


def is_descriptor(value):
    if isinstance(value, (bool, str, bytes)) or hasattr(value, "__fspath__"):
        return False
    try:
        _operator.index(value)
    except TypeError:
        return False
    return True


def target(func, value, name="filename"):
    """A path, or an open descriptor (any integer): the file it refers to, reopened through
    /proc/self/fd (so that O_DIRECT or not is swapio's choice) as its access mode allows."""
    if is_descriptor(value):
        fd = _operator.index(value)
        _os.fstat(fd)  # OSError EBADF for a descriptor that is not open
        return f"/proc/self/fd/{fd}"
    try:
        return _os.fspath(value)
    except TypeError:
        raise TypeError(f"{func}(): {name} takes a path or an open file descriptor, not {value!r}") from None


def signature(params, defaults):
    """inspect.Signature (self, params...) for help(): DeepSpeed's names, 'async' included,
    which inspect.Parameter refuses as a keyword, so that one is renamed in place."""
    out = [_inspect.Parameter("self", _inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for p in params:
        param = _inspect.Parameter(p if p != "async" else "async_", _inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   default=defaults.get(p, _EMPTY))
        if p == "async":
            param._name = "async"  # shown as DeepSpeed names it
        out.append(param)
    return _inspect.Signature(out)


def with_signature(func, params, defaults):
    try:
        func.__signature__ = signature(params, defaults)
    except (AttributeError, TypeError, ValueError):  # another Python's inspect: the docstring says it
        pass
    return func
