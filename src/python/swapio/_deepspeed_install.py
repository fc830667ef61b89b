"""Routing DeepSpeed's async_io and pin_memory ops to swapio.deepspeed, and back."""

import sys as _sys

# What install() changed, to be put back by uninstall(): name -> what it replaced.
_saved = {}

# DeepSpeed's op builders answered here: (class name in deepspeed.ops.op_builder, op name).
_BUILDERS = (("AsyncIOBuilder", "async_io"), ("GDSBuilder", "gds"), ("PinMemoryBuilder", "pin_memory"))


def _compatible(op):
    """Whether swapio answers op here: GDS where libcufile loads, the others always."""
    if op != "gds":
        return True
    import swapio
    return bool(swapio.gds_info()["loaded"])


def _patch_builder(cls, this, op):
    def load(self, verbose=False):
        return this

    def is_compatible(self, verbose=False):
        return _compatible(op)

    methods = {k: cls.__dict__[k] for k in ("load", "is_compatible") if k in cls.__dict__}
    cls.load = load
    cls.is_compatible = is_compatible
    return cls, methods


def _restore_builder(cls, methods):
    for k in ("load", "is_compatible"):
        if k in methods:
            setattr(cls, k, methods[k])
        elif k in cls.__dict__:
            delattr(cls, k)


def _route_aio_package(this):
    """deepspeed.ops.aio becomes this module; what DeepSpeed imports from its own (AsyncIOBuilder)
    stays importable from it."""
    import deepspeed.ops as ops
    try:
        import deepspeed.ops.aio as original
    except ImportError:
        original = None
    borrowed = []
    for name in dir(original) if original is not None else []:
        if not name.startswith("_") and not hasattr(this, name):
            setattr(this, name, getattr(original, name))
            borrowed.append(name)
    _saved["aio"] = (_sys.modules.get("deepspeed.ops.aio"), ops.__dict__.get("aio"), borrowed)
    _sys.modules["deepspeed.ops.aio"] = this
    ops.aio = this


def install(this):
    try:
        import deepspeed.ops.op_builder as op_builder
    except ImportError as e:
        raise ImportError(f"swapio.deepspeed.install(): DeepSpeed is not importable ({e})") from e
    for cls_name, op_name in _BUILDERS:
        cls = getattr(op_builder, cls_name, None)
        if cls is not None and cls_name not in _saved:
            _saved[cls_name] = _patch_builder(cls, this, op_name)
    import deepspeed.ops as ops
    compatible = getattr(ops, "__compatible_ops__", None)
    if isinstance(compatible, dict) and "compatible" not in _saved:
        # The ops whose builders this DeepSpeed has (an older one has no GDSBuilder).
        ops_here = [op for cls_name, op in _BUILDERS if getattr(op_builder, cls_name, None) is not None]
        _saved["compatible"] = (compatible, {op: compatible.get(op, None) for op in ops_here})
        for op in ops_here:
            compatible[op] = _compatible(op)
    if "aio" not in _saved:
        _route_aio_package(this)
    return this


def uninstall(this):
    for cls_name, _ in _BUILDERS:
        if cls_name in _saved:
            _restore_builder(*_saved.pop(cls_name))
    if "compatible" in _saved:
        compatible, before = _saved.pop("compatible")
        for op, value in before.items():
            if value is None:
                compatible.pop(op, None)
            else:
                compatible[op] = value
    if "aio" in _saved:
        module, attr, borrowed = _saved.pop("aio")
        for name in borrowed:
            delattr(this, name)
        import deepspeed.ops as ops
        if module is None:
            _sys.modules.pop("deepspeed.ops.aio", None)
        else:
            _sys.modules["deepspeed.ops.aio"] = module
        if attr is None:
            ops.__dict__.pop("aio", None)
        else:
            ops.aio = attr
