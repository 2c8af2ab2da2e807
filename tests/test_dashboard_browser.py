"""The dashboard page really renders: headless Chromium draws it, and the screenshot is not blank.

Needs a Chromium or Chrome binary (``make check`` installs Debian's with apt-get when run as root);
without one every test here is skipped, with the install hint as the reason.
"""

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import torch

from grader.framework import reference
from saecourse import browser, dashboard

if browser.find_chromium() is None:
    pytest.skip(browser.INSTALL_HINT, allow_module_level=True)

WIDTH, HEIGHT = 1000, 700
ORANGE = (232, 112, 42)  # the token highlight's colour (Part 3's highlight_html); its alpha scales with the activation


def page(body: str) -> str:
    """A complete HTML document around ``body``."""
    return f'<!doctype html>\n<html><head><meta charset="utf-8"></head>\n<body>\n{body}\n</body></html>\n'


@pytest.fixture
def dashboard_html(tmp_path) -> Path:
    """A latent's dashboard as the Part 3 notebook lays it out: the reference's ``highlight_html``
    for the examples, ``saecourse.dashboard`` for the page, its histogram and its logit table."""
    ref = reference("part3_interpreting_features")
    torch.manual_seed(0)
    values = torch.rand(400) ** 2 * 6
    examples = []
    for line in range(6):
        tokens = [" And", " the", " <b>", " LORD", " &", " spake", " unto", " Moses", ",", " saying", "\n", "5", ":", "1"]
        acts = torch.rand(len(tokens)) * 6
        acts[0] = float("nan")  # a dropped first position
        spans = ref.highlight_html(tokens, acts, center=3, max_act=5.0)
        examples.append(f'<div class="example"><span class="value">{acts[3]:.2f}</span>{spans}</div>')
    body = ("<h1>Latent 123</h1><p class=\"stats\">fires on <b>1.2%</b> of tokens</p>"
            + dashboard.section("Activation histogram", dashboard.histogram_svg(values))
            + dashboard.section("Top activations", "\n".join(examples))
            + dashboard.section("Output side", dashboard.token_table([" Moses", " Aaron"], [2.5, 1.75], "promoted")))
    path = tmp_path / "latent_123.html"
    path.write_text(dashboard.page("Latent 123", body), encoding="utf-8")
    return path


def orange_pixels(png_file: Path) -> int:
    """Pixels with the highlight's hue (R high, G mid, B low): ORANGE over white at alpha 0.5 or more."""
    with Image.open(png_file) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 200) & (g > 80) & (g < 180) & (b < 120)).sum())


def test_dashboard_renders_in_headless_chromium(dashboard_html, tmp_path):
    text = dashboard_html.read_text()
    assert "<script" not in text and "src=" not in text and "<link" not in text, "the page must be self-contained"
    png = browser.screenshot(dashboard_html, tmp_path / "dashboard.png", width=WIDTH, height=HEIGHT)
    assert png.exists()
    with Image.open(png) as image:
        assert image.size == (WIDTH, HEIGHT)
    assert browser.blank_fraction(png) < 0.98, "the dashboard page rendered (almost) blank"
    assert orange_pixels(png) > 500, "no highlighted token spans were drawn"


def test_blank_page_is_detected(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_text("<!doctype html><html><body></body></html>")
    png = browser.screenshot(empty, tmp_path / "empty.png", width=WIDTH, height=HEIGHT)
    assert browser.blank_fraction(png) > 0.99
    assert orange_pixels(png) == 0


def test_page_cannot_fetch_from_network(tmp_path):
    """Remote images stay unloaded, even from a server on this machine, and the page still renders promptly."""
    Image.new("RGB", (8, 8), ORANGE).save(tmp_path / "orange.png")
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    urls = [f"http://127.0.0.1:{port}/orange.png", f"http://localhost:{port}/orange.png", "http://example.com/x.png"]
    remote = tmp_path / "remote.html"
    images = "\n".join(f'<img src="{url}" width="200" height="200">' for url in urls)
    remote.write_text(page(f"<h1>Remote images</h1>\n{images}"))
    try:  # a page that waited on the network would run into the timeout and raise
        png = browser.screenshot(remote, tmp_path / "remote.png", width=WIDTH, height=HEIGHT, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert requests == [], f"the page fetched {requests}"
    assert orange_pixels(png) == 0, "a remote image was drawn"
