"""The host emulation of GPUs, for testing code that moves CUDA tensors without a GPU.

``emulated_devices(n)`` gives n devices of one emulated driver. Their memory (``device.empty``)
stands in for ``cuda:0..n-1`` memory: an object with torch's tensor protocol whose ``device`` is
``torch.device("cuda", k)`` and whose ``data_ptr()`` points into device k's memory moves as a CUDA
tensor would, ordered after ``torch.cuda.current_stream(device).cuda_stream``, which may be a
stream from ``create_stream`` where "kernels" (``launch_write``) write device memory late.

``with_faults(config, error=EIO, first=1, count=1, op="any", delay_us=0)`` gives a copy of a
swapio.Config whose requests fail with an errno (or complete late): for tests of how code
handles an I/O error that reaches a future or ``wait()``.
"""

from ._swapio.testing import (  # noqa: F401
    create_stream,
    current_device,
    emulated_devices,
    launch_write,
    read_device,
    registrations,
    set_current_device,
    with_faults,
)

__all__ = ["create_stream", "current_device", "emulated_devices", "launch_write", "read_device",
           "registrations", "set_current_device",
           "with_faults"]
