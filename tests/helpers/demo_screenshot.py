"""Makes docs/images/demo.png: a drawing session on the demo page with the shipped presets, in
headless Chromium.

    PYTHONPATH=.:tests python -m helpers.demo_screenshot docs/images/demo.png [--bert PRESET]

Draws a house with pointer events and keeps it as A, clears, draws a cat (head, ears, eyes,
whiskers), waits for the top 5, the reconstruction, the reorganised input and the completion,
draws 4 samples, interpolates from the house to the cat, and saves the window.
"""

import argparse
import math
import threading

from helpers.browser import draw, find_chromium, start_chromium
from sketch_demo import server, signatures

# Drawn as people draw a head: from the top, counter-clockwise.
HEAD = [(200 + 110 * math.cos(-math.pi / 2 - a / 12), 215 + 95 * math.sin(-math.pi / 2 - a / 12))
        for a in range(0, 77, 2)]
EARS = [[(118, 150), (120, 60), (175, 123)], [(225, 123), (280, 60), (282, 150)]]
EYES = [[(160, 190), (170, 200), (180, 190)], [(220, 190), (230, 200), (240, 190)]]
WHISKERS = [[(90, 240), (170, 235)], [(95, 270), (170, 250)], [(230, 235), (310, 240)],
            [(230, 250), (305, 270)]]
HOUSE = [[(110, 330), (110, 180), (290, 180), (290, 330), (110, 330)],
         [(95, 190), (200, 80), (305, 190)], [(180, 330), (180, 260), (220, 260), (220, 330)]]
WAIT_S = 120


def wait_until(driver, script):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S, poll_frequency=0.3).until(lambda d: d.execute_script(script))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--gloc", default="sketchgloc_ds3_small")
    parser.add_argument("--bert", default="sketch_bert_qd336_small_cls")
    args = parser.parse_args()
    models = signatures.load_models(args.gloc, args.bert)
    app = server.create_app(models, {name: model.limits for name, model in models.items()})
    http_server = server.make_server(app, "127.0.0.1", 0)
    threading.Thread(target=http_server.run, daemon=True).start()
    driver = start_chromium(*find_chromium(), width=1400, height=1250)
    try:
        driver.get(f"http://127.0.0.1:{http_server.effective_port}/")
        wait_until(driver, "return document.getElementById('status').textContent"
                           ".startsWith('ready');")
        canvas = driver.find_element("id", "pad")
        draw(driver, canvas, HOUSE)
        driver.find_element("id", "keep-a").click()
        driver.find_element("id", "clear").click()
        draw(driver, canvas, [HEAD] + EARS + EYES + WHISKERS)
        cards = ["reconstruction", "reorganised-reconstruction", "completion"]
        if models[signatures.BERT_MODEL].limits["classify"]:
            cards.append("classes-card")
        for card in cards:
            element = f"document.getElementById('{card}')"
            wait_until(driver, f"return {element}.dataset.state === 'done' && "
                               f"!{element}.classList.contains('busy');")
        driver.find_element("id", "samples-button").click()
        wait_until(driver, "return document.querySelectorAll('#samples .card').length === 4;")
        driver.find_element("id", "interpolate").click()
        wait_until(driver, "return document.querySelectorAll('#interpolation .card')"
                           ".length === 6;")
        driver.save_screenshot(args.output)
    finally:
        driver.quit()
        http_server.close()


if __name__ == "__main__":
    main()
