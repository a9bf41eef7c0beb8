"""Shared by the example's tests (importable as `helpers`)."""

import time

import torch


def time_interleaved(student, baseline, rounds=15):
    """Median seconds of `student()` and `baseline()`, alternated, and the spread."""
    student_times, baseline_times = [], []
    for _ in range(3):
        student(), baseline()
    for _ in range(rounds):
        start = time.perf_counter(); student(); student_times.append(time.perf_counter() - start)
        start = time.perf_counter(); baseline(); baseline_times.append(time.perf_counter() - start)
    student_times.sort(); baseline_times.sort()
    median = student_times[rounds // 2]
    spread = (student_times[3 * rounds // 4] - student_times[rounds // 4]) / median
    return median, baseline_times[rounds // 2], spread


def random_rows(rng, rows, cols, dtype=torch.float32):
    return torch.randn(rows, cols, generator=rng, dtype=dtype)
