"""How long a similarity review of a whole course takes, and how it grows.

    .venv/bin/python bench/bench_similarity.py                 # backprop, 100 / 200 / 300 submissions
    .venv/bin/python bench/bench_similarity.py --sizes 100,300,600

Synthetic course: every submission is a notebook of the assignment whose solution cells are,
cell by cell, the reference's or the independent solution of tests/similarity_corpus (picked at
random), each disguised by a random subset of the corpus's transformations with the student's
own identifier names. Every (n) runs the whole engine call the CLI and the worker make
(`similarity.compare`: read and validate every notebook, fingerprint, score all n(n-1)/2 pairs),
wall and CPU time measured around it (CPU time is what a busy shared machine cannot inflate);
then the matched regions of the top 200 pairs. Prints a table and the exponent b of
time ≈ a·n^b fitted over the sizes (all pairs would be b = 2; reading and fingerprinting,
linear, dominate small courses).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402,F401  (imported once here, so no size pays for the import)

from autograder.similarity import compare, report_data, submission_files  # noqa: E402


def _make_corpus_module():
    path = ROOT / "tests" / "similarity_corpus" / "make_corpus.py"
    spec = importlib.util.spec_from_file_location("make_corpus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_course(folder: Path, slug: str, count: int, seed: int) -> None:
    corpus = _make_corpus_module()
    source = json.loads((ROOT / "assignments" / slug / "source.ipynb").read_text())
    bases = [corpus.reference_cells(source), corpus.independent_cells(source, slug)]
    transforms = [corpus.reorder, corpus.reformat, corpus.recomment, corpus.add_dead_code]
    rng = random.Random(seed)
    for student in range(count):
        cells = {}
        for cell in bases[0]:
            text = rng.choice(bases)[cell]
            text = corpus.rename(text, f"s{student}_")
            for transform in rng.sample(transforms, rng.randint(0, len(transforms))):
                text = transform(text)
            cells[cell] = text
        (folder / f"student{student:04d}.ipynb").write_text(json.dumps(corpus.notebook_with(source, cells)))


def fitted_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(time) against log(n)."""
    xs, ys = [math.log(n) for n in sizes], [math.log(t) for t in seconds]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slug", default="backprop")
    parser.add_argument("--sizes", default="100,200,300")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_course(folder, options.slug, max(sizes), options.seed)
        print(f"wrote {max(sizes)} synthetic {options.slug} notebooks in {time.perf_counter() - started:.1f} s")
        files = submission_files(folder)
        print("| submissions | pairs | compare s (wall) | compare s (CPU) | matched regions of top 200 s |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        seconds, cpu_seconds = [], []
        for size in sizes:
            started, started_cpu = time.perf_counter(), time.process_time()
            comparison, pairs = compare(ROOT / "assignments" / options.slug, files[:size])
            compared, compared_cpu = time.perf_counter() - started, time.process_time() - started_cpu
            started = time.perf_counter()
            report_data(comparison, pairs, detail_pairs=200)
            detailed = time.perf_counter() - started
            seconds.append(compared)
            cpu_seconds.append(compared_cpu)
            print(f"| {size} | {len(pairs)} | {compared:.2f} | {compared_cpu:.2f} | {detailed:.2f} |", flush=True)
        if len(sizes) > 1:
            print(f"time ≈ a·n^b over n = {sizes}: b = {fitted_exponent(sizes, seconds):.2f} (wall), "
                  f"{fitted_exponent(sizes, cpu_seconds):.2f} (CPU)")


if __name__ == "__main__":
    main()
