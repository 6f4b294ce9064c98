"""`python -m sketch_demo` (console script `sketch-demo`): command line of the browser demo.

    python -m sketch_demo [--host 127.0.0.1] [--port 8000] [--gloc PRESET|DIR] [--bert PRESET|DIR]
        [--tf_serving URL]

Serves the drawing page at http://HOST:PORT/ and TF Serving's REST predict API for the
signatures of the exports: POST /v1/models/sketchgloc:predict (serving_default = encode,
sample, reconstruct, complete) and POST /v1/models/sketch_bert:predict (serving_default =
embed, classify, retrieval_embed), columnar {"inputs": ...} or row {"instances": [...]}
requests. With --tf_serving the models are not loaded here: the /v1/models requests go to that
model server (e.g. tensorflow_model_server --rest_api_port=8501 serving the two exports under
the names sketchgloc and sketch_bert). See docs/demo.md.
"""

import argparse
import sys

from flags.parsing import parse_or_status

DEFAULT_GLOC = "sketchgloc_ds3_small"
DEFAULT_BERT = "sketch_bert_qd336_small_cls"


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketch_demo`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketch_demo", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 "
                             "makes the demo reachable from the network)")
    parser.add_argument("--port", type=int, default=8000,
                        help="TCP port (default 8000; 0 picks a free one, printed at start)")
    parser.add_argument("--gloc", default=DEFAULT_GLOC,
                        help=f"SketchGloc preset name or preset / checkpoint directory "
                             f"(default {DEFAULT_GLOC})")
    parser.add_argument("--bert", default=DEFAULT_BERT,
                        help=f"Sketch-BERT preset name or preset / checkpoint directory with a "
                             f"classification head (default {DEFAULT_BERT})")
    parser.add_argument("--tf_serving", default=None, metavar="URL",
                        help="REST root of a model server serving the exports as sketchgloc "
                             "and sketch_bert, e.g. http://localhost:8501; the page's requests "
                             "are relayed to it (only the presets' configs are read here)")
    parser.add_argument("--max_body_bytes", type=int, default=1 << 20,
                        help="larger request bodies are refused with HTTP 400 (default 1 MiB)")
    parser.add_argument("--threads", type=int, default=8,
                        help="requests served at the same time (default 8)")
    return parser


def main(argv=None) -> int:
    """Loads the models (or reads their limits when relaying) and serves until interrupted.

    `--help` returns 0 before TensorFlow is imported; a bad command line exits 2 (argparse).
    The address is printed as `serving the demo on http://HOST:PORT/` once the server listens.
    """
    parser = make_parser()
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketch_demo import server, signatures

    if args.tf_serving:
        models, limits = {}, signatures.preset_limits(args.gloc, args.bert)
    else:
        models = signatures.load_models(args.gloc, args.bert)
        limits = {name: model.limits for name, model in models.items()}
    app = server.create_app(models, limits, args.tf_serving, args.max_body_bytes)
    http_server = server.make_server(app, args.host, args.port, args.threads)
    print(f"serving the demo on http://{args.host}:{http_server.effective_port}/", flush=True)
    try:
        http_server.run()
    except KeyboardInterrupt:
        pass
    finally:
        http_server.close()
    return 0


def run() -> None:
    """Console-script entry point: errors become one `error: ...` line and exit status 1."""
    from sketch_common.errors import run_tool

    run_tool(main)
