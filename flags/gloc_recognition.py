"""`python -m sketchgloc_tf2.recognition` (console script `sketchgloc-recognition`).

    python -m sketchgloc_tf2.recognition train --data_dir DIR (--categories bee,bus,... |
        --dataset_id 1|2|3) --output MODEL_DIR [--image_size 96] [--epochs 10] [--batch_size 64]
        [--learning_rate 1e-3] [--num_per_category 70000] [--seed 0]
    python -m sketchgloc_tf2.recognition eval SAMPLE_DIR --model MODEL_DIR

The Rec metric (docs/differences.md#sg-7): `train` fits a Sketch-a-Net classifier on the real
training drawings of the categories, rasterised as `sample_abs.py` renders generated sketches;
`eval` classifies the PNGs of a `sample_abs.py` folder and prints `Rec: <accuracy>` and one line
per category. Errors are one `error: ...` line, exit status 1.
"""

import argparse
import sys

from flags.parsing import parse_or_status

PAPER_IMAGE_SIZE = 225  # sketchgloc_tf2.recognition.PAPER_IMAGE_SIZE (no TF import here)


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.recognition`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.recognition", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train Sketch-a-Net on real drawings")
    fit.add_argument("--data_dir", required=True, help="folder of the <category>.npz files")
    fit.add_argument("--categories", help="comma-separated category names, in class order")
    fit.add_argument("--dataset_id", type=int,
                     help="1, 2, 3: upstream's category lists (when --categories is not given)")
    fit.add_argument("--output", required=True, help="model folder to write")
    fit.add_argument("--image_size", type=int, default=96,
                     help=f"network input side in pixels, >= 81 (default 96; "
                          f"{PAPER_IMAGE_SIZE} in the paper)")
    fit.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    fit.add_argument("--batch_size", type=int, default=64, help="images per batch (default 64)")
    fit.add_argument("--learning_rate", type=float, default=1e-3,
                     help="Adam learning rate (default 1e-3)")
    fit.add_argument("--num_per_category", type=int, default=70000,
                     help="training drawings per category at most (default 70000)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    score = commands.add_parser("eval", help="Rec of a sample_abs.py folder")
    score.add_argument("sample_dir", help="OUTPUT_DIR of sample_abs.py")
    score.add_argument("--model", required=True, help="model folder written by train")
    return parser


def categories(args) -> list:
    """The category list of `train`: --categories, else the upstream list of --dataset_id.

    Raises:
        SketchConfigError: neither is given.
    """
    from sketchgloc_tf2.errors import SketchConfigError
    from sketchgloc_tf2.hparams import DATASETS

    if args.categories:
        return [name.strip() for name in args.categories.split(",") if name.strip()]
    if args.dataset_id in DATASETS:
        return list(DATASETS[args.dataset_id])
    raise SketchConfigError("give --categories a,b,c or --dataset_id 1|2|3")


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), trains or evaluates; returns the exit status."""
    args, status = parse_or_status(make_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketchgloc_tf2 import recognition

    if args.command == "train":
        config = recognition.train(args.data_dir, categories(args), args.output,
                                   args.image_size, args.epochs, args.batch_size,
                                   args.learning_rate, args.num_per_category, args.seed)
        print(f"valid accuracy: {config['valid_accuracy']:.4f} "
              f"({config['valid_drawings']} drawings); model in {args.output}")
    else:
        model, config = recognition.load_recognizer(args.model)
        result = recognition.evaluate_folder(model, config, args.sample_dir)
        print(f"Rec: {result['accuracy']}")
        for name, accuracy in result["per_category"].items():
            print(f"  {name}: {accuracy:.4f}")
    return 0


def run() -> None:
    """Console-script entry point."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sketch_common.errors import run_tool

    run_tool(main)
