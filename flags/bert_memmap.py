"""`python -m bert_tf2.data.memmap` (console script `sketch-bert-memmap`): command line.

Builds the QuickDraw memmaps Sketch-BERT trains on (upstream's `generate_dataset.py` layout:
`memmap/<cls>_<split>.dat`, `offsets.npz`, `memmap_sum.txt`) from sketch-rnn npz files, or checks
memmaps for valid/test sketches that duplicate train sketches (upstream's generator bug B1).

Command line::

    python -m bert_tf2.data.memmap --npz_list LIST.txt --output_dir DIR [--reproduce_split_leak]
    python -m bert_tf2.data.memmap LIST.txt DIR
    python -m bert_tf2.data.memmap --data_dir NPZ_DIR --categories cat,dog,... --output_dir DIR
    python -m bert_tf2.data.memmap --check_leaks --output_dir DIR
    python -m bert_tf2.data.memmap --check_leaks --sum_path SUM --offset_path OFFSETS

`LIST.txt` holds one npz path per line (only the first tab-separated field is read; missing files
are skipped with a warning, as upstream). `--data_dir NPZ_DIR --categories a,b,...` instead takes
`NPZ_DIR/<name>.npz` for each comma-separated name, in the given (label) order; a missing one is
an error listing the categories the folder has.

Exit status: 0 (built; or no leak found), 1 (leaks found, or an error printed as one line
`error: ...`), 2 (bad command line).
"""

import argparse
import os
import sys

from flags.parsing import parse_or_status

SUM_FILE_NAME = "memmap_sum.txt"  # bert_tf2.data.memmap_format.SUM_FILE_NAME (no TF import here)
OFFSETS_FILE_NAME = "offsets.npz"  # bert_tf2.data.memmap_format.OFFSETS_FILE_NAME


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m bert_tf2.data.memmap`."""
    parser = argparse.ArgumentParser(
        prog="python -m bert_tf2.data.memmap", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("positional", nargs="*", help="NPZ_LIST OUTPUT_DIR (upstream order)")
    parser.add_argument("--npz_list", help="file with one npz path per line")
    parser.add_argument("--data_dir", help="folder of <category>.npz files (with --categories)")
    parser.add_argument("--categories",
                        help="comma-separated category names, read from --data_dir in this "
                             "(label) order; instead of --npz_list")
    parser.add_argument("--output_dir", help="destination (or, with --check_leaks, the folder "
                                             f"holding {SUM_FILE_NAME} and {OFFSETS_FILE_NAME})")
    parser.add_argument("--reproduce_split_leak", action="store_true",
                        help="write upstream's leaky valid/test files (bug B1); off by default")
    parser.add_argument("--check_leaks", action="store_true",
                        help="report valid/test sketches duplicating train sketches; exit 1 "
                             "if any")
    parser.add_argument("--sum_path", help="sum file to check (default OUTPUT_DIR/memmap_sum.txt)")
    parser.add_argument("--offset_path", help="offsets file to check")
    return parser


def main(argv=None) -> int:
    """Runs the command on `argv` (default `sys.argv[1:]`); returns the exit status.

    `--help` prints the description and every argument and returns 0 before any library import;
    a bad command line exits 2 (argparse). Errors are raised (`run()` prints them as one line).
    """
    parser = make_parser()
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    positional = list(args.positional)
    by_category = args.categories is not None or args.data_dir is not None
    npz_list = args.npz_list or (positional.pop(0) if positional and not args.check_leaks
                                 and not by_category else None)
    output_dir = args.output_dir or (positional.pop(0) if positional else None)
    from absl import logging

    from bert_tf2.data.memmap_builder import build_memmaps, category_npz_paths, read_npz_list
    from bert_tf2.data.split_leaks import find_split_leaks

    logging.set_verbosity(logging.INFO)
    if args.check_leaks:
        sum_path = args.sum_path or (output_dir and os.path.join(output_dir, SUM_FILE_NAME))
        offset_path = args.offset_path or (
            output_dir and os.path.join(output_dir, OFFSETS_FILE_NAME))
        if not sum_path or not offset_path:
            parser.error("--check_leaks needs --output_dir or --sum_path and --offset_path")
        leaks = find_split_leaks(sum_path, offset_path)
        for leak in leaks:
            print(f"LEAK {leak.class_name} [{leak.split}]: {len(leak.duplicate_indices)} "
                  f"sketches duplicate train sketches (first index {leak.duplicate_indices[0]})"
                  + ("; offsets start with the train list (upstream generator bug B1)"
                     if leak.legacy_prefix else ""))
        print(f"{len(leaks)} leaky class splits" if leaks else "no leaks found")
        return 1 if leaks else 0
    if by_category:
        if npz_list or args.categories is None or args.data_dir is None:
            parser.error("--categories and --data_dir go together, without --npz_list")
        if not output_dir:
            parser.error("give --output_dir DIR")
        npz_paths = category_npz_paths(args.data_dir, args.categories)
    else:
        if not npz_list or not output_dir:
            parser.error("give --npz_list LIST --output_dir DIR (or LIST DIR), or --data_dir "
                         "DIR --categories a,b,... --output_dir DIR")
        npz_paths = read_npz_list(npz_list)
    sum_path, offset_path = build_memmaps(npz_paths, output_dir,
                                          reproduce_split_leak=args.reproduce_split_leak)
    print(f"wrote {sum_path} and {offset_path}")
    return 0

def run() -> None:
    """Console-script entry point: errors become one `error: ...` line and exit status 1."""
    from sketch_common.errors import run_tool

    run_tool(main)
