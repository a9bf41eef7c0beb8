"""Read an uploaded assignment package (never extracted to disk) and build the student release.

The package is a .tar.gz of `assignments/<slug>/` and `reference/<slug>/`. The portal only
needs its metadata (assignment.toml), the solution cell ids of `source.ipynb` (to validate
uploads at once) and the release: the notebook with solutions cleared plus the public tests.
Grading and the release gate are the worker's job.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tarfile
import tomllib
import zipfile

import nbformat

MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 5000


class PackageError(ValueError):
    pass


@dataclasses.dataclass
class PackageInfo:
    slug: str
    title: str
    summary: str
    gpus: int
    max_upload_mb: float | None
    parts: list[dict]
    solution_ids: list[str]
    release_zip: bytes


def _members(data: bytes) -> dict[str, tarfile.TarInfo | bytes]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"The package is not a readable .tar.gz ({exc}); build it with "
                           "`tar czf pkg.tar.gz assignments/<slug> reference/<slug>`.") from None
    files: dict[str, bytes] = {}
    with archive:
        for count, member in enumerate(archive):
            if count > MAX_MEMBERS:
                raise PackageError(f"The package has more than {MAX_MEMBERS} files; remove build outputs.")
            name = member.name.lstrip("./")
            if not member.isfile() or ".." in name.split("/"):
                continue
            if member.size > MAX_MEMBER_BYTES:
                continue  # large data files are the worker's business, not the portal's
            handle = archive.extractfile(member)
            if handle is not None:
                files[name] = handle.read()
    return files


def read_package(data: bytes) -> PackageInfo:
    files = _members(data)
    tomls = [n for n in files if re.fullmatch(r"(?:.*/)?assignments/[^/]+/assignment\.toml", n)]
    if len(tomls) != 1:
        raise PackageError("The package must hold exactly one assignments/<slug>/assignment.toml "
                           f"(found {len(tomls)}).")
    base = tomls[0][: -len("assignment.toml")]
    slug_dir = base.rstrip("/").rsplit("/", 1)[-1]
    try:
        meta = tomllib.loads(files[tomls[0]].decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{tomls[0]}: not valid TOML ({exc}).") from None
    slug = str(meta.get("slug") or slug_dir)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", slug):
        raise PackageError(f"{tomls[0]}: slug {slug!r} must be lowercase letters, digits, '-' or '_'.")
    root = base[: -len(f"assignments/{slug_dir}/")]
    if not any(n.startswith(f"{root}reference/{slug_dir}/") for n in files):
        raise PackageError(f"The package has no reference/{slug_dir}/ folder; add the reference solution.")
    parts = []
    for part in meta.get("parts", []):
        parts.append({
            "name": str(part.get("name", "")),
            "title": str(part.get("title", part.get("name", ""))),
            "points": float(part.get("points", 0)),
            "kind": str(part.get("kind", "correctness")),
            "visibility": str(part.get("visibility", "visible")),
        })
    if not parts:
        raise PackageError(f"{tomls[0]}: no [[parts]]; declare at least one part with points.")
    notebook_name = f"{base}source.ipynb"
    if notebook_name not in files:
        raise PackageError(f"The package has no {notebook_name}.")
    try:
        notebook = nbformat.reads(files[notebook_name].decode(), as_version=4)
    except Exception as exc:
        raise PackageError(f"{notebook_name} is not a valid notebook ({exc}).") from None
    solution_ids = [
        cell.metadata["nbgrader"]["grade_id"]
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and
        cell.metadata["nbgrader"].get("grade_id")
    ]
    limits = meta.get("limits", {})
    return PackageInfo(
        slug=slug,
        title=str(meta.get("title", slug)),
        summary=str(meta.get("summary", "")),
        gpus=int(meta.get("resources", {}).get("gpus", 0)),
        max_upload_mb=float(limits["max_upload_mb"]) if "max_upload_mb" in limits else None,
        parts=parts,
        solution_ids=solution_ids,
        release_zip=_release_zip(slug, notebook, files, f"{base}tests/public/", f"{base}tests/helpers.py"),
    )


_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*\n?", re.M | re.S)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def clear_notebook(notebook) -> None:
    """Solutions out (as nbgrader's ClearSolutions does), outputs out."""
    for cell in notebook.cells:
        nb_meta = cell.get("metadata", {}).get("nbgrader", {})
        source = _HIDDEN.sub("", cell.source)
        if nb_meta.get("solution"):
            if cell.cell_type == "code":
                source = _SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()\n", source)
            else:
                source = _SOLUTION.sub("YOUR ANSWER HERE\n", source)
        cell.source = source
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def _release_zip(slug, notebook, files, public_prefix, helpers_name) -> bytes:
    clear_notebook(notebook)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{slug}/{slug}.ipynb", nbformat.writes(notebook))
        uses_helpers = False
        for name, content in sorted(files.items()):
            if name.startswith(public_prefix) and not name.endswith((".pyc",)) and "__pycache__" not in name:
                archive.writestr(f"{slug}/tests/public/{name[len(public_prefix):]}", content)
                uses_helpers = uses_helpers or b"helpers" in content
        if uses_helpers and helpers_name in files:
            archive.writestr(f"{slug}/tests/helpers.py", files[helpers_name])
    return buffer.getvalue()
