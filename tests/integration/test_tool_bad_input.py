"""Bad input to the SketchGloc tools (other than training) ends as one `error: ...` line.

A table of bad inputs per tool. Cases that share a code path are checked on the library
function or `main` in process (the message is one line and names the file or argument, nothing
is written); the command lines are run as subprocesses: the ndjson converter (it starts fast)
for its argument errors, path traversal and one malformed drawing; sample_abs.py and
retrieval.py in one driver process each that runs every case through `run_tool` and the
`main` of its `flags/` module, the last as the script does; export and convert as
`python -m`. A command line must exit non-zero with exactly one `error:` line on stderr naming
the file or argument, and no traceback.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from flags import gloc_convert, gloc_export
from sketchgloc_tf2 import checkpoint, export, hparams as hparams_lib
from sketchgloc_tf2.checkpoint import load_checkpoint_dir
from sketchgloc_tf2.data import ndjson, quickdraw
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError, SketchDataError
from sketchgloc_tf2.model import SketchGlocModel
from sketchgloc_tf2.retrieval import load_sample_array
from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)
TINY = dict(enc_rnn_size=4, dec_rnn_size=8, z_size=3, enc_model="lstm", dec_model="lstm",
            use_recurrent_dropout=False, num_mixture_components=3, seed=0, max_seq_len=20,
            max_stroke_len=4, max_strokes_num=5, normalizing_scale_factor=20.0,
            categories=["face", "house"])
CONFIG, WEIGHTS = checkpoint.CONFIG_NAME, checkpoint.WEIGHTS_NAME


def tool_env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def assert_one_error_line(returncode, stderr, *names):
    """Non-zero exit, exactly one `error:` line naming every one of `names`, no traceback."""
    assert returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])


def assert_one_line(error, *names):
    message = str(error)
    assert "\n" not in message, message
    for name in names:
        assert str(name) in message, (name, message)


# ------------------------------------------------------------------------------ fixtures


def truncate(path, keep):
    """Keeps the first `keep` bytes (a fraction of the file if 0 < keep < 1; all but `-keep`
    bytes if negative)."""
    with open(path, "rb") as stream:
        data = stream.read()
    if 0 < keep < 1:
        keep = int(len(data) * keep)
    write(path, data[:keep] if keep >= 0 else data[:len(data) + keep])


def write(path, data: bytes):
    with open(path, "wb") as stream:
        stream.write(data)


def replace_in_config(path, old, new):
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    assert old in text
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text.replace(old, new))


CHECKPOINT_DAMAGE = {
    # name: (damage(folder), file named in the error, words of the error)
    "truncated weights": (lambda d: truncate(os.path.join(d, WEIGHTS), 0.5), WEIGHTS,
                          "truncated or corrupted"),
    "empty weights": (lambda d: truncate(os.path.join(d, WEIGHTS), 0), WEIGHTS,
                      "truncated or corrupted"),
    "garbage weights": (lambda d: write(os.path.join(d, WEIGHTS), b"not hdf5 " * 100), WEIGHTS,
                        "truncated or corrupted"),
    "weights folder": (lambda d: (os.remove(os.path.join(d, WEIGHTS)),
                                  os.mkdir(os.path.join(d, WEIGHTS))), WEIGHTS, "a folder"),
    "missing config": (lambda d: os.remove(os.path.join(d, CONFIG)), CONFIG, "missing"),
    "invalid JSON config": (lambda d: write(os.path.join(d, CONFIG), b'{"z_size": 3,'), CONFIG,
                            "not valid JSON"),
    "list config": (lambda d: write(os.path.join(d, CONFIG), b"[1, 2]"), CONFIG,
                    "expected a JSON object"),
    "non-UTF-8 config": (lambda d: write(os.path.join(d, CONFIG), b'{"a": "\xff"}'), CONFIG,
                         "not UTF-8"),
    "bad hparam value": (lambda d: replace_in_config(os.path.join(d, CONFIG), '"z_size": 3',
                                                     '"z_size": [3]'), CONFIG, "bad hparams"),
    "config of another model": (lambda d: replace_in_config(os.path.join(d, CONFIG),
                                                            '"enc_rnn_size": 4',
                                                            '"enc_rnn_size": 6'),
                                WEIGHTS, "do not match"),
}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A freshly built tiny native checkpoint directory (written once)."""
    folder = tmp_path_factory.mktemp("tiny_checkpoint") / "ckpt"
    hparams = hparams_lib.HParams(**TINY)
    checkpoint.save_checkpoint_dir(SketchGlocModel.from_hparams(hparams), hparams, str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def damaged_checkpoints(tiny_checkpoint, tmp_path_factory):
    """Name -> a copy of the tiny checkpoint with that damage."""
    base = tmp_path_factory.mktemp("damaged")
    folders = {}
    for index, (name, (damage, _, _)) in enumerate(CHECKPOINT_DAMAGE.items()):
        folder = str(base / f"ckpt{index}")
        shutil.copytree(tiny_checkpoint, folder)
        damage(folder)
        folders[name] = folder
    return folders


@pytest.fixture(scope="session")
def sample_folders(tmp_path_factory):
    """Sample folders as `sample_abs.py` writes them: good, truncated code, incomplete, empty."""
    base = tmp_path_factory.mktemp("samples")
    folders = {}
    for name in ("good", "truncated code", "incomplete", "empty"):
        folder = base / name.replace(" ", "_")
        folder.mkdir()
        folders[name] = str(folder)
        if name == "empty":
            continue
        for label in (0, 1):
            np.save(folder / f"code_{label}_0.npy",
                    np.full((1, TINY["z_size"]), label, np.float32))
            sketch = np.array([[[0.0, 0.0, 0], [1.0, 0.5, 0], [2.0, 1.0, 1]]]) * (label + 1)
            np.save(folder / f"s_{label}_0.npy", sketch)
    truncate(os.path.join(folders["truncated code"], "code_1_0.npy"), -5)
    os.remove(os.path.join(folders["incomplete"], "s_1_0.npy"))
    return folders


# ------------------------------------------------------------------------------ ndjson


def drawing(word="cat", strokes=None, **extra):
    record = {"word": word, "drawing": strokes if strokes is not None else
              [[[10, 20, 30], [5, 15, 25]], [[40, 50], [60, 70]]]}
    record.update(extra)
    return json.dumps(record)


GOOD = drawing()
NDJSON_CASES = {
    # name: (file bytes, convert() options, words of the error; the file is always named)
    "invalid JSON": ((GOOD + "\n{not json}\n").encode(), {}, ":2: not valid JSON"),
    "bad UTF-8": (GOOD.encode() + b'\n{"word": "c\xffat"}\n', {}, ":2: not valid UTF-8"),
    "deeply nested": (("[" * 100000 + "]" * 100000 + "\n").encode(), {}, ":1: not valid JSON"),
    "not an object": (b"[1, 2]\n", {}, ":1: expected a JSON object"),
    "missing word": (json.dumps({"drawing": [[[1], [2]]]}).encode(), {}, ":1: missing 'word'"),
    "missing drawing": (b'{"word": "cat"}\n', {}, ":1: missing 'drawing'"),
    "list-valued word": (drawing(["cat", "dog"]).encode(), {}, ":1: 'word' must be a string"),
    "drawing not a list": (drawing(strokes={"x": 1}).encode(), {},
                           ":1: 'drawing' must be a list"),
    "no strokes": (drawing(strokes=[]).encode(), {}, ":1: 'drawing' has no strokes"),
    "stroke without y": (drawing(strokes=[[[1, 2]]]).encode(), {}, ":1: stroke 0 must be"),
    "non-numeric coordinate": (drawing(strokes=[[[1, "2"], [3, 4]]]).encode(), {},
                               ":1: stroke 0: x holds the non-numeric"),
    "boolean coordinate": (drawing(strokes=[[[1, 2], [3, True]]]).encode(), {},
                           ":1: stroke 0: y holds the non-numeric"),
    "y not a list": (drawing(strokes=[[[1, 2], 7]]).encode(), {}, ":1: stroke 0: y must be"),
    "x/y length mismatch": (drawing(strokes=[[[1, 2], [3, 4]], [[1, 2, 3], [4]]]).encode(), {},
                            ":1: stroke 1 has 3 x but 1 y"),
    "empty stroke": (drawing(strokes=[[[], []]]).encode(), {}, ":1: stroke 0 is empty"),
    "NaN coordinate": (b'{"word": "cat", "drawing": [[[1, NaN], [3, 4]]]}', {},
                       ":1: stroke 0: x holds NaN"),
    "huge coordinate": (drawing(strokes=[[[1, 10 ** 400], [3, 4]]]).encode(), {},
                        ":1: stroke 0: x holds a coordinate too large"),
    "offsets beyond int16": (drawing(strokes=[[[0, 70000], [0, 0]]]).encode(), {},
                             ":1: coordinates too large"),
    "empty file": (b"", {}, "no drawings"),
    "blank lines only": (b"\n  \n\n", {}, "no drawings"),
    "nothing recognised": (drawing(recognized=False).encode(), {"recognized_only": True},
                           "none of its 1 drawings is recognised"),
    "empty train split": ((GOOD + "\n" + GOOD + "\n").encode(),
                          {"valid_fraction": 0.45, "test_fraction": 0.45},
                          "the train split would be empty"),
}


def run_ndjson(args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "sketchgloc_tf2.data.ndjson"] + args, cwd=cwd,
                          capture_output=True, text=True, env=tool_env(), timeout=120)


