"""The README's example script runs as documented (at a small size)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "src", "examples", "deepspeed_roundtrip.py")


def test_deepspeed_roundtrip_example(folder):
    out = subprocess.run([sys.executable, EXAMPLE, folder, "8"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "async_pwrite -> 0, wait() -> 1" in out.stdout
    assert "pwrite(validate=True) -> 1" in out.stdout
    assert "async_pread -> 0, wait() -> 1" in out.stdout
    assert "read(validate=True) -> 0" in out.stdout  # DeepSpeed's read() returns 0
    assert "bytes equal: True; free_cpu_locked_tensor -> True, True" in out.stdout
    assert not os.path.exists(os.path.join(folder, "deepspeed-roundtrip.swp"))


def test_example_without_arguments_explains_itself():
    out = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "PYTHONPATH" in out.stderr
