"""What the portal reads of an assignment: the package's name, and the assignment its gate parsed.

The portal parses no `assignment.toml` and clears no notebook: the worker's release gate does
both with the engine, uploads the release it built and checked, and reports the parsed
assignment (CONTRACT.md). Until then the portal knows a package only by the folder name of its
`assignments/<slug>/`, read from the tar's member names without extracting anything.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tarfile

MAX_MEMBERS = 5000
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_QUEUE = re.compile(r"cpu|gpu|gpu-[0-9]{1,3}")  # names the workers consume (CONTRACT.md)


class PackageError(ValueError):
    pass


def package_slug(data: bytes) -> str:
    """The `<slug>` of the one `assignments/<slug>/assignment.toml` in an uploaded `.tar.gz`."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"The package is not a readable .tar.gz ({exc}); build it with "
                           "`tar czf pkg.tar.gz assignments/<slug> reference/<slug>`.") from None
    found = []
    with archive:
        try:
            for count, member in enumerate(archive):
                if count > MAX_MEMBERS:
                    raise PackageError(f"The package has more than {MAX_MEMBERS} files; remove build outputs.")
                parts = member.name.removeprefix("./").split("/")
                if member.isfile() and len(parts) == 3 and parts[0] == "assignments" and parts[2] == "assignment.toml":
                    found.append(parts[1])
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise PackageError(f"The package is truncated or corrupt ({exc}); build it again.") from None
    if len(found) != 1:
        raise PackageError("The package must hold exactly one assignments/<slug>/assignment.toml "
                           f"(found {len(found)}).")
    if not _SAFE_NAME.fullmatch(found[0]):
        raise PackageError(f"assignments/{found[0][:100]}/: name the folder by the assignment's slug "
                           "(lowercase letters, digits and _).")
    return found[0]


@dataclasses.dataclass(frozen=True)
class GatedAssignment:
    """The assignment as a passed gate reported it."""
    release_digest: str
    title: str
    summary: str
    parts: list[dict]
    solution_ids: list[str]
    max_score: float
    max_upload_mb: float | None
    queue: str  # the engine's queue rule, applied by the gate


def gated_assignment(report: dict, slug: str) -> GatedAssignment:
    """Read the release digest and the parsed assignment from a passed gate's report; ValueError
    says what is missing."""
    if not isinstance(report, dict):
        raise ValueError("the gate report is not a JSON object")
    digest = report.get("release_digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError("the gate report has no release_digest")
    meta = report.get("assignment")
    if not isinstance(meta, dict):
        raise ValueError("the gate report has no assignment")
    if meta.get("slug") != slug:
        raise ValueError(f"the package's assignment.toml says slug {meta.get('slug')!r}, its folder {slug!r}")
    parts = []
    for part in meta.get("parts") or []:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str) or \
                not isinstance(part.get("points"), (int, float)):
            raise ValueError(f"the gate report has a malformed part: {part!r}")
        parts.append({"name": part["name"], "title": str(part.get("title") or part["name"]),
                      "points": float(part["points"]), "kind": str(part.get("kind", "correctness")),
                      "visibility": str(part.get("visibility", "visible"))})
    if not parts:
        raise ValueError("the gate report's assignment has no parts")
    solution_ids = meta.get("solution_ids")
    if not isinstance(solution_ids, list) or not all(isinstance(one, str) for one in solution_ids):
        raise ValueError("the gate report's assignment has no solution_ids")
    limits = meta.get("limits") or {}
    queue = meta.get("queue")
    if not isinstance(queue, str) or not _QUEUE.fullmatch(queue):
        raise ValueError(f"the gate report's assignment names no valid queue: {queue!r}")
    upload_mb = limits.get("max_upload_mb")
    return GatedAssignment(
        release_digest=digest, title=str(meta.get("title") or slug), summary=str(meta.get("summary") or ""),
        parts=parts, solution_ids=solution_ids, max_score=sum(part["points"] for part in parts),
        max_upload_mb=float(upload_mb) if isinstance(upload_mb, (int, float)) else None,
        queue=queue)
