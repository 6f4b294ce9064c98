"""Loads pickled numpy data (sketch-rnn `.npz` object arrays, offsets pickles) without running code.

A pickle names the callables that rebuild its objects, and a plain `pickle.load` calls whatever it
names (`os.system` included). `SafeUnpickler` resolves only the few names numpy itself writes when
it pickles arrays, dtypes and scalars, and refuses every other name with `UnsafeFileError`.

Names admitted (what genuine sketch-rnn files and numpy pickles contain, from Python 2 and 3):

* `numpy.core.multiarray._reconstruct` / `numpy._core.multiarray._reconstruct`: an empty
  `numpy.ndarray` of a dtype (the array's contents follow as plain pickle data);
* `numpy.ndarray`: only as the first argument of `_reconstruct`, never callable on its own;
* `numpy.dtype`;
* `numpy.core.multiarray.scalar` / `numpy._core.multiarray.scalar`: a numpy scalar;
* `_codecs.encode`: only `(text, 'latin1')`, the bytes of a protocol-2 pickle written by Python 3.
"""

import io
import pickle
import zipfile
import zlib

import numpy as np

from sketch_common.errors import FileFormatError


class UnsafeFileError(FileFormatError):
    """A file whose pickle names something other than numpy arrays, dtypes or scalars."""


class MalformedFileError(FileFormatError):
    """A file that is not a readable `.npz` archive or pickle (empty, truncated, another format)."""


# The functions numpy's own pickles name, taken from numpy itself so that both module spellings
# (`numpy.core` before numpy 2, `numpy._core` since) resolve to the installed implementation.
_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]
_NUMPY_SCALAR = np.float64(0).__reduce__()[0]
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


class _NdarrayName:
    """Stands for `numpy.ndarray` in a pickle: accepted by `_reconstruct`, not callable."""

    def __repr__(self):
        return "numpy.ndarray"


_NDARRAY = _NdarrayName()

# What a damaged or hand-made pickle of admitted names can raise while it is being unpickled.
_MALFORMED_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
                            IndexError, AttributeError, OverflowError)
