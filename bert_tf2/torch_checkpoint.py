"""Reads PyTorch `.pth.tar` checkpoints into plain Python containers of numpy arrays.

With PyTorch installed, `torch.load(weights_only=True)` does the reading (never full unpickling:
a checkpoint it refuses is an error). Without it, a small reader of the zip format that
`torch.save` has written since PyTorch 1.6 takes over: the archive holds a pickle
(`<archive>/data.pkl`) whose tensors are persistent references to raw little-endian storages
(`<archive>/data/<key>`). The reader resolves only the globals a checkpoint of plain tensors,
containers and scalars needs (tensor and parameter rebuilders, typed storages, `OrderedDict`)
and refuses everything else by name, so it never executes code from the file. Every tensor's
size, stride and storage offset are checked against its storage before any element is read.
"""

import collections
import pickle
import zipfile
import zlib

import numpy as np

from bert_tf2.errors import BertCheckpointError

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


def load_torch_checkpoint(path, use_torch=None):
    """Loads a `torch.save` file; every tensor becomes a numpy array.

    Args:
        path: the `.pth.tar` (or `.pt`) file.
        use_torch: True to require `torch.load`, False to force the pure-Python reader, None to
            use torch when it is importable.

    Returns:
        The saved object with tensors replaced by numpy arrays (containers keep their types,
        `OrderedDict` state dicts included).

    Raises:
        BertCheckpointError: the file is missing, in a format the available reader cannot read,
            damaged, pickles a name other than tensors, storages and `OrderedDict` (the message
            names it), or holds a tensor whose size, stride or offset runs outside its storage
            (the message names the tensor).
    """
    path = str(path)
    if use_torch is None:
        try:
            import torch  # noqa: F401  (optional dependency)
            use_torch = True
        except ImportError:
            use_torch = False
    if use_torch:
        return _load_with_torch(path)
    return _load_without_torch(path)


def _load_with_torch(path):
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise BertCheckpointError(f"{path}: checkpoint file not found") from error
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise BertCheckpointError(
            f"{path}: torch.load(weights_only=True) refused or failed to read the checkpoint "
            f"({_first_informative_line(error)}); full unpickling could run code from the file "
            "and is never used: re-save the checkpoint with plain tensors and containers"
        ) from None
    return _tensors_to_numpy(checkpoint, torch)


def _first_informative_line(error):
    """The line of a (multi-line) torch error that names the refused global, else its first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [line for line in lines if "Unsupported global" in line or "Unpickler error" in line]
    return (named or lines or [type(error).__name__])[0]


def _tensors_to_numpy(value, torch):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, collections.OrderedDict):
        return collections.OrderedDict(
            (key, _tensors_to_numpy(item, torch)) for key, item in value.items())
    if isinstance(value, dict):
        return {key: _tensors_to_numpy(item, torch) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tensors_to_numpy(item, torch) for item in value)
    return value


def _load_without_torch(path):
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError as error:
        raise BertCheckpointError(f"{path}: checkpoint file not found") from error
    except (zipfile.BadZipFile, OSError) as error:
        raise BertCheckpointError(
            f"{path}: not a zip-format torch checkpoint ({error}; legacy pre-1.6 serialisation "
            "or a damaged file); install PyTorch (`pip install .[torch]`) to read a legacy "
            "file") from None
    with archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise BertCheckpointError(
                f"{path}: expected exactly one data.pkl in the archive, found {pickles}; "
                "install PyTorch (`pip install .[torch]`) to read this file")
        prefix = pickles[0][: -len("data.pkl")]
        try:
            byteorder = "little"
            if prefix + "byteorder" in names:
                byteorder = archive.read(prefix + "byteorder").decode().strip()
            if byteorder not in ("little", "big"):
                raise BertCheckpointError(
                    f"{path}: unknown byteorder {byteorder!r}; expected 'little' or 'big'")
            with archive.open(pickles[0]) as stream:
                loaded = _CheckpointUnpickler(stream, archive, prefix, byteorder, path).load()
        except BertCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
                AttributeError, OverflowError, zipfile.BadZipFile,
                zlib.error, OSError) as error:
            raise BertCheckpointError(
                f"{path}: damaged or unsupported checkpoint ({type(error).__name__}: {error}); "
                "re-download or re-save it") from None
    return _materialise(loaded, path)


class _StorageType:
    """Stands for a typed torch storage class (`torch.FloatStorage` …) inside the pickle."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype

    def __repr__(self):
        return f"torch.{self.name}"


class _Storage:
    """One storage of the archive: a flat numpy array and its archive key."""

    def __init__(self, key, array):
        self.key = key
        self.array = array


