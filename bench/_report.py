"""Small helpers the benchmark scripts share: percentiles, tables and the run's context."""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

import dpp_sdk as dpp


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (``fraction`` 0.5 is the median)."""
    if not samples:
        raise ValueError("no samples to take a percentile of")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (readable as text too), right-aligning every column but the first."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + (":" if i else "-") for i, w in enumerate(widths))
    return "\n".join([line(headers), rule + " |", *(line(r) for r in rows)])


def versions(*distributions: str) -> str:
    """One line naming Python, dpp-sdk and the given distributions with their versions."""
    parts = [f"Python {platform.python_version()}", f"dpp-sdk {dpp.__version__}"]
    for name in distributions:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts) + f" on {sys.platform}"


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the results)."""
    print(message, file=sys.stderr, flush=True)
