"""GPU measurements for the `triton_kernels` assignment (run on the H200 device machine).

    python3 bench/gpu_triton_kernels.py sweep --out DIR
        ceilings (copy bandwidth, cuBLAS), then launch-configuration sweeps of the reference
        kernels against their baselines; the figures that chose the reference's configs.
    python3 bench/gpu_triton_kernels.py grade --out DIR [--runs 3] [--mutants a,b|all|perf|correctness|none] [--jobs N]
        the reference graded in trusted mode with every test (perf included) --runs times,
        then each mutant in student mode on its part's tests, compared with the first
        trusted run; prints the perf records (ratios, spread, GB/s, TFLOP/s) and per mutant
        the tests it loses and its perf credit.

Timing uses the tests' own `helpers.time_interleaved` (L2 flush, CUDA events, alternating
order, median and IQR/median), so the sweep measures what grading measures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "assignments" / "triton_kernels"
REFERENCE = ROOT / "reference" / "triton_kernels"
TOL = {"torch.float32": (1.3e-6, 1e-5), "torch.float16": (1e-3, 1e-5), "torch.bfloat16": (1.6e-2, 1e-5),
       "torch.float64": (1e-7, 1e-7)}


# --- sweep ------------------------------------------------------------------------------------

def sweep(out: Path) -> None:
    import torch
    import torch.nn.functional as F
    import triton

    sys.path[:0] = [str(PACKAGE / "tests"), str(REFERENCE.parent)]
    import helpers
    import triton_kernels as ref

    device = torch.cuda.get_device_name()
    print(f"device {device}, torch {torch.__version__}, triton {triton.__version__}", flush=True)
    results = {"device": device, "torch": torch.__version__, "triton": triton.__version__}

    def timed(student, baseline, **kw):
        medians, spread = helpers.time_interleaved({"student": student, "baseline": baseline}, **kw)
        return medians["student"], medians["baseline"], spread

    # Ceilings.
    x = torch.randn(4096, 32768, device="cuda")
    y = torch.empty_like(x)
    copy_s, _, spread = timed(lambda: y.copy_(x), lambda: y.copy_(x))
    results["copy_GBps"] = 2 * x.numel() * 4 / copy_s / 1e9
    a = torch.randn(8192, 8192, device="cuda").half()
    b = torch.randn(8192, 8192, device="cuda").half()
    mm_s, _, _ = timed(lambda: a @ b, lambda: a @ b, rounds=20)
    results["cublas_8192_TFLOPs"] = 2 * 8192**3 / mm_s / 1e12
    print(f"copy {results['copy_GBps']:.0f} GB/s (spread {spread:.3f}); cuBLAS fp16 8192^3 {results['cublas_8192_TFLOPs']:.0f} TFLOP/s", flush=True)
    del x, y, a, b

    # Softmax: fused kernel at several warp counts, against a copy of the same bytes.
    rows = []
    for n_cols in (4096, 8192, 32768):
        x = torch.randn(4096, n_cols, device="cuda")
        out_buf = torch.empty_like(x)
        copy_buf = torch.empty_like(x)
        block = triton.next_power_of_2(n_cols)
        for warps in (4, 8, 16, 32):
            launch = lambda: ref.softmax_kernel[(4096,)](out_buf, x, x.stride(0), x.stride(1), n_cols, BLOCK=block, num_warps=warps)  # noqa: E731
            s, c, spread = timed(launch, lambda: copy_buf.copy_(x))
            rows.append(dict(kernel="softmax", n=n_cols, warps=warps, fraction_of_copy=c / s, GBps=2 * x.numel() * 4 / s / 1e9, spread=spread))
            print(f"softmax N={n_cols} warps={warps}: {c / s:.3f} of copy, {rows[-1]['GBps']:.0f} GB/s", flush=True)
        s, c, spread = timed(lambda: torch.softmax(x, -1), lambda: copy_buf.copy_(x))
        print(f"torch.softmax N={n_cols}: {c / s:.3f} of copy", flush=True)
        rows.append(dict(kernel="torch.softmax", n=n_cols, fraction_of_copy=c / s))
    results["softmax"] = rows

    # Layer norm forward: warps per row against F.layer_norm (fp16, 2**26 elements).
    rows = []
    for n_cols in (1024, 4096, 8192):
        n_rows = 2**26 // n_cols
        x = torch.randn(n_rows, n_cols, device="cuda").half()
        w = torch.randn(n_cols, device="cuda").half()
        bias = torch.randn(n_cols, device="cuda").half()
        y = torch.empty_like(x)
        mean = torch.empty(n_rows, device="cuda")
        rstd = torch.empty(n_rows, device="cuda")
        block = triton.next_power_of_2(n_cols)
        for warps in (1, 2, 4, 8, 16):
            launch = lambda: ref.layer_norm_fwd_kernel[(n_rows,)](y, x, w, bias, mean, rstd, x.stride(0), x.stride(1), n_cols, 1e-5, BLOCK=block, num_warps=warps)  # noqa: E731
            s, base, spread = timed(launch, lambda: F.layer_norm(x, (n_cols,), w, bias))
            rows.append(dict(kernel="layer_norm_fwd", n=n_cols, warps=warps, speedup=base / s, GBps=4 * x.numel() / s / 1e9, spread=spread))
            print(f"layer_norm N={n_cols} warps={warps}: {base / s:.2f}x F.layer_norm, {rows[-1]['GBps']:.0f} GB/s", flush=True)
        s, base, spread = timed(lambda: ref.layer_norm(x, w, bias), lambda: F.layer_norm(x, (n_cols,), w, bias))
        print(f"layer_norm N={n_cols} wrapper: {base / s:.2f}x F.layer_norm", flush=True)
    results["layer_norm"] = rows

    # Matmul: each candidate configuration alone, then the autotuned wrapper, against cuBLAS.
    rows = []
    kernel = ref.matmul_kernel.fn
    for size in (4096, 8192):
        a = torch.randn(size, size, device="cuda").half()
        b = torch.randn(size, size, device="cuda").half()
        c = torch.empty_like(a)
        for config in ref.matmul_kernel.configs:
            meta = dict(config.kwargs)
            grid = (triton.cdiv(size, meta["BLOCK_M"]) * triton.cdiv(size, meta["BLOCK_N"]),)
            launch = lambda: kernel[grid](c, a, b, size, size, size, size, 1, size, 1, ACTIVATION="", num_warps=config.num_warps, num_stages=config.num_stages, **meta)  # noqa: E731
            s, base, spread = timed(launch, lambda: torch.matmul(a, b), rounds=20)
            rows.append(dict(kernel="matmul", size=size, config=str(config), ratio=base / s, TFLOPs=2 * size**3 / s / 1e12, spread=spread))
            print(f"matmul {size} {config}: {base / s:.3f}x cuBLAS, {rows[-1]['TFLOPs']:.0f} TFLOP/s", flush=True)
        s, base, spread = timed(lambda: ref.matmul(a, b), lambda: torch.matmul(a, b), rounds=20)
        print(f"matmul {size} autotuned ({ref.matmul_kernel.best_config}): {base / s:.3f}x cuBLAS, {2 * size**3 / s / 1e12:.0f} TFLOP/s", flush=True)
    results["matmul"] = rows

    # Flash attention: block sizes, warps and stages, against SDPA.
    rows = []
    candidates = [(128, 64, 4, 3), (128, 64, 4, 4), (128, 64, 8, 3), (128, 128, 8, 3), (128, 128, 4, 3),
                  (64, 64, 4, 3), (128, 32, 4, 3), (64, 128, 4, 3)]
    for head_dim in (64, 128):
        q, k, v = (torch.randn(4, 32, 4096, head_dim, device="cuda").half() for _ in range(3))
        out_buf = torch.empty_like(q)
        lse = torch.empty(4, 32, 4096, device="cuda")
        for causal in (False, True):
            flops = 4 * 4 * 32 * 4096**2 * head_dim * (0.5 if causal else 1.0)
            for block_m, block_n, warps, stages in candidates:
                grid = (triton.cdiv(4096, block_m), 4 * 32)
                launch = lambda: ref.flash_attention_kernel[grid](out_buf, lse, q, k, v, *q.stride(), *k.stride(), *v.stride(), 32, 4096, 4096, 0.125 * 1.4426950408889634, HEAD_DIM=head_dim, CAUSAL=causal, BLOCK_M=block_m, BLOCK_N=block_n, num_warps=warps, num_stages=stages)  # noqa: E731
                try:
                    s, base, spread = timed(launch, lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), rounds=20)
                except Exception as error:  # noqa: BLE001 - a config may not fit in shared memory
                    print(f"attention D={head_dim} causal={causal} {block_m}x{block_n} w{warps} s{stages}: {type(error).__name__}", flush=True)
                    continue
                rows.append(dict(kernel="attention", head_dim=head_dim, causal=causal, config=[block_m, block_n, warps, stages], ratio=base / s, TFLOPs=flops / s / 1e12, sdpa_TFLOPs=flops / base / 1e12, spread=spread))
                print(f"attention D={head_dim} causal={causal} {block_m}x{block_n} w{warps} s{stages}: {base / s:.3f}x SDPA, {rows[-1]['TFLOPs']:.0f} TFLOP/s (SDPA {rows[-1]['sdpa_TFLOPs']:.0f})", flush=True)
    results["attention"] = rows
    (out / "sweep.json").write_text(json.dumps(results, indent=1))


# --- grade ------------------------------------------------------------------------------------

def _run_config(path: Path) -> dict:
    spec = tomllib.loads((PACKAGE / "assignment.toml").read_text())
    config = {"default_timeout_s": spec["resources"]["test_timeout_s"],
              "parts": {part["name"]: {"timeout_s": part["timeout_s"]} for part in spec["parts"] if "timeout_s" in part},
              "forbidden": spec.get("forbidden", [])}
    path.write_text(json.dumps(config))
    return spec


def _harness(module: Path, mode: str, out: Path, config: Path, only: list[str] | None = None, extra_path: Path | None = None) -> float:
    args = [sys.executable, "-m", "autograder.harness.run", "--tests", str(PACKAGE / "tests"), "--module", str(module),
            "--mode", mode, "--out", str(out), "--seed", "1", "--config", str(config)]
    if only is not None:
        only_file = out.with_suffix(".only")
        only_file.write_text("\n".join(only) + "\n")
        args += ["--only", str(only_file)]
    if extra_path is not None:
        args += ["--path", str(extra_path)]
    started = time.time()
    completed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    tail = (completed.stdout + completed.stderr).strip().splitlines()[-1:] or [""]
    print(f"  harness {module.name} ({mode}): {time.time() - started:.0f}s, {tail[0]}", flush=True)
    return time.time() - started


def _records(out: Path) -> dict:
    records = {}
    path = out / "records.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            records[record["nodeid"]] = record
    return records


def _value(out: Path, encoded):
    import numpy as np

    if encoded["type"] == "array":
        return np.load(out / encoded["file"], allow_pickle=False), encoded["dtype"]
    if encoded["type"] == "list":
        return [_value(out, item) for item in encoded["items"]]
    if encoded["type"] == "dict":
        return {key: _value(out, item) for key, item in encoded["items"].items()}
    return encoded.get("value")


def _check_differs(check: dict, student, expected) -> str | None:
    import numpy as np

    if check["kind"] == "exact":
        same = (isinstance(expected, tuple) and isinstance(student, tuple) and student[1] == expected[1]
                and np.array_equal(student[0], expected[0])) or student == expected
        return None if same else f"{student!r} != {expected!r}"[:200]
    if check["kind"] != "close":
        return None
    (actual, actual_dtype), (wanted, wanted_dtype) = student, expected
    if actual_dtype != wanted_dtype or actual.shape != wanted.shape:
        return f"{actual_dtype}{actual.shape} != {wanted_dtype}{wanted.shape}"
    actual, wanted = actual.astype(np.float64), wanted.astype(np.float64)
    finite = np.isfinite(wanted)
    if not np.array_equal(np.isfinite(actual), finite):
        return "NaN/inf where the reference is finite (or the reverse)"
    if check.get("rel_fro"):
        error = np.linalg.norm(actual[finite] - wanted[finite]) / max(np.linalg.norm(wanted[finite]), 1e-30)
        return None if error <= check["rel_fro"] else f"relative Frobenius error {error:.2e} > {check['rel_fro']}"
    rtol, atol = TOL.get(wanted_dtype, (0.0, 0.0))
    rtol = check["rtol"] if check.get("rtol") is not None else rtol
    atol = check["atol"] if check.get("atol") is not None else atol
    bad = np.abs(actual[finite] - wanted[finite]) > atol + rtol * np.abs(wanted[finite])
    return f"{int(bad.sum())} elements off, max error {float(np.abs(actual[finite] - wanted[finite]).max()):.2e}" if bad.any() else None


def _perf_credit(spec: dict, name: str, ratio: float) -> float:
    for perf in spec.get("perf", []):
        if perf["name"] == name:
            full, zero = perf["full_credit_ratio"], perf["zero_credit_ratio"]
            return max(0.0, min(1.0, (ratio - zero) / (full - zero)))
    return float("nan")


def _perf_rows(out: Path, records: dict, spec: dict) -> list[dict]:
    rows = []
    for nodeid, record in records.items():
        for check in record["checks"]:
            if check["kind"] != "perf":
                continue
            value = _value(out, check["value"])
            figures = {key: float(v) for key, v in value["details"].items()}
            ratio = float(value["baseline_s"]) / float(value["student_s"])
            rows.append(dict(name=check["name"], part=record["part"], ratio=ratio, spread=float(value["spread"]),
                             student_ms=float(value["student_s"]) * 1e3, baseline_ms=float(value["baseline_s"]) * 1e3,
                             credit=_perf_credit(spec, check["name"], ratio), **figures))
    return rows


def _print_perf(rows: list[dict]) -> None:
    for row in sorted(rows, key=lambda r: r["name"]):
        extras = ", ".join(f"{key} {value:.3g}" for key, value in row.items()
                           if key not in ("name", "part", "ratio", "spread", "student_ms", "baseline_ms", "credit"))
        print(f"    {row['name']:24s} ratio {row['ratio']:.3f} spread {row['spread']:.3f} credit {row['credit']:.2f} "
              f"({row['student_ms']:.3f} ms vs {row['baseline_ms']:.3f} ms; {extras})", flush=True)


def grade(out: Path, runs: int, mutants: str, jobs: int = 1) -> None:
    # Records (with their many .npy files) stay in a work folder; `out` gets the summary.
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "triton_kernels_grade"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    config = work / "run_config.json"
    spec = _run_config(config)
    summary = {"reference_runs": [], "mutants": {}}
    trusted = None
    for index in range(runs):
        run_out = work / f"reference_{index + 1}"
        print(f"reference run {index + 1}", flush=True)
        _harness(REFERENCE, "trusted", run_out, config)
        records = _records(run_out)
        trusted = trusted or (run_out, records)
        problems = {n: f"{r['outcome']}: {r['message'][:300]}" for n, r in records.items()
                    if r["outcome"] not in ("passed",) or r["violations"] or r["tamper"]}
        for nodeid, problem in problems.items():
            print(f"    NOT PASSED {nodeid}: {problem}", flush=True)
        rows = _perf_rows(run_out, records, spec)
        _print_perf(rows)
        summary["reference_runs"].append(dict(tests=len(records), problems=problems, perf=rows,
                                              durations={n: r["duration_s"] for n, r in records.items()}))
    if runs > 1:
        print("reference perf over the runs (ratio min / median / max):", flush=True)
        names = sorted({row["name"] for run in summary["reference_runs"] for row in run["perf"]})
        for name in names:
            ratios = [row["ratio"] for run in summary["reference_runs"] for row in run["perf"] if row["name"] == name]
            print(f"    {name:24s} {min(ratios):.3f} / {statistics.median(ratios):.3f} / {max(ratios):.3f}", flush=True)

    if mutants != "none" and trusted is not None:
        trusted_out, trusted_records = trusted
        refpath = work / "refpath"
        refpath.mkdir(exist_ok=True)
        link = refpath / "reference_solution"
        if not link.exists():
            link.symlink_to(REFERENCE)
        selected = []
        for path in sorted((PACKAGE / "mutants").glob("*.py")):
            part = path.read_text().splitlines()[0].split("part=")[1].strip()
            wanted = {"all": True, "perf": part.endswith("_perf"), "correctness": not part.endswith("_perf")}.get(
                mutants, path.stem in mutants.split(","))
            if wanted:
                selected.append((path, part))

        def run_mutant(path, part):
            only = [nodeid for nodeid, record in trusted_records.items() if record["part"] == part]
            mutant_out = work / f"mutant_{path.stem}"
            _harness(path, "student", mutant_out, config, only=only, extra_path=refpath)
            return only, mutant_out

        # Correctness mutants may run side by side (tiny shapes, compilation on the CPU); perf
        # mutants run alone, so that nothing else shares the GPU while they are timed.
        parallel = [(p, part) for p, part in selected if not part.endswith("_perf")]
        serial = [(p, part) for p, part in selected if part.endswith("_perf")]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(run_mutant, p, part): (p, part) for p, part in parallel}
            done = [(futures[f], f.result()) for f in futures]
        done += [((p, part), run_mutant(p, part)) for p, part in serial]
        for (path, part), (only, mutant_out) in done:
            print(f"mutant {path.stem} (part {part})", flush=True)
            records = _records(mutant_out)
            lost = {}
            for nodeid in only:
                expected = trusted_records[nodeid]
                if expected["outcome"] == "skipped":
                    continue
                record = records.get(nodeid)
                if record is None or record["outcome"] != "passed":
                    lost[nodeid] = "missing" if record is None else f"{record['outcome']}: {record['message'][:200]}"
                    continue
                student_checks = {check["name"]: check for check in record["checks"]}
                for check in expected["checks"]:
                    if check["kind"] == "perf":
                        continue
                    if check["name"] not in student_checks:
                        lost[nodeid] = f"check {check['name']} missing"
                        break
                    reason = _check_differs(check, _value(mutant_out, student_checks[check["name"]]["value"]),
                                            _value(trusted_out, check["value"]))
                    if reason:
                        lost[nodeid] = f"{check['name']}: {reason}"
                        break
            for nodeid, reason in lost.items():
                print(f"    LOST {nodeid}: {reason}", flush=True)
            rows = _perf_rows(mutant_out, records, spec)
            _print_perf(rows)
            credits = ", ".join(row["name"] + " " + format(row["credit"], ".2f") for row in rows) or "n/a"
            print(f"    => {len(lost)} of {len(only)} tests lost on correctness; perf credit {credits}", flush=True)
            summary["mutants"][path.stem] = dict(part=part, lost=lost, perf=rows)
    (out / "grade.json").write_text(json.dumps(summary, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["sweep", "grade"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--mutants", default="none", help="all, perf, correctness, none, or comma-separated names")
    parser.add_argument("--jobs", type=int, default=1, help="correctness mutants graded side by side")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    if options.what == "sweep":
        sweep(options.out)
    else:
        grade(options.out, options.runs, options.mutants, options.jobs)


if __name__ == "__main__":
    main()