@pytest.mark.parametrize("case", sorted(NDJSON_CASES))
def test_ndjson_bad_drawing_is_one_line_naming_file_and_line(case, tmp_path):
    content, options, words = NDJSON_CASES[case]
    source = tmp_path / "drawings.ndjson"
    source.write_bytes(content)
    out = tmp_path / "out"
    with pytest.raises(SketchDataError) as error:
        ndjson.convert([str(source)], str(out), **options)
    assert_one_line(error.value, source, words)
    assert not out.exists()


def test_ndjson_command_line_bad_drawing(tmp_path):
    source = tmp_path / "drawings.ndjson"
    source.write_bytes(NDJSON_CASES["y not a list"][0])
    completed = run_ndjson([str(source), "--output_dir", str(tmp_path / "out")])
    assert_one_error_line(completed.returncode, completed.stderr, f"{source}:1: stroke 0: y")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, words", [
    ("missing input", "cannot read"),
    ("output_dir is a file", "--output_dir"),
    ("output exists", "already exists"),
    ("bad fractions", "--valid_fraction"),
    ("negative seed", "--seed"),
])
def test_ndjson_bad_arguments_are_one_line(case, words, tmp_path):
    source = tmp_path / "cat.ndjson"
    source.write_text(GOOD + "\n")
    out = tmp_path / "out"
    args = [str(source), "--output_dir", str(out)]
    if case == "missing input":
        args[0] = str(tmp_path / "missing.ndjson")
    elif case == "output_dir is a file":
        out.write_text("a file")
    elif case == "output exists":
        out.mkdir()
        (out / "cat.npz").write_text("the user's file")
    elif case == "bad fractions":
        args += ["--valid_fraction", "0.6", "--test_fraction", "0.5"]
    else:
        args += ["--seed", "-1"]
    completed = run_ndjson(args)
    assert_one_error_line(completed.returncode, completed.stderr, words)
    if case == "output exists":
        assert (out / "cat.npz").read_text() == "the user's file"
    elif case == "output_dir is a file":
        assert out.read_text() == "a file"
    else:
        assert not out.exists()


