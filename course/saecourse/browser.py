"""Render a self-contained HTML page to a PNG in headless Chromium, and tell a drawn page from a blank one.

Part 3's dashboard is one HTML file: inline CSS and SVG, no scripts, no external URLs. Checking
its text proves little (a misplaced ``<style>`` or an unclosed tag can leave a page that shows
nothing), so ``tests/test_dashboard_browser.py`` opens the file in a real browser, takes a
screenshot and measures it: ``blank_fraction`` is about 1.0 for a page that drew nothing.

Chromium runs with a throw-away profile and with everything that phones home switched off
(background networking, component updates, sync, QUIC): on a machine without internet those
requests otherwise stall or fail the run. ``--host-resolver-rules`` makes every host (names and IP
addresses alike, localhost included) unreachable, so a page that is not self-contained renders
with its remote parts missing instead of fetching them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = (
    "Chromium not found: `sudo apt-get install chromium` on Debian/Ubuntu, "
    "or set SAECOURSE_CHROMIUM to a Chrome/Chromium binary"
)
FLAGS = (
    "--headless",
    "--no-sandbox",  # Chromium's sandbox refuses to run as root, which is how CI runs
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB, too little for Chromium
    "--hide-scrollbars",
    # nothing that phones home: offline it stalls or fails the run
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # and the page itself can reach no host
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
STDERR_LINES = 20


def find_chromium() -> str | None:
    """The browser to use: ``$SAECOURSE_CHROMIUM`` if set, else the first of ``CANDIDATES`` on PATH.

    The variable is returned as given, not looked up: a wrong value then fails loudly in
    ``screenshot`` rather than quietly counting as "no browser".
    """
    override = os.environ.get("SAECOURSE_CHROMIUM")
    if override:
        return override
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def screenshot(html_file: Path, png_file: Path, width: int = 1200, height: int = 900, timeout: float = 60) -> Path:
    """Render ``html_file`` in headless Chromium into ``png_file`` (width x height pixels) and return its path.

    ``timeout`` is in seconds; Chromium and every process it started are killed when it runs out.
    Raises FileNotFoundError (with ``INSTALL_HINT``) without a browser, and RuntimeError with the
    end of Chromium's stderr when it fails, times out or writes no PNG.
    """
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError(INSTALL_HINT)
    png_file = Path(png_file).resolve()
    png_file.parent.mkdir(parents=True, exist_ok=True)
    png_file.unlink(missing_ok=True)  # so a stale PNG cannot pass for this run's
    with tempfile.TemporaryDirectory(prefix="saecourse-chromium-", ignore_cleanup_errors=True) as profile:
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png_file}",
            Path(html_file).resolve().as_uri(),
        ]
        # its own session, so that on a timeout one killpg ends the renderer and GPU processes too
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
            raise RuntimeError(f"Chromium took over {timeout} s on {html_file}:\n{_stderr_tail(stderr)}") from None
    if process.returncode != 0 or not png_file.exists():
        raise RuntimeError(
            f"Chromium (exit code {process.returncode}) wrote no screenshot of {html_file}:\n{_stderr_tail(stderr)}"
        )
    return png_file


def _stderr_tail(stderr: str) -> str:
    """The last ``STDERR_LINES`` lines of Chromium's stderr, without its harmless D-Bus complaints.

    Without a desktop session Chromium logs a few dozen "Failed to connect to the bus" errors on
    every run; left in, they would push the line that explains a failure out of the tail.
    """
    lines = [line for line in stderr.splitlines() if ":ERROR:dbus/" not in line]
    return "\n".join(lines[-STDERR_LINES:])


def blank_fraction(png_file: Path) -> float:
    """Share of the pixels that have the image's most common colour, in [0, 1].

    The most common colour of a page screenshot is its background, so a page that drew nothing
    gives 1.0, and a heading with one line of text on a 1200 x 900 page about 0.998.
    """
    with Image.open(png_file) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint32)  # [height, width, 3]
    colours = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # [height, width], one integer per colour
    _, counts = np.unique(colours, return_counts=True)
    return float(counts.max() / colours.size)
