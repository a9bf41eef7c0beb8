"""Timing for perf tests, shared by every assignment: `from autograder.harness.perf import
time_interleaved`. Runs inside the sandbox (and in `dlgrade check`); the numbers it returns
go to `check.perf`, and the scoring happens outside.

The method (DESIGN.md, "Performance grading"): warm-up first (compilation and autotuning
happen there); then rounds in which every function runs once, in an order that rotates, each
call timed alone: with CUDA events after an L2 flush on a GPU, with a monotonic clock on a CPU.
The result is the median per function and the spread (interquartile range over the median,
the widest of "student" and "baseline"); a run whose spread exceeds `max_spread` is measured
again, up to `attempts` times, and the least noisy attempt is returned.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

L2_FLUSH_BYTES = 256 * 2**20  # several times the largest L2 (an H200 has 60 MB)


def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def skip_without_gpu() -> None:
    import pytest

    if not gpu_available():
        pytest.skip("needs a CUDA GPU: performance is measured only on the grading GPU")


def _cuda_round(functions: dict[str, Callable], names: list[str], flush) -> dict[str, float]:
    import torch

    pairs = {}
    for name in names:
        flush.zero_()  # evicts the L2 and keeps the GPU busy while the call below is launched
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        functions[name]()
        end.record()
        pairs[name] = (start, end)
    torch.cuda.synchronize()
    return {name: start.elapsed_time(end) / 1e3 for name, (start, end) in pairs.items()}


def _cpu_round(functions: dict[str, Callable], names: list[str], flush) -> dict[str, float]:
    seconds = {}
    for name in names:
        start = time.perf_counter()
        functions[name]()
        seconds[name] = time.perf_counter() - start
    return seconds


def time_interleaved(functions: dict[str, Callable], *, rounds: int = 50, warmup: int = 5,
                     max_spread: float = 0.05, attempts: int = 3, device: str | None = None
                     ) -> tuple[dict[str, float], float]:
    """Median seconds of each of `functions` (name → callable; include "student" and
    "baseline"), timed alternately. Returns ({name: median seconds}, spread)."""
    import torch

    on_gpu = (device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
    names = list(functions)
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.int8, device="cuda") if on_gpu else None
    timed_round = _cuda_round if on_gpu else _cpu_round
    for _ in range(warmup):
        for function in functions.values():
            function()
    if on_gpu:
        torch.cuda.synchronize()
    best = None
    for _ in range(attempts):
        samples: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(rounds):
            shift = round_index % len(names)
            for name, seconds in timed_round(functions, names[shift:] + names[:shift], flush).items():
                samples[name].append(seconds)
        medians, spreads = {}, {}
        for name, seconds in samples.items():
            quartiles = statistics.quantiles(sorted(seconds), n=4)
            medians[name] = statistics.median(seconds)
            spreads[name] = (quartiles[2] - quartiles[0]) / medians[name] if medians[name] > 0 else float("inf")
        spread = max(spreads[name] for name in ("student", "baseline") if name in spreads)
        if best is None or spread < best[1]:
            best = (medians, spread)
        if spread <= max_spread:
            break
    return best
