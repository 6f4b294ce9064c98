"""The browser demo: a page to draw on and TF Serving's REST predict API for both models.

    python -m sketch_demo [--host 127.0.0.1] [--port 8000] [--gloc PRESET|DIR] [--bert PRESET|DIR]

* `rest_format`: TF Serving's JSON request and response formats (columnar and row), to and from
  NumPy arrays;
* `signatures`: the exports' serving functions (`ServingGraph.endpoints()` of both model
  packages), loaded from presets and run on requests;
* `relay`: forwards the page's requests to a real model server (`--tf_serving URL`);
* `server`: the Flask application (page, predict, model status and metadata) and its waitress
  server;
* `static/`: the page (HTML, JavaScript, CSS; no external resources).
"""
