"""Engine settings: each declared once, typed, with a default, one line of help and an
environment variable that overrides it (`DLGRADE_<NAME>`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Setting:
    default: object
    help: str


SETTINGS = {
    "cache_dir": Setting(str(Path.home() / ".cache" / "dlgrade"), "trusted-run cache and the seed secret"),
    "sandbox": Setting("process", "default sandbox backend: process or docker"),
    "seed_pool": Setting(8, "grading seeds per bundle; trusted runs are cached per seed"),
    "seed_secret": Setting("", "secret mixed into grading seeds (default: a random file in cache_dir)"),
    "max_restarts": Setting(8, "times a student run is resumed after it died or hung"),
    "perf_remeasure": Setting(2, "extra runs of a perf test whose spread was too wide"),
    "run_lanes": Setting(0, "sandbox runs one grading may run at once (correctness tests in parallel lanes, perf "
                            "tests after them alone); 0: 1, or on a GPU worker min(8, its cores per GPU) within "
                            "its memory (autograder/worker/lanes.py)"),
    "hardware": Setting("", "hardware name perf specs match against (default: detected)"),
    "output_limit_mb": Setting(64, "cap on a run's records, MiB (the assignment may lower it)"),
    "gradescope_root": Setting("/autograder", "Gradescope's autograder folder (source, submission, results)"),
}


def get(name: str):
    setting = SETTINGS[name]
    raw = os.environ.get(f"DLGRADE_{name.upper()}")
    if raw is None or raw == "":
        return setting.default
    return type(setting.default)(raw)


def seed_secret() -> str:
    explicit = get("seed_secret")
    if explicit:
        return explicit
    path = Path(get("cache_dir")) / "seed_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(16).hex())
        path.chmod(0o600)
    return path.read_text().strip()
