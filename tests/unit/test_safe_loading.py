"""Loading data files never runs code from them: npz object arrays, offsets pickles, .pth.tar."""

import io
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np
import pytest

from bert_tf2.data import memmap_builder, memmap_format
from bert_tf2.data.sketch_collections import MemmapSketches
from bert_tf2.errors import BertCheckpointError, BertDataError
from bert_tf2.torch_checkpoint import load_torch_checkpoint
from sketch_common.safe_pickle import MalformedFileError, UnsafeFileError, load_npz, load_pickle
from sketchgloc_tf2.data import quickdraw
from sketchgloc_tf2.errors import SketchDataError

SKETCH = np.array([[1, 2, 0], [3, -4, 1]], dtype=np.int16)


class _Payload:
    """Pickles as a call of `exec` that would create `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def _object_array(items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _good_npz():
    return _npz_bytes(**{split: _object_array([SKETCH, SKETCH]) for split in quickdraw.SPLITS})


def _malicious_npz(marker):
    train = _object_array([SKETCH, _Payload(marker)])
    return _npz_bytes(train=train, valid=_object_array([SKETCH]), test=_object_array([SKETCH]))


def _damaged_member(marker):
    data = bytearray(_good_npz())
    start = data.index(b"\x80")  # the first pickle opcode of the first member
    data[start:start + 40] = b"\xff" * 40
    return bytes(data)


# name -> (file contents given the marker path, pattern the one-line message must match)
BAD_NPZ = {
    "malicious object array": (
        _malicious_npz, r"refusing to load 'builtins\.exec' from key 'train'.*only numeric arrays"),
    "raw pickle named .npz": (
        lambda marker: pickle.dumps({"train": _Payload(marker)}),
        r"not an \.npz \(zip\) archive \(a pickle, which is never loaded\)"),
    "zero bytes": (lambda marker: b"", r"empty file \(0 bytes\)"),
    "not a zip": (lambda marker: b"sketches, honestly" * 10, r"not an \.npz \(zip\) archive"),
    "truncated zip": (lambda marker: _good_npz()[:len(_good_npz()) // 2],
                      r"not an \.npz \(zip\) archive \(truncated or another format\)"),
    "damaged member": (_damaged_member, r"key 'train' cannot be read|refusing to load"),
}


def _load_with_sketchgloc(path):
    quickdraw.load_data(str(path.parent), [path.stem], 10)


def _load_with_memmap_builder(path):
    memmap_builder.build_memmaps([str(path)], str(path.parent / "memmaps"))


LOADERS = {"sketchgloc": (_load_with_sketchgloc, SketchDataError),
           "sketch-bert memmap": (_load_with_memmap_builder, BertDataError)}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("case", BAD_NPZ)
def test_bad_npz_is_a_one_line_package_error_and_runs_nothing(tmp_path, case, loader):
    make, pattern = BAD_NPZ[case]
    load, error_type = LOADERS[loader]
    marker = tmp_path / "marker"
    path = tmp_path / "cat.npz"
    path.write_bytes(make(marker))
    with pytest.raises(error_type, match=pattern) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert not marker.exists()
    assert not (tmp_path / "memmaps" / memmap_format.OFFSETS_FILE_NAME).exists()


@pytest.mark.parametrize("element,pattern", [
    (_object_array([SKETCH]), r"element 1 of key 'train' is an array of dtype object"),
    ([1, 2, 3], r"element 1 of key 'train' is a list, not an array of numbers"),
])
def test_object_array_elements_must_be_plain_arrays(tmp_path, element, pattern):
    path = tmp_path / "cat.npz"
    train = np.empty(2, dtype=object)
    train[0], train[1] = SKETCH, element
    path.write_bytes(_npz_bytes(train=train))
    with pytest.raises(MalformedFileError, match=rf"cat\.npz: {pattern}"):
        load_npz(path)


def _op_text(text):
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _op_bytes(data):
    return b"B" + struct.pack("<I", len(data)) + data  # BINBYTES


def _op_int(value):
    return b"J" + struct.pack("<i", value)  # BININT


def _op_tuple(items):
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _op_call(module, name, *arguments):
    return _op_global(module, name) + _op_tuple(arguments) + b"R"  # REDUCE


RECONSTRUCT = ("numpy._core.multiarray", "_reconstruct")


@pytest.mark.parametrize("body,error,pattern", [
    (_op_call("posix", "system", _op_text("touch MARKER")), UnsafeFileError,
     r"refusing to load 'posix\.system'"),
    (_op_call("builtins", "eval", _op_text("open('MARKER', 'w')")), UnsafeFileError,
     r"refusing to load 'builtins\.eval'"),
    (_op_call("_codecs", "encode", _op_text("abc"), _op_text("rot13")), UnsafeFileError,
     r"refusing to load '_codecs\.encode with str, 'rot13''"),
    (_op_call(*RECONSTRUCT, _op_global("numpy", "matrix"), _op_tuple([_op_int(0)]),
              _op_bytes(b"b")), UnsafeFileError, r"refusing to load 'numpy\.matrix'"),
    (_op_call(*RECONSTRUCT, _op_global("numpy", "dtype"), _op_tuple([_op_int(0)]),
              _op_bytes(b"b")), UnsafeFileError, r"refusing to load 'numpy array subclass"),
    (_op_call("numpy", "ndarray", _op_tuple([_op_int(4)])), MalformedFileError,
     r"not a readable pickle \(TypeError"),
    (_op_text("pid") + b"Q", UnsafeFileError, r"refusing to load 'persistent id 'pid''"),
])
def test_safe_unpickler_refuses_names_outside_numpy_arrays(tmp_path, monkeypatch, body, error,
                                                          pattern):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "offsets.pkl"
    path.write_bytes(b"\x80\x03" + body + b".")
    with pytest.raises(error, match=rf"offsets\.pkl: {pattern}"):
        load_pickle(path)
    assert not (tmp_path / "MARKER").exists()


# ----------------------------------------------------------------------------- offsets


def _memmaps(tmp_path):
    data = tmp_path / "cat.npz"
    data.write_bytes(_good_npz())
    return memmap_builder.build_memmaps([str(data)], str(tmp_path / "out"))


def test_malicious_legacy_offsets_pickle_is_refused(tmp_path):
    sum_path, offset_path = _memmaps(tmp_path)
    marker = tmp_path / "marker"
    with open(offset_path, "wb") as stream:
        pickle.dump({"train": {"cat": [(0, 2), _Payload(marker)]}}, stream)
    with pytest.raises(BertDataError, match=r"offsets\.npz: refusing to load 'builtins\.exec'"):
        MemmapSketches(sum_path, offset_path, "train")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_legacy_offsets_pickles_still_load(tmp_path, protocol):
    sum_path, offset_path = _memmaps(tmp_path)
    expected = memmap_format.read_offsets(offset_path)
    legacy = {"train": {"cat": [(0, 2), (2, 4)]},
              "valid": {"cat": np.array([[0, 2], [2, 4]])},  # numpy arrays and scalars too
              "test": {"cat": [(np.int64(0), np.int64(2)), (np.int64(2), np.int64(4))]}}
    with open(offset_path, "wb") as stream:
        pickle.dump(legacy, stream, protocol=protocol)
    assert memmap_format.read_offsets(offset_path) == expected
    sketches = MemmapSketches(sum_path, offset_path, "test")
    np.testing.assert_array_equal(sketches.sketch(1), SKETCH)


@pytest.mark.parametrize("offsets,pattern", [
    ({"train": {"cat": [(3, 1)]}}, r"sketch 0 has the range \(3, 1\), not 0 <= start <= end"),
    ({"train": {"cat": [(-2, 1)]}}, r"sketch 0 has the range \(-2, 1\)"),
    ({"train": {"cat": [("a", "b")]}}, r"expected a list of \(start, end\) integer pairs"),
    ([(0, 2)], r"expected \{split: \{class: \[\(start, end\), \.\.\.\]\}\} offsets, got list"),
])
def test_malformed_offsets_are_data_errors(tmp_path, offsets, pattern):
    path = tmp_path / "offsets.npz"
    path.write_bytes(pickle.dumps(offsets))
    with pytest.raises(BertDataError, match=rf"offsets\.npz: .*{pattern}"):
        memmap_format.read_offsets(str(path))


# ----------------------------------------------------------------------------- .pth.tar


_EMPTY_ORDERED_DICT = _op_global("collections", "OrderedDict") + b")R"


def _write_pth(path, tensors, storage, extra=b""):
    """Writes torch.save's zip layout: `data.pkl` holds an OrderedDict name -> tensor.

    Args:
        tensors: name -> (storage_offset, size, stride), all on one FloatStorage `data/0`.
        storage: float32 values of that storage.
        extra: pickle opcodes pushing a key and a value, stored in the dict after the tensors.
    """
    body = b"\x80\x02" + _EMPTY_ORDERED_DICT
    persistent = _op_tuple([_op_text("storage"), _op_global("torch", "FloatStorage"),
                            _op_text("0"), _op_text("cpu"), _op_int(len(storage))]) + b"Q"
    for name, (offset, size, stride) in tensors.items():
        arguments = _op_tuple([persistent, _op_int(offset), _op_tuple(map(_op_int, size)),
                               _op_tuple(map(_op_int, stride)), b"\x89", _EMPTY_ORDERED_DICT])
        body += _op_text(name) + _op_global("torch._utils", "_rebuild_tensor_v2") + arguments
        body += b"Rs"  # REDUCE, SETITEM
    body += (extra + b"s" if extra else b"") + b"."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", body)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", np.asarray(storage, "<f4").tobytes())


def test_crafted_pth_reads_strided_tensors(tmp_path):
    path = tmp_path / "ok.pth.tar"
    _write_pth(path, {"matrix": (0, (2, 3), (3, 1)), "transposed": (0, (3, 2), (1, 3)),
                      "tail": (4, (2,), (1,)), "scalar": (5, (), ()), "empty": (6, (0, 4), (4, 1))},
               np.arange(6))
    loaded = load_torch_checkpoint(path, use_torch=False)
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(loaded["matrix"], grid)
    np.testing.assert_array_equal(loaded["transposed"], grid.T)
    np.testing.assert_array_equal(loaded["tail"], [4, 5])
    assert loaded["scalar"].shape == () and loaded["scalar"] == 5
    assert loaded["empty"].shape == (0, 4) and loaded["empty"].dtype == np.float32


@pytest.mark.parametrize("geometry,pattern", [
    ((0, (4, 3), (3, 1)), r"reaches element 11 of storage data/0, which holds 6 elements"),
    ((5, (2,), (1,)), r"reaches element 6 of storage data/0"),
    ((0, (2, 3), (1, 1000000)), r"reaches element 2000001"),
    ((0, (3,), (-1,)), r"has a negative stride \(-1,\)"),
    ((-1, (2,), (1,)), r"has a negative storage offset -1"),
    ((0, (-2,), (1,)), r"has a negative size"),
    ((6, (), ()), r"reaches element 6 of storage data/0"),
    ((7, (0,), (1,)), r"starts at element 7, past the end"),
    ((0, (2, 3), (1,)), r"has 2 sizes but 1 strides"),
])
def test_out_of_bounds_tensors_are_refused(tmp_path, geometry, pattern):
    path = tmp_path / "forged.pth.tar"
    _write_pth(path, {"fine": (0, (6,), (1,)), "encoder.weight": geometry}, np.arange(6))
    with pytest.raises(BertCheckpointError, match=pattern) as caught:
        load_torch_checkpoint(path, use_torch=False)
    message = str(caught.value)
    assert message.startswith(f"{path}: tensor checkpoint['encoder.weight'] ")
    assert "\n" not in message


def test_pth_with_forbidden_global_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    call = _op_call("posix", "system", _op_text(f"touch {marker}"))
    path = tmp_path / "evil.pth.tar"
    _write_pth(path, {"fine": (0, (6,), (1,))}, np.arange(6), extra=_op_text("evil") + call)
    with pytest.raises(BertCheckpointError, match=r"evil\.pth\.tar: refusing to load "
                                                   r"'posix\.system'"):
        load_torch_checkpoint(path, use_torch=False)
    assert not marker.exists()


@pytest.mark.parametrize("damage,pattern", [
    (lambda archive: archive.writestr("archive/data/0", b"\0" * 7),
     r"storage archive/data/0 holds 7 bytes"),
    (lambda archive: None, r"storage archive/data/0 is missing"),
])
def test_damaged_storages_are_refused(tmp_path, damage, pattern):
    good = tmp_path / "good.pth.tar"
    _write_pth(good, {"fine": (0, (6,), (1,))}, np.arange(6))
    path = tmp_path / "damaged.pth.tar"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as archive:
        for name in source.namelist():
            if name != "archive/data/0":
                archive.writestr(name, source.read(name))
        damage(archive)
    with pytest.raises(BertCheckpointError, match=rf"damaged\.pth\.tar: {pattern}"):
        load_torch_checkpoint(path, use_torch=False)


def test_torch_path_never_unpickles_fully(tmp_path, monkeypatch):
    calls = []

    def refusing_load(path, **kwargs):
        calls.append(kwargs)
        raise pickle.UnpicklingError(
            "Weights only load failed. Re-running `torch.load` with `weights_only` set to "
            "`False` will likely succeed.\nPlease file an issue.\n\nWeightsUnpickler error: "
            "Unsupported global: GLOBAL posix.system was not an allowed global by default.")

    fake_torch = types.ModuleType("torch")
    fake_torch.load = refusing_load
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    path = tmp_path / "evil.pth.tar"
    path.write_bytes(b"")
    with pytest.raises(BertCheckpointError, match=r"evil\.pth\.tar: .*Unsupported global: "
                                                   r"GLOBAL posix\.system") as caught:
        load_torch_checkpoint(path, use_torch=True)
    assert "\n" not in str(caught.value)
    assert calls and all(call.get("weights_only") is True for call in calls)


# ----------------------------------------------------------------------------- real files


def _assert_same_arrays(ours, reference):
    assert list(ours) == list(reference.files)
    for key in reference.files:
        expected = reference[key]
        assert ours[key].dtype == expected.dtype and ours[key].shape == expected.shape
        for mine, theirs in zip(ours[key].reshape(-1), expected.reshape(-1)):
            assert np.asarray(mine).dtype == np.asarray(theirs).dtype
            np.testing.assert_array_equal(mine, theirs)


def _real_files(quickdraw_dir):
    other = quickdraw_dir.parent / "other"
    files = [quickdraw_dir / "cat.npz", quickdraw_dir / "The Eiffel Tower.npz",
             other / "aaron_sheep.npz",  # Python 2 pickles (latin-1 strings)
             other / "kanji.rdp100.npz"]  # protocol-2 pickles written by Python 3
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        pytest.skip(f"real data files not found: {missing}")
    return files


@pytest.mark.realdata
def test_real_npz_files_load_as_with_allow_pickle(quickdraw_dir):
    for path in _real_files(quickdraw_dir):
        with np.load(path, encoding="latin1", allow_pickle=True) as reference:
            _assert_same_arrays(load_npz(path), reference)


@pytest.mark.realdata
def test_real_category_through_both_loaders(tmp_path, quickdraw_dir):
    path = _real_files(quickdraw_dir)[0]
    with np.load(path, encoding="latin1", allow_pickle=True) as reference:
        expected = {split: reference[split] for split in quickdraw.SPLITS}
    splits = quickdraw.load_category(str(path), 10 ** 6)
    sum_path, offset_path = memmap_builder.build_memmaps([str(path)], str(tmp_path / "out"))
    for split in quickdraw.SPLITS:
        assert len(splits[split]) == len(expected[split])
        for mine, theirs in zip(splits[split], expected[split]):
            np.testing.assert_array_equal(mine, theirs)
        sketches = MemmapSketches(sum_path, offset_path, split)
        np.testing.assert_array_equal(sketches.sketch(len(sketches) - 1), expected[split][-1])
    assert os.stat(offset_path).st_size > 0
