"""The demo page in headless Chromium: drawing with pointer events gives the top 5 classes, a
reconstruction, the reorganised input, a completion, samples and an interpolation."""

import math

import pytest

from helpers.browser import draw, find_chromium, start_chromium
from helpers.demo import CLASS_NAMES

CIRCLE = [(200 + 90 * math.cos(a / 10), 200 + 90 * math.sin(a / 10)) for a in range(0, 64, 3)]
EARS = [[(130, 140), (140, 70), (180, 115)], [(220, 115), (260, 70), (270, 140)]]
LINE = [(60, 350), (200, 330), (340, 350)]
WAIT_S = 60


@pytest.fixture(scope="module")
def page(demo_server):
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
    found = find_chromium()
    if found is None:
        pytest.skip("chromium and chromium-driver are not installed "
                    "(apt-get install -y chromium chromium-driver)")
    driver = start_chromium(*found)
    try:
        driver.get(demo_server["url"] + "/")
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script, what):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(
            lambda d: d.execute_script(script))
    except Exception:
        status = driver.find_element("id", "status").text
        raise AssertionError(f"{what} did not appear; status line: {status!r}") from None


def done(card_id):
    return f"return document.getElementById('{card_id}').dataset.state === 'done';"


def test_drawing_gives_classes_reconstruction_and_completion(page):
    wait_for(page, "return document.getElementById('status').textContent.startsWith('ready');",
             "the ready status")
    canvas = page.find_element("id", "pad")
    draw(page, canvas, [CIRCLE])
    draw(page, canvas, EARS, pointer="pen")
    draw(page, canvas, [LINE], pointer="touch")
    for card in ("classes-card", "reconstruction", "reorganised", "reorganised-reconstruction",
                 "completion"):
        wait_for(page, done(card), card)
    names = [item.text for item in page.find_elements("css selector", "#classes li .name")]
    assert len(names) == 5 and set(names) <= set(CLASS_NAMES)
    assert page.find_elements("css selector", "#completion svg path")  # input drawn in grey
    assert "error" not in page.find_element("id", "status").get_attribute("class")
    points = page.find_element("id", "points").text
    assert points.startswith("4 strokes"), points


def test_samples_interpolation_and_undo(page):
    page.find_element("id", "samples-button").click()
    wait_for(page, "return document.querySelectorAll('#samples .card[data-state=done]').length"
                   " === 4;", "4 samples")
    page.find_element("id", "keep-a").click()
    page.find_element("id", "undo").click()
    wait_for(page, done("reconstruction"), "the reconstruction after undo")
    assert page.find_element("id", "points").text.startswith("3 strokes")
    page.find_element("id", "interpolate").click()
    wait_for(page, "return document.querySelectorAll('#interpolation .card[data-state=done]')"
                   ".length === 6;", "6 interpolation steps")
    page.find_element("id", "clear").click()
    assert page.find_elements("css selector", "#classes li") == []


def test_capture_is_quickdraw_stroke3(page):
    script = """
        const done = arguments[arguments.length - 1];
        import('/static/strokes.js').then((m) => {
          const line = Array.from({length: 100}, (_, i) => [10 + 4 * i, 50 + (i % 2) * 0.5]);
          const spiral = Array.from({length: 300}, (_, i) => [200 + i * Math.cos(i / 8) / 2,
                                                              200 + i * Math.sin(i / 8) / 2]);
          done({line: m.toStroke3([line, [[10, 60]]], 50), capped: m.toStroke3([spiral], 12),
                dots: m.toStroke3([[[3, 3]], [[3, 3]]], 50),
                reorganised: m.reorganise([[0, 0, 0], [10, 0, 1], [0, 10, 0], [5, 5, 1]], 0.0,
                                          m.gaussian(1))});
        });"""
    result = page.execute_async_script(script)
    # scaled to 0-255 (the x extent of 396 px becomes 255), RDP keeps the ends, one dot stroke
    assert result["line"] == [[0, 0, 0], [255, 0, 1], [-255, 6, 1]]
    # too many points for the model: simplified harder until it fits
    assert 6 <= len(result["capped"]) <= 12 and result["capped"][-1][2] == 1
    assert result["dots"] == [[0, 0, 1], [0, 0, 1]]
    assert result["reorganised"] == [[0, 0, 0], [10, 0, 1], [0, 10, 0], [5, 5, 1]]
