"""Benchmark a ring all-reduce against the backend's own `dist.all_reduce`.

    .venv/bin/python bench/bench_allreduce.py                        # gloo, w = 2, 4, 8, n = 1e6, 1e7
    .venv/bin/python bench/bench_allreduce.py --backend nccl         # CUDA tensors, one GPU per rank
    .venv/bin/python bench/bench_allreduce.py --impl path/to/submission.py --worlds 2,4 --sizes 1e6

Each (world size, n) runs in one world of processes started the way the grader starts them
(assignments/allreduce/tests/helpers.py): interleaved rounds of the ring and the baseline on the
same float32 data, each round after a barrier, the slowest rank's time per round, medians over
rounds. Prints a markdown table (paste it into assignments/allreduce/PERF.md):

- ratio: baseline time / ring time (1.0 = as fast as the backend's own all-reduce);
- algbw = bytes / time (n·4 bytes per rank's vector);
- busbw = algbw · 2(w-1)/w: the bytes each rank actually moves per second in a bandwidth-optimal
  all-reduce, comparable across world sizes and with the link speed (nccl-tests' definition).

NCCL: needs at least w GPUs; NCCL_NVLS_ENABLE=0 is set in every rank (NVLink SharP off). Sizes
or world sizes that do not fit the machine are skipped with a reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "assignments" / "allreduce" / "tests"))

import torch  # noqa: E402

import helpers  # noqa: E402


def load_module(path: Path):
    """Import a submission file or a package folder as `submission` (as the harness does)."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location("submission", path / "__init__.py",
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def measure(impl, world_size: int, n: int, backend: str, rounds: int, budget_s: float) -> dict:
    results = helpers.run_world(impl, world_size, "ring_timing",
                                {"seed": 0, "n": n, "warmup": 2, "rounds": rounds, "budget_s": budget_s},
                                backend=backend, timeout_s=budget_s * 3 + 60)
    ring_s, ring_spread = helpers.summarize_times([max(t) for t in zip(*(r["student_times"] for r in results))])
    base_s, base_spread = helpers.summarize_times([max(t) for t in zip(*(r["baseline_times"] for r in results))])
    gigabytes = n * 4 / 1e9
    bus = 2 * (world_size - 1) / world_size
    return {
        "w": world_size, "n": n, "ring_ms": ring_s * 1e3, "base_ms": base_s * 1e3, "ratio": base_s / ring_s,
        "ring_algbw": gigabytes / ring_s, "ring_busbw": gigabytes / ring_s * bus,
        "base_busbw": gigabytes / base_s * bus, "spread": max(ring_spread, base_spread),
        "rounds": len(results[0]["student_times"]), "relative_error": results[0]["relative_error"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["gloo", "nccl"], default="gloo")
    parser.add_argument("--worlds", default="2,4,8", help="comma-separated world sizes")
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated element counts")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (fewer if over --budget)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timing per configuration")
    parser.add_argument("--impl", type=Path, default=ROOT / "reference" / "allreduce",
                        help="the ring to measure: a submission .py or a package folder")
    options = parser.parse_args(argv)

    impl = load_module(options.impl.resolve())
    worlds = [int(w) for w in options.worlds.split(",")]
    sizes = [int(float(n)) for n in options.sizes.split(",")]
    baseline = f"{options.backend} dist.all_reduce"
    print(f"# {options.impl} against {baseline}; torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, {__import__('os').cpu_count()} cores")
    print()
    print(f"| w | n | ring ms | {baseline} ms | ratio | ring algbw GB/s | ring busbw GB/s | baseline busbw GB/s "
          "| spread | rounds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for world_size in worlds:
        if options.backend == "nccl" and torch.cuda.device_count() < world_size:
            print(f"| {world_size} | - | skipped: needs {world_size} GPUs, found {torch.cuda.device_count()} "
                  "| | | | | | | |")
            continue
        for n in sizes:
            row = measure(impl, world_size, n, options.backend, options.rounds, options.budget)
            if row["relative_error"] > 1e-5:
                print(f"| {world_size} | {n:.0e} | ring result differs from the baseline "
                      f"(relative {row['relative_error']:.2g}) | | | | | | | |")
                continue
            print(f"| {world_size} | {n:.0e} | {row['ring_ms']:.2f} | {row['base_ms']:.2f} | {row['ratio']:.2f} "
                  f"| {row['ring_algbw']:.2f} | {row['ring_busbw']:.2f} | {row['base_busbw']:.2f} "
                  f"| {row['spread']:.2f} | {row['rounds']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
