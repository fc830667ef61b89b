"""Nothing lost at the edges a Python user reaches: paths with a NUL byte, a failed write's
space, a Handle inherited by a forked child, files given as open descriptors."""
import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import swapio
import swapio.deepspeed as ds
from conftest import pattern, read_plain, write_plain


def _tensor(n, seed):
    return torch.frombuffer(bytearray(pattern(n, seed)), dtype=torch.uint8)


# ---- NUL bytes -----------------------------------------------------------------------------

def _nul_calls(t, path):
    h = swapio.Handle()
    a = ds.aio_handle()
    return {
        "write_file": lambda: swapio.write_file(t, path),
        "read_file": lambda: swapio.read_file(t, path),
        "Handle.write": lambda: h.write(t, path),
        "Handle.write_async": lambda: h.write_async(t, path).result(),
        "aio_handle.async_pwrite": lambda: a.async_pwrite(t, path, 0),
        "aio_handle.sync_pwrite": lambda: a.sync_pwrite(t, path),
        "aio_handle.write": lambda: a.write(t, path, False),
        "aio_write": lambda: ds.aio_write(t, path, 1 << 20, 32, False, True, False),
    }


def test_a_path_with_a_nul_byte_is_refused_and_the_file_before_it_kept(folder):
    victim = os.path.join(folder, "victim")
    old = pattern(8192, 1)
    write_plain(victim, old)
    t = _tensor(4096, 2)
    for name, call in _nul_calls(t, victim + "\0.swp").items():
        with pytest.raises(ValueError, match="NUL byte"):
            call()
        assert read_plain(victim, 1 << 20) == old, f"{name} wrote the file named before the NUL"
    with pytest.raises(ValueError, match="NUL byte"):
        swapio.Handle().write(t, os.path.join(folder, "a\0b"))
    assert not os.path.exists(os.path.join(folder, "a"))


# ---- a failed write gives its space back ---------------------------------------------------

@pytest.fixture
def small_ext4(folder):
    """A 64 MiB ext4 on a loop device (root only)."""
    if os.geteuid() != 0:
        pytest.skip("not root: a loop device needs root")
    image, mnt = os.path.join(folder, "fs.img"), os.path.join(folder, "fs")
    os.mkdir(mnt)
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if subprocess.run(["mkfs.ext4", "-q", "-F", image], **quiet).returncode != 0:
        pytest.skip("mkfs.ext4 failed")
    if subprocess.run(["mount", "-o", "loop", image, mnt], **quiet).returncode != 0:
        pytest.skip("mount -o loop refused (no loop device here?)")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", mnt], **quiet).returncode != 0:
            subprocess.run(["umount", "-l", mnt], **quiet)


def _free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.mark.parametrize("api", ["write_file", "Handle.write", "aio_handle.sync_pwrite", "aio_handle.async_pwrite"])
def test_a_preallocation_that_fails_gives_the_space_back(small_ext4, api):
    old_path, new_path = os.path.join(small_ext4, "old.swp"), os.path.join(small_ext4, "new.swp")
    old = pattern(3 << 20, 3)
    write_plain(old_path, old)
    free = _free(small_ext4)
    big = torch.zeros(64 << 20, dtype=torch.uint8)

    def write(path):
        if api == "write_file":
            swapio.write_file(big, path)
        elif api == "Handle.write":
            swapio.Handle().write(big, path)
        else:
            a = ds.aio_handle()
            if api == "aio_handle.sync_pwrite":
                a.sync_pwrite(big, path)
            else:
                a.async_pwrite(big, path)
                a.wait()

    with pytest.raises(OSError) as e:
        write(old_path)
    assert e.value.errno == errno.ENOSPC and "old size of 3 MiB again" in str(e.value)
    assert os.path.getsize(old_path) == len(old) and read_plain(old_path, len(old)) == old
    with pytest.raises(OSError, match="the file it created is removed"):
        write(new_path)
    assert not os.path.exists(new_path)
    assert _free(small_ext4) + (64 << 10) >= free, "the space of the failed preallocation was not given back"


# ---- fork ----------------------------------------------------------------------------------

_FORK_SCRIPT = textwrap.dedent("""
    import os, sys, torch, swapio, swapio.deepspeed as ds
    path, state = sys.argv[1], sys.argv[2]
    h, a = swapio.Handle(intra_op_parallelism=2), ds.aio_handle(intra_op_parallelism=2)
    t = torch.frombuffer(bytearray(os.urandom(1 << 20)), dtype=torch.uint8)
    if state == "used":
        h.write(t, path)
        a.sync_pwrite(t, path)
    future = h.write_async(t, path) if state == "in_flight" else None
    pid = os.fork()
    if pid == 0:
        wrong = []
        owner = "belongs to process %d" % os.getppid()
        for name, call in [("Handle.write", lambda: h.write(t, path + ".c")),
                           ("aio_handle.sync_pread", lambda: a.sync_pread(t, path)),
                           ("aio_handle.async_pwrite", lambda: a.async_pwrite(t, path + ".c"))]:
            try:
                call()
                wrong.append(name + " ran in the child")
            except swapio.ConfigError as e:
                if owner not in str(e) or "create a new one in the child" not in str(e):
                    wrong.append(name + ": " + str(e))
        if future is not None:
            try:
                future.result()
                wrong.append("the parent's op was reported in the child")
            except swapio.ConfigError:
                pass
        mine = swapio.Handle()
        mine.write(t, path + ".child")
        back = torch.empty_like(t)
        mine.read(back, path + ".child")
        if not torch.equal(back, t):
            wrong.append("a new Handle in the child moved wrong bytes")
        if state == "closed":
            h.close()
        print("\\n".join(wrong))
        sys.exit(1 if wrong else 0)  # a normal exit: the handles are collected here
    _, status = os.waitpid(pid, 0)
    if future is not None:
        future.result()
    h.write(t, path)
    sys.exit(os.waitstatus_to_exitcode(status))
""")


@pytest.mark.parametrize("state", ["unused", "used", "in_flight", "closed"])
def test_a_handle_inherited_by_a_forked_child_is_refused_and_the_child_ends(folder, state):
    try:
        r = subprocess.run([sys.executable, "-c", _FORK_SCRIPT, os.path.join(folder, "f.swp"), state],
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child or its parent hung")
    assert r.returncode == 0, r.stdout + r.stderr


# ---- descriptors ---------------------------------------------------------------------------

def test_a_descriptor_is_used_as_it_was_opened(folder):
    path = os.path.join(folder, "held.swp")
    old = pattern(65536, 4)
    write_plain(path, old)
    t = _tensor(65536, 5)
    a = ds.aio_handle()
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match=r"held.swp \(descriptor %d\) \(the descriptor is open read-only\)" % fd) as e:
            a.async_pwrite(t, fd)
        assert e.value.errno == errno.EBADF
        a.wait()
    finally:
        os.close(fd)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        with pytest.raises(OSError, match="O_APPEND"):
            a.sync_pwrite(t, fd)
    finally:
        os.close(fd)
    assert read_plain(path, 1 << 20) == old
    fd = os.open(path, os.O_RDWR)
    try:
        assert a.sync_pwrite(t, fd) == 1
        with pytest.raises(OSError) as e:
            a.sync_pread(torch.empty(1 << 20, dtype=torch.uint8), fd)
        assert "held.swp (descriptor %d)" % fd in str(e.value) and "/proc/self/fd" not in str(e.value)
    finally:
        os.close(fd)
    assert read_plain(path, 1 << 20) == bytes(t.numpy())
