"""The adaptive-polling benchmark (bench/bench_adaptive.py) at a tiny scale: it runs end to end
over its loopback farm and its figures are sane (same budget, finite ratios)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_adaptive.py"


def test_tiny_benchmark_spends_the_same_budget_and_gives_finite_ratios(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--feeds", "2", "--days", "0.25", "--json", str(figures_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "requests / new article" in result.stdout and "publish→store median" in result.stdout
    figures = json.loads(figures_path.read_text(encoding="utf-8"))
    adaptive, fixed = figures["adaptive"], figures["fixed"]
    assert adaptive["stored"] > 0 and fixed["stored"] > 0
    # The fixed run's one interval spends the adaptive run's requests (within a poll per feed).
    assert abs(adaptive["requests"] - fixed["requests"]) <= figures["feeds"]
    for value in figures["ratios"].values():
        assert math.isfinite(value) and value > 0
    # The busiest feed polls more often than the quietest.
    intervals = figures["intervals_s"]
    assert intervals["0"] < intervals[str(figures["feeds"] - 1)]
