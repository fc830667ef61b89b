"""The host emulation of GPUs, for testing code that moves CUDA tensors without a GPU.

``emulated_devices(n)`` gives n devices of one emulated driver. Their memory (``device.empty``)
stands in for ``cuda:0..n-1`` memory: an object with torch's tensor protocol whose ``device`` is
``torch.device("cuda", k)`` and whose ``data_ptr()`` points into device k's memory moves as a CUDA
tensor would, ordered after ``torch.cuda.current_stream(device).cuda_stream``, which may be a
stream from ``create_stream`` where "kernels" (``launch_write``) write device memory late.
"""

from ._swapio.testing import (  # noqa: F401
    create_stream,
    current_device,
    emulated_devices,
    launch_write,
    read_device,
    registrations,
    set_current_device,
)

__all__ = ["create_stream", "current_device", "emulated_devices", "launch_write", "read_device",
           "registrations", "set_current_device"]
