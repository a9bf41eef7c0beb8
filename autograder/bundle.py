"""Grader bundles and student releases.

A grader bundle is everything a worker needs to grade one assignment: `assignment.toml`,
`source.ipynb` (for the provided cells), `tests/` (public and hidden) and `reference/`. It is
a deterministic `.tar.gz` (sorted names, zeroed times and owners), so its sha256 — the
bundle digest — names its content. The release students download is built by
`autograder/release.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from functools import lru_cache
from pathlib import Path

from autograder.errors import PackageError
from autograder.package import Assignment, load_assignment

_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def _files_under(root: Path, arc_prefix: str) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (_SKIP_PARTS & set(path.relative_to(root).parts)) and path.suffix != ".pyc":
            files.append((f"{arc_prefix}/{path.relative_to(root).as_posix()}", path))
    return files


def bundle_members(assignment: Assignment) -> list[tuple[str, Path]]:
    if not (assignment.reference_dir / "__init__.py").is_file():
        raise PackageError(f"{assignment.reference_dir}: no reference package (an __init__.py exporting the "
                           "student API). Fix: add reference/<slug>/__init__.py")
    members = [("assignment.toml", assignment.root / "assignment.toml")]
    if assignment.notebook_path.is_file():
        members.append(("source.ipynb", assignment.notebook_path))
    members += _files_under(assignment.tests_dir, "tests")
    members += _files_under(assignment.reference_dir, "reference")
    return members


def bundle_bytes(assignment: Assignment) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in bundle_members(assignment):
            data = path.read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def _signature(assignment: Assignment) -> tuple:
    return tuple((arcname, path.stat().st_mtime_ns, path.stat().st_size) for arcname, path in bundle_members(assignment))


@lru_cache(maxsize=64)
def _digest_cached(root: str, signature: tuple) -> str:
    return hashlib.sha256(bundle_bytes(load_assignment(Path(root)))).hexdigest()


def bundle_digest(assignment: Assignment) -> str:
    return _digest_cached(str(assignment.root), _signature(assignment))


def write_bundle(assignment: Assignment, out_dir: Path) -> tuple[Path, str]:
    data = bundle_bytes(assignment)
    digest = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bundle-{digest[:16]}.tar.gz"
    path.write_bytes(data)
    return path, digest


def unpack(bundle_path: Path, dest: Path, *, expected_digest: str | None = None) -> Path:
    """Unpack a bundle into `dest` (an assignment folder `grade()` accepts)."""
    data = Path(bundle_path).read_bytes()
    if expected_digest and hashlib.sha256(data).hexdigest() != expected_digest:
        raise PackageError(f"{bundle_path}: sha256 does not match the bundle digest {expected_digest}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not member.isfile() or not str(target).startswith(str(dest.resolve()) + "/"):
                raise PackageError(f"{bundle_path}: unsafe member {member.name!r}")
        tar.extractall(dest, filter="data")
    return dest
