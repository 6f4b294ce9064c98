"""Forwarding the page's TF Serving requests to a real model server (`--tf_serving URL`).

The page always calls its own origin: a browser refuses answers from another origin that do
not allow it (CORS), and `tensorflow_model_server` sends no such permission. With
`--tf_serving`, the demo server passes `/v1/models/...` requests on unchanged and returns the
model server's status and body.
"""

import json
import urllib.error
import urllib.request

RELAY_TIMEOUT_S = 60.0


def relay(base_url: str, path: str, method: str, body: bytes = None) -> tuple:
    """Sends one request to the model server.

    Args:
        base_url: the model server's REST root, e.g. `http://localhost:8501`.
        path: the request path, e.g. `/v1/models/sketchgloc:predict`.
        method: `GET` or `POST`.
        body: the request body (POST).

    Returns:
        `(HTTP status, body bytes, content type)`; an unreachable server is status 502 with a
        JSON error naming it.
    """
    request = urllib.request.Request(base_url.rstrip("/") + path, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=RELAY_TIMEOUT_S) as response:
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get_content_type()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        message = {"error": f"model server {base_url} unreachable: {reason}"}
        return 502, json.dumps(message).encode("utf-8"), "application/json"
