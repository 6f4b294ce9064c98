"""The demo's web application: the page, TF Serving's REST API for both models, and its server.

Routes (TF Serving's, plus the page's own):

| route | answer |
|---|---|
| `GET /` | the drawing page (`static/index.html`; scripts and styles under `/static/`) |
| `GET /demo/config.json` | the models' limits the page needs (`max_points`, `z_size`, ...) |
| `GET /v1/models/<name>` | TF Serving's model status (`AVAILABLE`) |
| `GET /v1/models/<name>/metadata` | the signatures' inputs and outputs (and the limits) |
| `POST /v1/models/<name>:predict` | TF Serving predict, columnar or row layout (`rest_format`) |

`<name>` is `sketchgloc` or `sketch_bert`. A bad request is HTTP 400 `{"error": message}` (as
TF Serving); an unknown model 404. With a model server URL (`--tf_serving`), the `/v1/models`
routes are relayed to it unchanged (`relay`). The application holds no per-request state: the
signatures are traced once at load time and run concurrently from waitress's threads.
"""

import os

import flask
import waitress
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sketch_demo import relay as relay_lib
from sketch_demo.rest_format import RequestError, format_response, parse_request

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_BATCH = 64
DEFAULT_THREADS = 8
WAITRESS_BODY_FACTOR = 8
VERSION = "1"  # the one version this server has, as TF Serving reports versions


class UnknownModel(LookupError):
    """A request for a model this server does not have (HTTP 404)."""


def _error(message: str, status: int):
    return flask.jsonify({"error": message}), status


def create_app(models: dict, limits: dict, tf_serving: str = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH) -> flask.Flask:
    """The Flask application.

    Args:
        models: model name -> `signatures.ServedModel` (empty when relaying).
        limits: model name -> the limits `/demo/config.json` gives the page.
        tf_serving: a model server's REST root URL to relay `/v1/models` requests to; None
            runs `models` in process.
        max_body_bytes: larger request bodies are refused with HTTP 400.
        max_batch: largest first dimension of a request input.

    Returns:
        The `flask.Flask` application (WSGI).
    """
    app = flask.Flask(__name__, static_folder=STATIC_DIR, static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.errorhandler(RequestEntityTooLarge)
    def body_too_large(_):
        return _error(f"the request body is over this server's limit of {max_body_bytes} "
                      "bytes; send fewer or shorter sketches per request", 400)

    @app.errorhandler(UnknownModel)
    def unknown_model(error):
        return _error(str(error), 404)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return _error(f"{error.name}: {flask.request.method} {flask.request.path}",
                      error.code)

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/demo/config.json")
    def config():
        return flask.jsonify({"models": limits, "tf_serving": tf_serving or ""})

    def served(name):
        if name not in models:
            raise UnknownModel(f"no model '{name}'; this server has "
                               f"{', '.join(sorted(models))}")
        return models[name]

    def relayed():
        request = flask.request
        status, body, content_type = relay_lib.relay(
            tf_serving, request.full_path.rstrip("?"), request.method,
            request.get_data() if request.method == "POST" else None)
        return flask.Response(body, status=status, content_type=content_type)

    @app.get("/v1/models/<name>")
    def status(name):
        if tf_serving:
            return relayed()
        served(name)
        return flask.jsonify({"model_version_status": [{
            "version": VERSION, "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]})

    @app.get("/v1/models/<name>/metadata")
    def metadata(name):
        if tf_serving:
            return relayed()
        return flask.jsonify({"model_spec": {"name": name, "signature_name": "",
                                             "version": VERSION},
                              **served(name).metadata()})

    @app.post("/v1/models/<target>")
    def predict(target):
        if tf_serving:
            return relayed()
        name, _, verb = target.partition(":")
        if verb != "predict":
            return _error(f"unknown call '{target}'; POST /v1/models/<name>:predict", 404)
        model = served(name)
        try:
            signature, inputs, columnar = parse_request(
                flask.request.get_data(), model.input_dtypes, max_batch)
            outputs = model.predict(signature, inputs)
        except RequestError as error:
            return _error(str(error), 400)
        return flask.jsonify(format_response(outputs, columnar))

    return app


def make_server(app, host: str, port: int, threads: int = DEFAULT_THREADS):
    """A waitress server for `app` bound to `host:port` (port 0: a free port); call `run()`
    to serve and `close()` to stop. Its port is `effective_port`.

    waitress reads a whole body before the application sees it; bodies up to
    `WAITRESS_BODY_FACTOR` times the application's limit are read and answered with HTTP 400
    by the application, larger ones are cut off by waitress (HTTP 413).
    """
    return waitress.create_server(
        app, host=host, port=port, threads=threads,
        max_request_body_size=WAITRESS_BODY_FACTOR * app.config["MAX_CONTENT_LENGTH"])
