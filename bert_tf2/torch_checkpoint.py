"""Reads PyTorch `.pth.tar` checkpoints into plain Python containers of numpy arrays.

With PyTorch installed, `torch.load` does the reading. Without it, a small reader of the zip
format that `torch.save` has written since PyTorch 1.6 takes over: the archive holds a pickle
(`<archive>/data.pkl`) whose tensors are persistent references to raw little-endian storages
(`<archive>/data/<key>`). The reader resolves only the globals a checkpoint of plain tensors,
containers and scalars needs (tensor and parameter rebuilders, typed storages, `OrderedDict`) and
refuses everything else, so it never executes code from the file.
"""

import collections
import pickle
import zipfile

import numpy as np
from absl import logging

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
        BertCheckpointError: the file is missing or in a format the available reader cannot read.
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
    except pickle.UnpicklingError as error:
        logging.warning("%s: weights_only loading failed (%s); retrying with full unpickling, "
                        "which runs code from the file: use trusted checkpoints only", path, error)
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    return _tensors_to_numpy(checkpoint, torch)


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
    except zipfile.BadZipFile as error:
        raise BertCheckpointError(
            f"{path}: not a zip-format torch checkpoint (legacy pre-1.6 serialisation); "
            "install PyTorch (`pip install .[torch]`) to read it") from error
    with archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise BertCheckpointError(
                f"{path}: expected exactly one data.pkl in the archive, found {pickles}; "
                "install PyTorch (`pip install .[torch]`) to read this file")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()
        with archive.open(pickles[0]) as stream:
            return _CheckpointUnpickler(stream, archive, prefix, byteorder, path).load()


class _StorageType:
    """Stands for a typed torch storage class (`torch.FloatStorage` …) inside the pickle."""

    def __init__(self, dtype):
        self.dtype = dtype


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    itemsize = storage.dtype.itemsize
    if not size:
        return storage[storage_offset].copy()
    return np.lib.stride_tricks.as_strided(
        storage[storage_offset:],
        shape=tuple(size),
        strides=tuple(step * itemsize for step in stride),
    ).copy()


def _rebuild_parameter(data, *_unused):
    return data


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
            return _StorageType(_STORAGE_DTYPES[name])
        raise BertCheckpointError(
            f"{self._path}: the checkpoint pickles `{module}.{name}`, which the torch-free reader "
            "does not support; install PyTorch (`pip install .[torch]`) to read it")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise BertCheckpointError(f"{self._path}: unsupported persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise BertCheckpointError(
                f"{self._path}: storage {key} has an unsupported type; install PyTorch "
                "(`pip install .[torch]`) to read it")
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}data/{key}")
            dtype = np.dtype(storage_type.dtype).newbyteorder(self._byte_prefix)
            self._storages[key] = np.frombuffer(raw, dtype=dtype).astype(
                np.dtype(storage_type.dtype), copy=False)
        return self._storages[key]
