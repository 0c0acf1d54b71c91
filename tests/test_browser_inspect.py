"""`marsad inspect` as a real server on loopback, driven by headless Chromium.

Chromium renders each page (``--dump-dom`` gives the DOM after scripts ran) and screenshots
the search results into test-artifacts/. Skips, saying why, when Debian's chromium is absent
(.ci/run installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.test_cli_inspect import build_store

pytestmark = pytest.mark.slow

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium not installed (apt-get install chromium; .ci/run does): no browser test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chromium()  # skip before starting anything
    directory = tmp_path_factory.mktemp("browser")
    config = build_store(directory)
    port = free_port()
    process = subprocess.Popen(
        [*MARSAD, "inspect", "--config", str(config), "--port", str(port)],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"marsad inspect did not start on {base}: {output}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def browse(url: str, *, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` after Chromium ran its scripts; optionally a screenshot too."""
    with tempfile.TemporaryDirectory(prefix="marsad-chromium-") as profile:
        args = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
        ]
        if screenshot is not None:
            args.append(f"--screenshot={screenshot}")
        else:
            args.append("--dump-dom")
        result = subprocess.run(
            [*args, url], capture_output=True, text=True, timeout=90, check=False
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_front_page(server: str) -> None:
    dom = browse(f"{server}/")
    assert "marsad (مرصد)" in dom and 'href="/store/articles"' in dom
    database = browse(f"{server}/store")
    for title in ("Latest alerts", "Stories with the most outlets", "Failing feeds"):
        assert title in database


def test_canned_query_latest_alerts(server: str) -> None:
    dom = browse(f"{server}/store/latest_alerts")
    assert "HTTP 503 after 8 attempts" in dom
    assert "النهار, الوطن" in dom  # who else carried it
    # The plugin's script ran: cells carry dir="auto".
    assert 'dir="auto">الجيش يعلن الإنسحاب من المدينة<' in dom


def test_arabic_full_text_search_and_screenshot(server: str) -> None:
    url = f"{server}/store/search_articles?q={quote('الإنْسِحَاب')}"
    dom = browse(url)
    for title in ("الجيش يعلن الإنسحاب من المدينة", "مُحادثاتُ الانْسِحَابِ تَتَعثَّر"):
        assert title in dom
    assert "ارتفاع أسعار القمح" not in dom
    table = browse(f"{server}/store/articles?_search={quote('الأنسحاب')}")
    assert "3 rows" in table and "ارتفاع أسعار القمح" not in table
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "inspect-search.png"
    shot.unlink(missing_ok=True)
    browse(url, screenshot=shot)
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG")
