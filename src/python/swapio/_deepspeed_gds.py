"""DeepSpeed's GDS op (``GDSBuilder().load().gds_handle``) on swapio's engine: aio_handle's calls,
with the tensors that live on a GPU moved by GPUDirect Storage (cuFile), and DeepSpeed's four
calls that register device tensors with cuFile."""

import swapio as _swapio

from . import _deepspeed_args as _args


def make_gds_handle(aio_handle):
    class gds_handle(aio_handle):
        """DeepSpeed's gds_handle: an aio_handle whose device tensors go by GPUDirect Storage.

        gds_handle(self, block_size=1048576, queue_depth=128, single_submit=False,
        overlap_events=False, intra_op_parallelism=1)

        Device tensors move by cuFile (gds=on): an op raises swapio.ConfigError naming why where
        GDS cannot run (no libcufile, a filesystem without O_DIRECT). CPU tensors move as
        aio_handle's. Registered (pinned) device tensors skip cuFile's own bounce buffers;
        others go through them, where DeepSpeed's op would exit.
        """

        _GDS = "on"

        def new_pinned_device_tensor(self, num_elem, example_tenosr=None, *, example_tensor=None):
            """new_pinned_device_tensor(self, num_elem, example_tenosr): a CUDA tensor of num_elem
            elements of the example's dtype, registered with cuFile (DeepSpeed spells the keyword
            example_tenosr; example_tensor is taken too)."""
            example = example_tenosr if example_tenosr is not None else example_tensor
            if example is None:
                raise TypeError("new_pinned_device_tensor() missing required argument 'example_tenosr'")
            num_elem = _args.integer("new_pinned_device_tensor", "num_elem", num_elem)
            import torch
            if not torch.cuda.is_available():
                raise _swapio.ConfigError("new_pinned_device_tensor: torch sees no CUDA device")
            tensor = torch.empty(num_elem, dtype=example.dtype, device="cuda")
            self.pin_device_tensor(tensor)
            return tensor

        def free_pinned_device_tensor(self, tensor):
            """Deregisters a tensor new_pinned_device_tensor gave. Returns True."""
            return self.unpin_device_tensor(tensor)

        def pin_device_tensor(self, tensor):
            """Registers a device tensor with cuFile (cuFileBufRegister). Returns True; raises
            swapio.Error with cuFile's error (already registered) or ConfigError (no GDS here,
            host memory)."""
            _swapio.gds_register(tensor)
            return True

        def unpin_device_tensor(self, tensor):
            """Deregisters a device tensor pin_device_tensor registered. Returns True; raises
            swapio.Error with cuFile's error when it was not registered."""
            _swapio.gds_deregister(tensor)
            return True

    return gds_handle
