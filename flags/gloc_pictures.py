"""`python -m sketchgloc_tf2.pictures` (console script `sketchgloc-pictures`): command line.

    python -m sketchgloc_tf2.pictures grid CHECKPOINT_DIR OUT.png --data_dir DIR [--re_scale 0.3]
    python -m sketchgloc_tf2.pictures interpolate CHECKPOINT_DIR OUT.png --data_dir DIR
    python -m sketchgloc_tf2.pictures curves LOG_ROOT OUT.png
    python -m sketchgloc_tf2.pictures samples SAMPLE_DIR OUT.png [--per_category 8]

Pictures of a SketchGloc model (see `sketchgloc_tf2.pictures`): `grid` draws test sketches, the
encoder's input (nodes, displaced by --re_scale) and their reconstructions; `interpolate` decodes
codes between two sketches; `curves` plots Train_Cost, Valid_Cost and Learning_Rate from the
TensorBoard logs of a run; `samples` is a contact sheet of a `sample_abs.py` folder. CHECKPOINT_DIR
is a native checkpoint directory or an original TF1 checkpoint. Prints the written path; errors
are one `error: ...` line, exit status 1. Each command's flags: `... COMMAND --help`.
"""

import argparse
import sys

from flags.parsing import parse_or_status

DEFAULT_TEMPERATURE = 0.24  # sketchgloc_tf2.sampling.DEFAULT_TEMPERATURE (no TF import here)


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.pictures`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.pictures", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {"grid": "original / encoder input / reconstruction of test sketches",
             "interpolate": "sketches decoded along the line between two codes"}
    for name in ("grid", "interpolate"):
        command = commands.add_parser(name, help=helps[name])
        command.add_argument("checkpoint_dir",
                             help="native checkpoint directory or TF1 checkpoint")
        command.add_argument("output", help="PNG file to write")
        command.add_argument("--data_dir", required=True,
                             help="folder of the <category>.npz files of the checkpoint's "
                                  "categories")
        command.add_argument("--split", default="test", choices=("train", "valid", "test"),
                             help="split the sketches come from (default test)")
        command.add_argument("--re_scale", type=float, default=0.0,
                             help="reorganisation noise of the encoder input (default 0)")
        command.add_argument("--stochastic", action="store_true",
                             help="sample at --temperature instead of greedy decoding")
        command.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                             help=f"sampling temperature with --stochastic (default "
                                  f"{DEFAULT_TEMPERATURE})")
        command.add_argument("--seed", type=int, default=0,
                             help="seed of the noise and of the sampler (default 0)")
    grid = commands.choices["grid"]
    grid.add_argument("--num", type=int, default=8,
                      help="sketches, taken in turn from each category (default 8)")
    grid.add_argument("--indices", type=int, nargs="*",
                      help="explicit sketch indices in the split (instead of --num)")
    interpolate = commands.choices["interpolate"]
    interpolate.add_argument("--index_a", type=int, default=None,
                             help="index of sketch A in the split (default: first sketch)")
    interpolate.add_argument("--index_b", type=int, default=None,
                             help="index of sketch B (default: first of another category)")
    interpolate.add_argument("--steps", type=int, default=8,
                             help="decoded codes between A and B, both included (default 8)")
    curves = commands.add_parser("curves", help="training curves of a run")
    curves.add_argument("log_root", help="the --log_root of a train.py run")
    curves.add_argument("output", help="PNG file to write")
    sheet = commands.add_parser("samples", help="contact sheet of a sample_abs.py folder")
    sheet.add_argument("sample_dir", help="OUTPUT_DIR of sample_abs.py")
    sheet.add_argument("output", help="PNG file to write")
    sheet.add_argument("--per_category", type=int, default=8,
                       help="sketches per category row (default 8)")
    return parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), draws; returns the exit status."""
    args, status = parse_or_status(make_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketchgloc_tf2 import pictures

    if args.command == "curves":
        path = pictures.training_curves(args.log_root, args.output)
    elif args.command == "samples":
        path = pictures.sample_sheet(args.sample_dir, args.output, args.per_category)
    else:
        from sketchgloc_tf2.convert import load_sampling_model

        model, hparams = load_sampling_model(args.checkpoint_dir)
        if args.command == "grid":
            hparams, batch = pictures.test_batch(args.data_dir, hparams, args.split, args.num,
                                                 args.indices, args.re_scale, args.seed)
            path = pictures.reconstruction_grid(
                model, hparams, batch, args.output, max_sketches=len(batch["input_strokes_num"]),
                greedy=not args.stochastic, temperature=args.temperature, seed=args.seed)
        else:
            pair = None
            if args.index_a is not None or args.index_b is not None:
                pair = [args.index_a or 0, args.index_b or 0]
            hparams, batch = pictures.test_batch(args.data_dir, hparams, args.split, 2, pair,
                                                 args.re_scale, args.seed)
            path = pictures.interpolation_strip(
                model, hparams, batch, args.output, steps=args.steps,
                greedy=not args.stochastic, temperature=args.temperature, seed=args.seed)
    print(path)
    return 0


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    run_tool(main)
