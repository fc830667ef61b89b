"""GPUDirect Storage from Python through the stand-in libcufile.so.0 (the build's
cufile-standin/, named by SWAPIO_CUFILE_STANDIN): Handle(gds=...), OpResult.gds, gds_register,
and swapio.deepspeed.gds_handle with DeepSpeed's four device-tensor calls and GDSBuilder."""

import os

import pytest

STANDIN = os.environ.get("SWAPIO_CUFILE_STANDIN", "")
if STANDIN:  # before any op loads cuFile in this process
    os.environ["SWAPIO_CUFILE_LIBRARY"] = STANDIN
    os.environ["SWAPIO_NVIDIA_FS_PROC"] = "/"

import swapio  # noqa: E402
import swapio.deepspeed as ds  # noqa: E402
import torch  # noqa: E402

from conftest import content, emulated_device, fill, pattern, stand_in_deepspeed  # noqa: E402

pytestmark = pytest.mark.skipif(not STANDIN, reason="SWAPIO_CUFILE_STANDIN does not name the stand-in libcufile")


def device_memory(n, seed=3):
    mem = emulated_device().empty(n)
    fill(mem, pattern(n, seed))
    return mem


def test_gds_info_names_the_library():
    info = swapio.gds_info()
    assert info["loaded"] is True, info
    assert info["library"] == STANDIN
    assert info["version"] == 1150
    assert swapio.gds_summary() == f"cuFile 1.15 ({STANDIN}), nvidia-fs loaded"


def test_handle_moves_device_memory_by_cufile_and_says_so(folder):
    n = (3 << 20) + 4097
    src, dst = device_memory(n), emulated_device().empty(n)
    path = os.path.join(folder, "gds.swp")
    h = swapio.Handle(gds="on", intra_op_parallelism=2)
    w = h.write(src, path, 4096)
    assert (w.gds, w.gds_note) == (True, "")
    r = h.read(dst, path, 4096)
    assert r.gds is True
    assert content(dst) == pattern(n, 3)
    off = swapio.Handle(gds="off").write(src, path)
    assert (off.gds, off.gds_note) == (False, "gds=off")
    host = swapio.Handle(gds="on").write(bytearray(4096), path)
    assert (host.gds, host.gds_note) == (False, "")
    with pytest.raises(swapio.ConfigError, match="gds mode 'maybe' is unknown"):
        swapio.Handle(gds="maybe")


def test_gds_handle_is_deepspeeds(folder):
    h = ds.gds_handle()
    assert (h.get_block_size(), h.get_queue_depth(), h.get_single_submit(), h.get_overlap_events(),
            h.get_intra_op_parallelism()) == (1048576, 128, False, False, 1)
    h = ds.gds_handle(block_size=65536, queue_depth=8, single_submit=True, overlap_events=True,
                      intra_op_parallelism=3)
    assert h.get_intra_op_parallelism() == 3 and h.get_alignment() == 3 * 512
    n = 5 << 20
    src, dst = device_memory(n, 9), emulated_device().empty(n)
    assert h.pin_device_tensor(src) is True
    with pytest.raises(swapio.Error, match="CU_FILE_MEMORY_ALREADY_REGISTERED"):
        h.pin_device_tensor(src)
    path = os.path.join(folder, "ds_gds.swp")
    assert h.sync_pwrite(src, path) == 1
    assert h.async_pread(dst, path) == 0
    assert h.wait() == 1
    assert content(dst) == pattern(n, 9)
    assert h.unpin_device_tensor(src) is True
    with pytest.raises(swapio.Error, match="CU_FILE_MEMORY_NOT_REGISTERED"):
        h.unpin_device_tensor(src)
    # CPU tensors move as aio_handle's.
    cpu = torch.arange(1000, dtype=torch.int32)
    assert h.sync_pwrite(cpu, path) == 1
    back = torch.zeros(1000, dtype=torch.int32)
    assert h.sync_pread(back, path) == 1
    assert torch.equal(back, cpu)
    with pytest.raises(swapio.ConfigError, match="host memory"):
        h.pin_device_tensor(cpu)


@pytest.mark.skipif(torch.cuda.is_available(), reason="torch sees a CUDA device here")
def test_new_pinned_device_tensor_needs_cuda():
    with pytest.raises(swapio.ConfigError, match="torch sees no CUDA device"):
        ds.gds_handle().new_pinned_device_tensor(10, torch.zeros(1))
    with pytest.raises(TypeError, match="example_tenosr"):
        ds.gds_handle().new_pinned_device_tensor(10)


def test_aio_handle_never_uses_gds(folder):
    src = device_memory(1 << 20)
    h = ds.aio_handle()
    assert h.sync_pwrite(src, os.path.join(folder, "aio.swp")) == 1
    assert h._config.gds == "off"


STAND_IN = {
    "deepspeed/__init__.py": "",
    "deepspeed/ops/__init__.py": "__compatible_ops__ = {'async_io': False, 'gds': False, 'pin_memory': False}\n",
    "deepspeed/ops/op_builder/__init__.py": """
        class AsyncIOBuilder:
            def load(self, verbose=False):
                raise RuntimeError("stand-in: async_io was not built")

        class GDSBuilder(AsyncIOBuilder):
            def is_compatible(self, verbose=False):
                return False
        """,
}


def test_install_answers_gds_builder(tmp_path, folder):
    with stand_in_deepspeed(tmp_path, STAND_IN):
        ds.install()
        from deepspeed.ops.op_builder import GDSBuilder
        import deepspeed.ops
        assert GDSBuilder().is_compatible() is True
        assert deepspeed.ops.__compatible_ops__["gds"] is True
        handle = GDSBuilder().load().gds_handle(1048576, 32, False, False, 1)
        assert isinstance(handle, ds.gds_handle)
        src = device_memory(1 << 20)
        assert handle.sync_pwrite(src, os.path.join(folder, "builder.swp")) == 1