class _PendingTensor:
    """A tensor's geometry as pickled; read from its storage (bounds-checked) after loading."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage = storage
        self.storage_offset = storage_offset
        self.size = size
        self.stride = stride


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_unused):
    return data


def _materialise(value, path, where="checkpoint", done=None):
    """`value` with every `_PendingTensor` read into a numpy array (containers rebuilt).

    `where` is the access path of `value` (e.g. `checkpoint['netE_state']['embed.weight']`),
    used to name a bad tensor; `done` maps ids of rebuilt objects to their result, so shared
    and self-referencing containers are rebuilt once.
    """
    done = {} if done is None else done
    if id(value) in done:
        return done[id(value)]
    if isinstance(value, _PendingTensor):
        result = _read_tensor(value, path, where)
    elif isinstance(value, dict):
        result = type(value)()
        done[id(value)] = result
        for key, item in value.items():
            result[key] = _materialise(item, path, f"{where}[{key!r}]", done)
    elif isinstance(value, list):
        result = []
        done[id(value)] = result
        result.extend(_materialise(item, path, f"{where}[{index}]", done)
                      for index, item in enumerate(value))
    elif isinstance(value, tuple):
        result = tuple(_materialise(item, path, f"{where}[{index}]", done)
                       for index, item in enumerate(value))
    elif isinstance(value, (set, frozenset)):
        result = type(value)(_materialise(item, path, where, done) for item in value)
    else:
        return value
    done[id(value)] = result
    return result


def _read_tensor(tensor, path, where):
    """Reads one tensor from its storage after checking that it lies inside the storage."""
    storage = tensor.storage

    def refuse(problem):
        return BertCheckpointError(
            f"{path}: tensor {where} {problem}; the checkpoint is damaged or forged, refusing "
            "to read it")

    if not isinstance(storage, _Storage):
        raise refuse(f"has no storage of the archive (got {type(storage).__name__})")
    size, stride, offset = tensor.size, tensor.stride, tensor.storage_offset
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))
            and all(type(v) is int for v in (*size, *stride, offset))):
        raise refuse(f"has a size {size!r}, stride {stride!r} or offset {offset!r} that is not "
                     "made of integers")
    if len(size) != len(stride):
        raise refuse(f"has {len(size)} sizes but {len(stride)} strides")
    if any(v < 0 for v in size):
        raise refuse(f"has a negative size {tuple(size)}")
    if any(v < 0 for v in stride):
        raise refuse(f"has a negative stride {tuple(stride)}")
    if offset < 0:
        raise refuse(f"has a negative storage offset {offset}")
    length = storage.array.size
    if 0 in size:
        if offset > length:
            raise refuse(f"starts at element {offset}, past the end of storage "
                         f"data/{storage.key} ({length} elements)")
        return np.zeros(tuple(size), storage.array.dtype)
    last = offset + sum((extent - 1) * step for extent, step in zip(size, stride))
    if last >= length:
        raise refuse(f"(size {tuple(size)}, stride {tuple(stride)}, offset {offset}) reaches "
                     f"element {last} of storage data/{storage.key}, which holds {length} "
                     "elements")
    itemsize = storage.array.dtype.itemsize
    return np.lib.stride_tricks.as_strided(
        storage.array[offset:], shape=tuple(size),
        strides=tuple(step * itemsize for step in stride)).copy()


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickler resolving torch's tensor globals to numpy and reading storages from the zip."""

    def __init__(self, stream, archive, prefix, byteorder, path):
        super().__init__(stream)
        self._archive = archive
        self._prefix = prefix
        self._byte_prefix = "<" if byteorder == "little" else ">"
        self._path = path
        self._storages = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise BertCheckpointError(
            f"{self._path}: refusing to load '{module}.{name}': the torch-free reader admits "
            "only tensors, storages, OrderedDict and plain data, and never runs code from a "
            "checkpoint; re-save it with plain tensors and containers")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise BertCheckpointError(f"{self._path}: unsupported persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise BertCheckpointError(
                f"{self._path}: storage {key!r} has the unsupported type {storage_type!r}; "
                "install PyTorch (`pip install .[torch]`) to read it")
        if not isinstance(key, str):
            raise BertCheckpointError(f"{self._path}: storage key {key!r} is not a string")
        if key not in self._storages:
            member = f"{self._prefix}data/{key}"
            try:
                raw = self._archive.read(member)
            except KeyError:
                raise BertCheckpointError(
                    f"{self._path}: storage {member} is missing from the archive") from None
            dtype = np.dtype(storage_type.dtype)
            if len(raw) % dtype.itemsize:
                raise BertCheckpointError(
                    f"{self._path}: storage {member} holds {len(raw)} bytes, not a whole number "
                    f"of {storage_type!r} elements ({dtype.itemsize} bytes each)")
            array = np.frombuffer(raw, dtype=dtype.newbyteorder(self._byte_prefix))
            self._storages[key] = _Storage(key, array.astype(dtype, copy=False))
        return self._storages[key]