# ... and what a damaged zip archive can raise while a member is read.
_MALFORMED_NPZ_ERRORS = _MALFORMED_PICKLE_ERRORS + (OSError, zipfile.BadZipFile, zlib.error)


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, dtypes, scalars and plain Python data.

    Args:
        stream: binary file object positioned at the pickle.
        source: the file's name, for error messages.
        location: where in the file the pickle is (e.g. "key 'train'"), for error messages.
    """

    def __init__(self, stream, source, location=""):
        super().__init__(stream, encoding="latin1")
        self._source = str(source)
        self._location = location

    def find_class(self, module, name):
        if module in _NUMPY_MODULES and name == "_reconstruct":
            return self._reconstruct
        if module in _NUMPY_MODULES and name == "scalar":
            return _NUMPY_SCALAR
        if module == "numpy" and name == "ndarray":
            return _NDARRAY
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "_codecs" and name == "encode":
            return self._latin1_encode
        raise self._refuse(f"{module}.{name}")

    def persistent_load(self, pid):
        raise self._refuse(f"persistent id {pid!r}")

    def _refuse(self, what):
        where = f" from {self._location}" if self._location else ""
        return UnsafeFileError(
            f"{self._source}: refusing to load '{what}'{where}: loading it could run code from "
            f"the file; only numeric arrays and plain data are allowed (re-create the file from "
            f"plain arrays, e.g. with numpy.savez)")

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not _NDARRAY:
            raise self._refuse(f"numpy array subclass {subtype!r}")
        return _NUMPY_RECONSTRUCT(np.ndarray, shape, dtype)

    def _latin1_encode(self, text, encoding="utf-8"):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise self._refuse(f"_codecs.encode with {type(text).__name__}, {encoding!r}")
        return text.encode("latin1")


def load_pickle(path):
    """Unpickles a whole file through `SafeUnpickler`.

    Args:
        path: the pickle file.

    Returns:
        The unpickled object: plain Python data (dict, list, tuple, int, float, str, bytes, None)
        and numpy arrays, dtypes and scalars.

    Raises:
        UnsafeFileError: the pickle names anything else (the message names file and name).
        MalformedFileError: the file cannot be read or is not a complete pickle.
    """
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise MalformedFileError(f"{path}: cannot read ({error.strerror or error})") from None
    if not data:
        raise MalformedFileError(f"{path}: empty file (0 bytes)")
    try:
        return SafeUnpickler(io.BytesIO(data), path).load()
    except UnsafeFileError:
        raise
    except _MALFORMED_PICKLE_ERRORS as error:
        raise MalformedFileError(
            f"{path}: not a readable pickle ({type(error).__name__}: {error}); the file is "
            f"damaged or in another format") from None


def load_npz(path) -> dict:
    """Loads every array of an `.npz` archive without running code from it.

    Plain arrays are read by `numpy.load(allow_pickle=False)`; object arrays (sketch-rnn splits:
    one integer array `[n_points, 3]` per sketch) are unpickled by `SafeUnpickler`, and each of
    their elements must be a numpy array without objects. Pickles written by Python 2 are read
    with latin-1 strings, as sketch-rnn files need.

    Args:
        path: the `.npz` file.

    Returns:
        Dict key (member name without `.npy`) -> `np.ndarray`, in archive order.

    Raises:
        UnsafeFileError: an object array names something other than numpy arrays, dtypes or
            scalars (the message names the file, the key and the name).
        MalformedFileError: the file is missing, empty, not a zip archive (a raw pickle or a
            single `.npy` included), truncated, or holds something other than arrays.
    """
    path = str(path)
    _check_zip(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = set(archive.zip.namelist())
            arrays = {}
            for key in archive.files:
                member = key + ".npy" if key + ".npy" in members else key
                try:
                    if _holds_objects(archive.zip, member):
                        arrays[key] = _read_object_array(archive.zip, member, path, key)
                    else:
                        arrays[key] = archive[key]
                except (UnsafeFileError, MalformedFileError):
                    raise
                except _MALFORMED_NPZ_ERRORS as error:
                    raise MalformedFileError(
                        f"{path}: key '{key}' cannot be read ({error}); the file is damaged "
                        f"(truncated?): re-download or re-create it") from None
            return arrays
    except (UnsafeFileError, MalformedFileError):
        raise
    except _MALFORMED_NPZ_ERRORS as error:
        raise MalformedFileError(
            f"{path}: not a readable .npz archive ({error}); re-download or re-create it") from None


def _check_zip(path):
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
    except OSError as error:
        raise MalformedFileError(f"{path}: cannot read ({error.strerror or error})") from None
    if not head:
        raise MalformedFileError(
            f"{path}: empty file (0 bytes); expected an .npz archive: re-download or re-create it")
    if not zipfile.is_zipfile(path):
        kind = ("a pickle, which is never loaded" if head[:1] == b"\x80"
                else "a single .npy array" if head.startswith(b"\x93NUM")
                else "truncated or another format")
        raise MalformedFileError(
            f"{path}: not an .npz (zip) archive ({kind}); expected numpy.savez output: "
            f"re-download or re-create it")


def _read_header(stream):
    """Reads an `.npy` member's magic and header; returns `(shape, fortran_order, dtype)`."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def _holds_objects(archive, member) -> bool:
    with archive.open(member) as stream:
        return _read_header(stream)[2].hasobject


def _read_object_array(archive, member, path, key):
    with archive.open(member) as stream:
        _, _, dtype = _read_header(stream)
        array = SafeUnpickler(stream, path, f"key '{key}'").load()
    if not isinstance(array, np.ndarray) or array.dtype != np.dtype(object) or (
            dtype != np.dtype(object)):
        raise MalformedFileError(
            f"{path}: key '{key}' holds {type(array).__name__} of dtype "
            f"{getattr(array, 'dtype', dtype)}, not an array of arrays; only numeric arrays "
            f"and object arrays of them are read")
    for index, element in enumerate(array.flat):
        if not isinstance(element, np.ndarray) or element.dtype.hasobject:
            described = (f"an array of dtype {element.dtype}" if isinstance(element, np.ndarray)
                         else f"a {type(element).__name__}")
            raise MalformedFileError(
                f"{path}: element {index} of key '{key}' is {described}, not an array of "
                f"numbers; re-create the file with one numeric array per sketch")
    return array