@pytest.mark.parametrize("word, stem", [
    ("cat", "cat"),
    ("The Great Wall of China", "The Great Wall of China"),
    ("../x", "_x"),
    ("/abs/x", "_abs_x"),
    ("a/b", "a_b"),
    ("a\\b", "a_b"),
    ("..", ndjson.UNNAMED),
    (".", ndjson.UNNAMED),
    ("", ndjson.UNNAMED),
    (" .hidden", "hidden"),
    ("nul\x00byte", "nul_byte"),
    ("line\nbreak", "line_break"),
    ("lone\ud800surrogate", "lone_surrogate"),
    ("x" * 300, "x" * ndjson.MAX_NAME_BYTES),
])
def test_output_names_are_plain_file_names(word, stem):
    assert ndjson.output_names([word]) == {word: stem}


def test_output_names_never_collide():
    names = ndjson.output_names(["a_b", "a/b", "a\\b", "..", ""])
    assert names == {"a_b": "a_b", "a/b": "a_b_2", "a\\b": "a_b_3", "": "unnamed",
                     "..": "unnamed_2"}


def test_ndjson_words_cannot_write_outside_output_dir(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    words = ["../escape", str(outside / "abs"), "a/b", "..", "", "nul\x00x", ".", "cat",
             "_escape", os.path.join("..", "..", "..", "tmp", "escape_marker")]
    lines = [drawing(word, [[[k, k + 1], [0, 1]]]) for word in words for k in range(3)]
    source = tmp_path / "words.ndjson"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "work" / "out"
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    completed = run_ndjson([str(source), "--output_dir", str(out), "--valid_fraction", "0",
                            "--test_fraction", "0"])
    assert completed.returncode == 0, completed.stderr
    created = sorted(set(str(p) for p in tmp_path.rglob("*")) - set(before))
    assert all(path in (str(out.parent), str(out)) or os.path.dirname(path) == str(out)
               for path in created), created
    written = sorted(os.listdir(out))
    assert len(written) == len(words) and all(name.endswith(".npz") for name in written)
    assert not os.listdir(outside)
    assert not (tmp_path.parent / "tmp" / "escape_marker.npz").exists()
    printed = completed.stdout.splitlines()
    assert len(printed) == len(words)
    assert all(os.path.dirname(os.path.realpath(path)) == str(out) for path in printed)
    for word in words:
        if word != "cat" and word != "_escape":
            assert repr(word) in completed.stderr, word
    for name in written:  # one category per file, none merged or overwritten
        assert len(quickdraw.load_category(str(out / name), 100)["train"]) == 3


def test_ndjson_empty_valid_and_test_splits_are_a_warning_with_counts(tmp_path, caplog):
    source = tmp_path / "three.ndjson"
    source.write_text("\n".join([GOOD] * 3) + "\n")
    written = ndjson.convert([str(source)], str(tmp_path / "out"))
    assert [os.path.basename(path) for path in written] == ["cat.npz"]
    assert "3 drawings give 3 train, 0 valid, 0 test" in caplog.text
    assert "valid and test split(s) are empty" in caplog.text


def test_ndjson_zero_fractions_are_not_warned(tmp_path, caplog):
    source = tmp_path / "three.ndjson"
    source.write_text("\n".join([GOOD] * 3) + "\n")
    ndjson.convert([str(source)], str(tmp_path / "out"), 0.0, 0.0)
    assert "empty" not in caplog.text


# ------------------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("case", sorted(CHECKPOINT_DAMAGE))
def test_damaged_checkpoint_is_one_line_naming_the_file(case, damaged_checkpoints):
    _, file_name, words = CHECKPOINT_DAMAGE[case]
    folder = damaged_checkpoints[case]
    with pytest.raises(SketchCheckpointError) as error:
        load_checkpoint_dir(folder)
    assert_one_line(error.value, os.path.join(folder, file_name), words)


def test_missing_checkpoint_dir_is_named(tmp_path):
    with pytest.raises(SketchCheckpointError) as error:
        load_checkpoint_dir(str(tmp_path / "missing"))
    assert_one_line(error.value, tmp_path / "missing", "no such checkpoint directory")


def test_tiny_checkpoint_loads(tiny_checkpoint):
    model, hparams = load_checkpoint_dir(tiny_checkpoint)
    assert hparams.z_size == TINY["z_size"] and model.fc_mu.kernel.shape[-1] == TINY["z_size"]


# ------------------------------------------------------------------------------ sample folders


SAMPLE_ARRAYS = {
    # name: (file bytes or array, words of the error)
    "empty file": (b"", "truncated or corrupted"),
    "truncated header": (lambda path: (np.save(path, np.zeros((1, 3), np.float32)),
                                       truncate(path, 20)), "truncated or corrupted"),
    "truncated data": (lambda path: (np.save(path, np.zeros((1, 3), np.float32)),
                                     truncate(path, -4)), "truncated or corrupted"),
    "text": (b"0.1 0.2 0.3\n", "truncated or corrupted"),
    "pickled objects": (lambda path: np.save(path, np.array([{"a": 1}], dtype=object),
                                             allow_pickle=True), "truncated or corrupted"),
    "strings": (lambda path: np.save(path, np.array(["a", "b", "c"])), "numeric array"),
    "NaN": (lambda path: np.save(path, np.array([[np.nan, 0, 0]])), "NaN"),
}


@pytest.mark.parametrize("case", sorted(SAMPLE_ARRAYS))
def test_bad_sample_array_is_one_line_naming_the_file(case, tmp_path):
    content, words = SAMPLE_ARRAYS[case]
    path = str(tmp_path / "code_0_0.npy")
    if callable(content):
        content(path)
    else:
        write(path, content)
    with pytest.raises(SketchDataError) as error:
        load_sample_array(path)
    assert_one_line(error.value, path, words)


# ------------------------------------------------------------------------------ export, convert


def test_export_base_that_is_a_file_fails_before_loading(tmp_path):
    base = tmp_path / "base"
    base.write_text("a file")
    with pytest.raises(SketchConfigError) as error:
        gloc_export.main([str(tmp_path / "no_checkpoint_needed"), str(base)])
    assert_one_line(error.value, "EXPORT_BASE", base)
    with pytest.raises(SketchConfigError) as error:
        export.check_export_base(str(base / "sub"))
    assert_one_line(error.value, base, "is a file")
    assert base.read_text() == "a file"


@pytest.mark.parametrize("case", ["truncated weights", "missing config"])
def test_export_of_a_damaged_checkpoint_writes_nothing(case, damaged_checkpoints, tmp_path):
    folder = damaged_checkpoints[case]
    with pytest.raises(SketchCheckpointError) as error:
        gloc_export.main([folder, str(tmp_path / "base")])
    assert_one_line(error.value, os.path.join(folder, CHECKPOINT_DAMAGE[case][1]))
    assert not (tmp_path / "base").exists()


def tf1_garbage(folder):
    os.makedirs(folder)
    write(os.path.join(folder, "vector-7.index"), b"garbage")
    write(os.path.join(folder, "vector-7.data-00000-of-00001"), b"garbage")
    return os.path.join(folder, "vector-7")


@pytest.mark.parametrize("case, words", [
    ("missing prefix", "cannot read a TF checkpoint"),
    ("garbage prefix", "cannot read a TF checkpoint"),
    ("folder without checkpoint file", "no 'checkpoint' file"),
    ("checkpoint file naming a missing prefix", "vector-9, which has no .index file"),
    ("output is a file", "--output"),
])
def test_convert_bad_tf1_checkpoint_is_one_line(case, words, tiny_checkpoint, tmp_path):
    output = tmp_path / "converted"
    prefix = str(tmp_path / "ckpt" / "vector-7")
    if case == "garbage prefix":
        prefix = tf1_garbage(str(tmp_path / "ckpt"))
    elif case == "folder without checkpoint file":
        prefix = str(tmp_path)
    elif case == "checkpoint file naming a missing prefix":
        (tmp_path / "checkpoint").write_text('model_checkpoint_path: "vector-9"\n')
        prefix = str(tmp_path)
    elif case == "output is a file":
        output.write_text("a file")
    with pytest.raises((SketchCheckpointError, SketchConfigError)) as error:
        gloc_convert.main(["--tf1_checkpoint", prefix, "--config",
                      os.path.join(tiny_checkpoint, CONFIG), "--output", str(output)])
    named = output if case == "output is a file" else prefix
    assert_one_line(error.value, named, words)
    assert output.is_file() if case == "output is a file" else not output.exists()


# ------------------------------------------------------------------------------ command lines


SAMPLE_ABS_DRIVER = """
import json, runpy, sys
from flags import gloc_sample as tool
from sketch_common.errors import run_tool
cases = json.loads(sys.argv[1])
codes = []
for index, argv in enumerate(cases):
    print("@@case", file=sys.stderr, flush=True)
    try:
        if index + 1 < len(cases):
            run_tool(lambda: tool.main(["sample_abs.py"] + argv))
        else:  # the last case exactly as the script's __main__ runs it
            print(json.dumps(codes), flush=True)
            sys.argv = ["sample_abs.py"] + argv
            runpy.run_path("sample_abs.py", run_name="__main__")
    except SystemExit as exit:
        codes.append(exit.code)
print(json.dumps(codes[-1:]))
"""
RETRIEVAL_DRIVER = SAMPLE_ABS_DRIVER.replace("sample_abs", "retrieval").replace("gloc_sample",
                                                                               "gloc_retrieval")


def sample_abs_cases(tmp, checkpoints, good):
    """(argv, names in the error) of sample_abs.py; OUTPUT_DIR `tmp/out` must not be created."""
    out = str(tmp / "out")
    a_file = str(tmp / "a_file")
    return [
        (["0", "1", out, "0", good], ["SAMPLE_SIZE", "got 0"]),
        (["-3", "1", out, "0", good], ["SAMPLE_SIZE", "got -3"]),
        (["2.5", "1", out, "0", good], ["SAMPLE_SIZE (positional 1)", "'2.5'"]),
        (["two", "1", out, "0", good], ["SAMPLE_SIZE (positional 1)", "'two'"]),
        (["2", "9", out, "0", good], ["DATASET_ID", "9"]),
        (["2", "x", out, "0", good], ["DATASET_ID (positional 2)"]),
        (["2", "1", a_file, "0", good], ["OUTPUT_DIR", a_file]),
        (["2", "1", out, "-0.5", good], ["RE_SCALE", "-0.5"]),
        (["2", "1", out, "0", good, "-1"], ["CKPT_ID", "-1"]),
        (["2", "1", out, "0", good, "5"], ["vector-5"]),
        (["2", "1", out, "0", str(tmp / "missing")], [str(tmp / "missing")]),
        (["2", "1", out, "0", checkpoints["truncated weights"]],
         [os.path.join(checkpoints["truncated weights"], WEIGHTS)]),
        (["2", "1", out, "0", checkpoints["missing config"]],
         [os.path.join(checkpoints["missing config"], CONFIG)]),
        (["2", "1", out, "0", checkpoints["invalid JSON config"]],
         [os.path.join(checkpoints["invalid JSON config"], CONFIG)]),
        (["2"], ["missing DATASET_ID, OUTPUT_DIR, CHECKPOINT_DIR"]),
        (["2", "1", out, "0", good, "0", "extra"], ["too many positional arguments"]),
        (["--sample_size=many"], ["--sample_size=many"]),
        (["2", "1", out, "0", good, "--batch_size=0"], ["--batch_size"]),
        (["-2", "1", out, "0", checkpoints["truncated weights"]], ["SAMPLE_SIZE", "got -2"]),
    ]


def retrieval_cases(tmp, checkpoints, good, folders):
    return [
        ([str(tmp / "missing"), good], ["SAMPLE_DIR", str(tmp / "missing")]),
        ([str(tmp / "a_file"), good], ["SAMPLE_DIR", "not a folder"]),
        ([folders["empty"], good], [folders["empty"], "no code_"]),
        ([folders["incomplete"], good], [folders["incomplete"], "s_1_0.npy is missing"]),
        ([folders["good"], str(tmp / "missing")], [str(tmp / "missing")]),
        ([folders["good"], checkpoints["garbage weights"]],
         [os.path.join(checkpoints["garbage weights"], WEIGHTS)]),
        ([folders["good"], checkpoints["list config"]],
         [os.path.join(checkpoints["list config"], CONFIG)]),
        ([folders["good"]], ["usage: python retrieval.py"]),
        ([folders["truncated code"], good],
         [os.path.join(folders["truncated code"], "code_1_0.npy")]),
    ]


@pytest.fixture(scope="module")
def tool_runs(tiny_checkpoint, damaged_checkpoints, sample_folders, tmp_path_factory):
    """Runs the TensorFlow tools' subprocesses at once; name -> (cases or names in the error,
    returncode, stdout, stderr).

    A driver process per script runs its cases through `run_tool(main)` of its `flags/` module,
    the last one as the script's `__main__` (`runpy`); export and convert run as `python -m`
    commands.
    """
    tmp = tmp_path_factory.mktemp("tool_runs")
    (tmp / "a_file").write_text("a file")
    (tmp / "export_base").write_text("a file")
    sample_cases = sample_abs_cases(tmp, damaged_checkpoints, tiny_checkpoint)
    retrieval = retrieval_cases(tmp, damaged_checkpoints, tiny_checkpoint, sample_folders)
    garbage_prefix = tf1_garbage(str(tmp / "tf1"))
    commands = {
        "sample_abs cases": ([sys.executable, "-c", SAMPLE_ABS_DRIVER,
                              json.dumps([argv for argv, _ in sample_cases])], sample_cases),
        "retrieval cases": ([sys.executable, "-c", RETRIEVAL_DRIVER,
                             json.dumps([argv for argv, _ in retrieval])], retrieval),
        "export base": ([sys.executable, "-m", "sketchgloc_tf2.export", tiny_checkpoint,
                         str(tmp / "export_base")], ["EXPORT_BASE", str(tmp / "export_base")]),
        "convert": ([sys.executable, "-m", "sketchgloc_tf2.convert", "--tf1_checkpoint",
                     garbage_prefix, "--config", os.path.join(tiny_checkpoint, CONFIG),
                     "--output", str(tmp / "converted")], [garbage_prefix]),
    }
    processes = {
        name: subprocess.Popen(command, cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, (command, _) in commands.items()
    }
    runs = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        runs[name] = (commands[name][1], process.returncode, stdout, stderr)
    runs["tmp"] = tmp
    return runs


@pytest.mark.parametrize("name", ["sample_abs cases", "retrieval cases"])
def test_every_case_through_main_is_one_line(name, tool_runs):
    cases, returncode, stdout, stderr = tool_runs[name]
    assert returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    printed = stdout.strip().splitlines()
    codes = json.loads(printed[0]) + json.loads(printed[-1])
    outputs = stderr.split("@@case\n")[1:]
    assert len(codes) == len(outputs) == len(cases)
    for (argv, names), code, output in zip(cases, codes, outputs):
        assert_one_error_line(code, output, *names)
    assert not (tool_runs["tmp"] / "out").exists()


@pytest.mark.parametrize("name", ["export base", "convert"])
def test_command_line_error_is_one_line(name, tool_runs):
    names, returncode, stdout, stderr = tool_runs[name]
    assert_one_error_line(returncode, stderr, *names)
    assert stdout == ""
    tmp = tool_runs["tmp"]
    assert not (tmp / "out").exists()
    assert not (tmp / "converted").exists() and (tmp / "export_base").read_text() == "a file"
