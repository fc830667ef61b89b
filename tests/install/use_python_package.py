"""Uses the installed swapio package as an outside program would: it must be the one under the
prefix, and move a torch tensor through both APIs, bytes checked.
    python use_python_package.py PREFIX FILE"""
import os
import sys

import torch

import swapio
import swapio.deepspeed

prefix, path = os.path.realpath(sys.argv[1]), sys.argv[2]
where = os.path.realpath(swapio.__file__)
if not where.startswith(prefix + os.sep):
    sys.exit(f"imported {where}, not the package installed under {prefix}")
src = swapio.empty_pinned(1 << 20, torch.float32)
src.copy_(torch.arange(1 << 20, dtype=torch.float32))
with swapio.Handle() as h:
    h.write(src, path, validate=True)
    back = torch.zeros(1 << 20, dtype=torch.float32)
    h.read(back, path)
if not torch.equal(back, src):
    sys.exit("the bytes read back differ from the bytes written")
ds = swapio.deepspeed.aio_handle()
again = torch.zeros_like(back)
if ds.async_pread(again, path) != 0 or ds.wait() != 1 or not torch.equal(again, src):
    sys.exit("swapio.deepspeed.aio_handle did not read the tensor back")
print(f"swapio {swapio.__version__} from {os.path.dirname(where)}: 4 MiB float32 tensor written and read back")
