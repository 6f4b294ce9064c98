"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by selenium, and drawing
on the demo page with real pointer events."""

import shutil

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver", "chromium-driver")


def find_chromium():
    """`(browser path, driver path)`, or None when either is not installed."""
    browser = next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)
    driver = next((path for path in map(shutil.which, DRIVER_NAMES) if path), None)
    return (browser, driver) if browser and driver else None


def start_chromium(browser: str, driver: str, width: int = 1280, height: int = 1000):
    """A headless Chromium webdriver (no sandbox: CI runs as root; never downloads anything)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def draw(driver, canvas, strokes, pointer="mouse"):
    """Draws `strokes` (lists of (x, y) points in canvas pixels, origin top-left) on the canvas
    element with pointer down / move / up events of a `mouse`, `pen` or `touch` pointer."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    width, height = canvas.size["width"], canvas.size["height"]
    for stroke in strokes:
        actions = ActionBuilder(driver, mouse=PointerInput(pointer, pointer))
        offsets = [(x - width / 2, y - height / 2) for x, y in stroke]
        actions.pointer_action.move_to(canvas, *offsets[0])
        actions.pointer_action.pointer_down()
        for x, y in offsets[1:]:
            actions.pointer_action.move_to(canvas, x, y)
        actions.pointer_action.pointer_up()
        actions.perform()
