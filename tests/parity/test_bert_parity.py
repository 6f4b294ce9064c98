"""`python -m bert_tf2.parity`: the shipped bundle, a torch-free run and a synthetic BERT bundle."""

import collections
import io
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest
import yaml

from bert_tf2.parity.run import run_part
from flags.bert_parity import main
from sketch_common.parity_report import ParityReport
from helpers.bert_models import numpy_encoder, random_batch, small_config


def test_cli_passes_on_the_reference_bundle(bert_bundle, capsys):
    assert main([str(bert_bundle)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("PASS")
    compared, total = summary.split()[1].split("/")
    assert compared == total


def test_model_part_runs_without_torch(bert_bundle, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main([str(bert_bundle), "--only", "model"]) == 0
    assert "43/43 arrays compared" in capsys.readouterr().out


def test_missing_part_is_listed_not_failed(bert_bundle):
    report = ParityReport()
    run_part("not_written_yet", str(bert_bundle), report)
    assert report.rows[0].reason and report.num_compared == 0


# ----------------------------------------------------------------------------------------------
# A synthetic bundle (BERT, other sizes) written without torch, checked against the NumPy
# reference of test_bert_model.


def _write_torch_zip(obj, path, monkeypatch):
    """Writes `obj` (numpy arrays as tensors) in torch.save's zip layout, without torch."""
    fake_torch = types.ModuleType("torch")
    fake_utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only used as a pickled name")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    fake_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    fake_torch.FloatStorage = float_storage
    fake_torch._utils = fake_utils
    storages = []

    class Storage:
        def __init__(self, array):
            self.array = array

    class Tensor:
        def __init__(self, array):
            self.array = np.ascontiguousarray(array, dtype=np.float32)

        def __reduce__(self):
            strides = tuple(s // 4 for s in self.array.strides)
            return (_rebuild_tensor_v2, (Storage(self.array), 0, self.array.shape, strides,
                                         False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if isinstance(value, Storage):
                storages.append(value.array)
                return ("storage", float_storage, str(len(storages) - 1), "cpu",
                        value.array.size)
            return None

    def wrap(value):
        if isinstance(value, np.ndarray):
            return Tensor(value)
        if isinstance(value, dict):
            return collections.OrderedDict((k, wrap(v)) for k, v in value.items())
        return value

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "torch", fake_torch)
        patch.setitem(sys.modules, "torch._utils", fake_utils)
        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(wrap(obj))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/byteorder", "little")
        for index, array in enumerate(storages):
            archive.writestr(f"archive/data/{index}", array.tobytes())


def _numpy_stack(state, prefix, x):
    index = 0
    while f"{prefix}.{index}.weight" in state:
        x = x @ state[f"{prefix}.{index}.weight"].T + state[f"{prefix}.{index}.bias"]
        index += 1
    return x


@pytest.fixture
def synthetic_bundle(tmp_path, monkeypatch):
    import keras

    from bert_tf2.state_dicts import export_state_dicts
    from bert_tf2.model import build_model

    config = small_config(model_type="bert", layers_setting=[[3, 24, 20], [6, 24, 36]],
                          embed_layers_setting=[8, 16], max_length=12, cls_dim=5,
                          rel_feat_dim=6, get_type="triplet")
    keras.utils.set_random_seed(11)
    states = export_state_dicts(build_model(config))
    checkpoint = {"args": {"_cfg_dict": dict(config), "log_id": "synthetic"},
                  "netE_kwargs": {}, **states}
    _write_torch_zip(checkpoint, tmp_path / "synthetic.pth.tar", monkeypatch)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    batch = random_batch(config, batch=2, members=3, seed=5)
    np.savez(tmp_path / "inputs.npz", **batch)
    encoded = np.stack([numpy_encoder(states["netE_state"], config, batch["mask_input"][m],
                                      batch["length_mask"][m]) for m in range(3)])
    outputs = {
        "encoder_output": encoded.astype(np.float32),
        "head_maskrec": _numpy_stack(states["net_maskrec_state"], "re_fcs", encoded[:, :, 2:]),
        "head_sketchclsinput": _numpy_stack(states["net_sketchclsinput_state"], "cls_fcs",
                                            encoded[:, :, 1]),
        "head_sketchretrieval": _numpy_stack(states["net_sketchretrieval_state"], "rel_fcs",
                                             encoded[:, :, 0]),
        "something_else": np.zeros(3, np.float32),
    }
    np.savez(tmp_path / "outputs.npz", **outputs)
    return tmp_path


def test_cli_on_a_synthetic_bert_bundle_without_torch(synthetic_bundle, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main([str(synthetic_bundle), "--only", "model"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 4/5 arrays compared" in out
    assert "something_else" in out and "not compared" in out
