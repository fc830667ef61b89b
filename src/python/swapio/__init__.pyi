import concurrent.futures
from os import PathLike
from typing import Any, Optional, Sequence, Union

__version__: str

Path = Union[str, bytes, PathLike]
# A CPU or CUDA torch tensor, an object with the buffer protocol (numpy array, bytearray,
# memoryview, mmap) or the CUDA Array Interface, or swapio DeviceMemory.
Memory = Any

class Error(OSError):
    op: str
    offset: int
    length: int
    def __init__(self, errno: int, message: str, filename: Optional[str] = ..., *, op: str = ...,
                 offset: int = ..., length: int = ...) -> None: ...

class ConfigError(ValueError): ...

class ValidationError(RuntimeError):
    file_offset: int
    buffer_offset: int
    def __init__(self, message: str, *, file_offset: int = ..., buffer_offset: int = ...) -> None: ...

class Config:
    block_size: int
    queue_depth: int
    single_submit: bool
    overlap_events: bool
    intra_op_parallelism: int
    engine: str
    direct: str
    register_files: bool
    register_buffers: bool
    staging: str
    device_chunk_size: int
    device_chunks: int
    sync: bool
    atomic_replace: bool
    def __init__(self, **knobs: Union[int, bool, str]) -> None: ...
    def replace(self, **knobs: Union[int, bool, str]) -> Config: ...
    def to_dict(self) -> dict[str, Union[int, bool, str]]: ...

class OpResult:
    write: bool
    path: str
    offset: int
    bytes: int
    seconds: float
    gib_per_s: float
    engine: str
    engine_note: str
    direct: bool
    direct_note: str
    staged: bool
    device: str
    gds: bool
    gds_note: str
    threads: int
    requests: int
    resubmits: int
    validated: bool
    synced: bool
    replaced: bool
    latency: dict[str, float]

class Future(concurrent.futures.Future[OpResult]):
    id: int
    def result(self, timeout: Optional[float] = ...) -> OpResult: ...
    def done(self) -> bool: ...
    def exception(self, timeout: Optional[float] = ...) -> Optional[BaseException]: ...

class PinnedMemory:
    address: int
    nbytes: int
    def __init__(self, nbytes: int) -> None: ...
    def __len__(self) -> int: ...

class DeviceMemory:
    nbytes: int
    device: str
    address: int
    def copy_from(self, src: Memory) -> None: ...
    def copy_to(self, dest: Memory) -> None: ...
    def tobytes(self) -> bytes: ...
    def __len__(self) -> int: ...

class Device:
    name: str
    ordinal: int
    cached_staging_bytes: int
    def empty(self, nbytes: int) -> DeviceMemory: ...
    def trim_staging(self) -> None: ...

class Handle:
    config: Config
    engine: str
    engine_note: str
    closed: bool
    in_flight: int
    def __init__(self, config: Optional[Config] = ..., **knobs: Union[int, bool, str]) -> None: ...
    def read(self, tensor: Memory, path: Path, offset: int = ..., validate: bool = ...) -> OpResult: ...
    def write(self, tensor: Memory, path: Path, offset: int = ..., validate: bool = ...) -> OpResult: ...
    def read_async(self, tensor: Memory, path: Path, offset: int = ..., validate: bool = ...) -> Future: ...
    def write_async(self, tensor: Memory, path: Path, offset: int = ..., validate: bool = ...) -> Future: ...
    def wait(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Handle: ...
    def __exit__(self, *exc: Any) -> bool: ...

def read_file(tensor: Memory, path: Path, offset: int = ..., validate: bool = ..., config: Optional[Config] = ...,
              **knobs: Union[int, bool, str]) -> OpResult: ...
def write_file(tensor: Memory, path: Path, offset: int = ..., validate: bool = ..., config: Optional[Config] = ...,
               **knobs: Union[int, bool, str]) -> OpResult: ...
def nbytes(tensor: Memory) -> int: ...
def empty_pinned(shape: Union[int, Sequence[int]], dtype: Any = ...) -> Any: ...
def open_device(spec: str) -> Device: ...
def cuda_built() -> bool: ...
def knob_names() -> list[str]: ...
def gds_info() -> dict[str, Any]: ...
def gds_summary() -> str: ...
def gds_register(buffer: Memory) -> None: ...
def gds_deregister(buffer: Memory) -> None: ...
