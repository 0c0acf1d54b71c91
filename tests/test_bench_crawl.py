"""The crawl benchmark (bench/bench_crawl.py) at a tiny scale: it runs end to end over its
loopback web (generated text, so ../shared is not needed) and its figures are sane."""

from __future__ import annotations

import importlib.util
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_crawl.py"
RUNS = ("bare Scrapy+feedparser", "Scrapy+feedparser+trafilatura", "marsad crawl")


def _needs() -> str | None:
    """Why the benchmark cannot run here, or None."""
    for module in ("scrapy", "feedparser", "trafilatura"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if not Path("/proc/stat").exists():
        return "no /proc: the benchmark measures processes through it (Linux only)"
    try:
        with socket.socket() as probe:
            probe.bind(("127.88.0.10", 0))
    except OSError as exc:
        return f"cannot bind a 127.88.x.y loopback address for the web farm: {exc}"
    return None


def test_tiny_benchmark_stores_every_article_and_gives_finite_ratios(tmp_path: Path) -> None:
    missing = _needs()
    if missing:
        pytest.skip(missing)
    figures_path = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--sites", "3", "--feeds", "6", "--articles", "30"),
            *("--runs", "zero", "--no-marginal", "--generated", "--run-timeout", "60"),
            *("--json", str(figures_path)),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_path.read_text(encoding="utf-8"))
    assert "generated" in figures["text"]
    runs = figures["passes"]["delay-0"]
    assert set(runs) == set(RUNS)
    for name in RUNS:
        run = runs[name]
        assert run["returncode"] == 0, (name, run)
        assert run["articles"] == run["published"] == 30, (name, run)
        for key in ("cpu_ms_per_article", "articles_per_s", "wall_s", "robots_per_site"):
            assert run[key] is not None and math.isfinite(run[key]) and run[key] > 0, (name, key)
        # Every page was asked for once; robots.txt once per site in a one-pass crawl.
        assert run["page_requests"] == 30, (name, run["page_requests"])
        assert run["robots_fetches"] == 3, (name, run["robots_fetches"])
    ours = runs["marsad crawl"]
    assert ours["lost"] == 0
    assert ours["store"]["articles"] == 30
    for baseline in RUNS[:2]:
        for key in ("cpu_ms_per_article", "articles_per_s"):
            ratio = ours[key] / runs[baseline][key]
            assert math.isfinite(ratio) and ratio > 0, (baseline, key, ratio)
    assert "× bare" in result.stdout and "CPU per article" in result.stdout
