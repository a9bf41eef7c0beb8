"""GPU measurements for the `kv_cache` assignment (run on the H200 device machine).

    python3 bench/gpu_kv_cache.py sweep --out DIR
        decode time per token, cached (the reference's generate) against full recompute,
        for two model sizes, bf16 and fp32, at contexts 512 to 4096: the figures behind
        PERF.md and the notebook's plot. Uses the perf test's own helpers.decode_speed, so
        it measures what grading measures.
    python3 bench/gpu_kv_cache.py grade --out DIR [--runs 2]
        the perf test through the grading harness: the reference in trusted mode --runs
        times, then the perf mutant (mutants/generate_recompute_every_step.py) in student
        mode; prints each run's ratio, spread and credit under assignment.toml's [[perf]].

Both write JSON under DIR and print a short table last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "assignments" / "kv_cache"
REFERENCE = ROOT / "reference" / "kv_cache"
MODELS = {
    "4L-1024": dict(vocab_size=4096, n_layer=4, n_head=16, n_kv_head=4, n_embd=1024),   # the perf test's
    "8L-2048": dict(vocab_size=8192, n_layer=8, n_head=16, n_kv_head=4, n_embd=2048),
}


def sweep(out: Path) -> None:
    import torch

    sys.path[:0] = [str(PACKAGE / "tests"), str(REFERENCE.parent)]
    import helpers
    import kv_cache as reference

    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    rows = []
    for model_name, model in MODELS.items():
        for dtype in (torch.bfloat16, torch.float32):
            for context in (512, 1024, 2048, 4096):
                started = time.time()
                figures = helpers.decode_speed(reference, None, seed=0, dtype=dtype, context=context, model=model)
                figures.pop("tokens")
                row = dict(model=model_name, dtype=str(dtype).replace("torch.", ""), **figures,
                           wall_s=time.time() - started)
                rows.append(row)
                print(f"{model_name} {row['dtype']:8s} ctx {context:5d}: cached {row['cached ms/token']:.3f} ms/token, "
                      f"recompute {row['recompute ms/token']:.3f} ms/token, ratio {row['ratio']:.2f}, "
                      f"spread {row['spread']:.3f} ({row['wall_s']:.0f} s)", flush=True)
                torch.cuda.empty_cache()
    (out / "sweep.json").write_text(json.dumps(rows, indent=1))


def _harness(module: Path, mode: str, out: Path, extra_path: Path | None = None) -> None:
    args = [sys.executable, "-m", "autograder.harness.run", "--tests", str(PACKAGE / "tests"), "--module", str(module),
            "--mode", mode, "--out", str(out), "--seed", "1", "--target", str(PACKAGE / "tests" / "hidden" / "test_perf.py")]
    if extra_path is not None:
        args += ["--path", str(extra_path)]
    started = time.time()
    completed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    tail = (completed.stdout + completed.stderr).strip().splitlines()[-1:] or [""]
    print(f"  harness {module.name} ({mode}): {time.time() - started:.0f} s, {tail[0]}", flush=True)


def _plain(encoded):
    """A record value as plain Python (floats, dicts, lists); arrays are not needed here."""
    if encoded.get("type") == "dict":
        return {key: _plain(item) for key, item in encoded["items"].items()}
    if encoded.get("type") == "list":
        return [_plain(item) for item in encoded["items"]]
    return encoded.get("value")


def _perf_rows(out: Path, spec: dict) -> list[dict]:
    perf = {p["name"]: p for p in spec["perf"]}
    rows = []
    for line in (out / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "nodeid" not in record:
            continue
        if record["outcome"] != "passed":
            rows.append(dict(nodeid=record["nodeid"], outcome=record["outcome"], message=record["message"][:300]))
        for check in record["checks"]:
            if check["kind"] != "perf":
                continue
            value = _plain(check["value"])
            ratio = value["baseline_s"] / value["student_s"]
            spec_row = perf[check["name"]]
            credit = max(0.0, min(1.0, (ratio - spec_row["zero_credit_ratio"])
                                  / (spec_row["full_credit_ratio"] - spec_row["zero_credit_ratio"])))
            rows.append(dict(name=check["name"], ratio=ratio, spread=value["spread"], credit=credit,
                             **(value.get("details") or {})))
    return rows


def grade(out: Path, runs: int) -> None:
    spec = tomllib.loads((PACKAGE / "assignment.toml").read_text())
    work = Path("/tmp/kv_cache_grade")
    subprocess.run(["rm", "-rf", str(work)], check=True)
    (work / "path").mkdir(parents=True)
    (work / "path" / "reference_solution").symlink_to(REFERENCE)
    summary = {}
    for run in range(runs):
        _harness(REFERENCE, "trusted", work / f"reference{run}")
        summary[f"reference{run}"] = _perf_rows(work / f"reference{run}", spec)
    mutant = PACKAGE / "mutants" / "generate_recompute_every_step.py"
    _harness(mutant, "student", work / "mutant", extra_path=work / "path")
    summary["mutant generate_recompute_every_step"] = _perf_rows(work / "mutant", spec)
    (out / "grade.json").write_text(json.dumps(summary, indent=1))
    for name, rows in summary.items():
        for row in rows:
            print(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["sweep", "grade", "all"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command in ("grade", "all"):
        grade(args.out, args.runs)
    if args.command in ("sweep", "all"):
        sweep(args.out)
