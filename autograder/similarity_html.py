"""`index.html` of a similarity report: ranked pairs, then each detailed pair side by side with
its matched regions highlighted. One self-contained file (no scripts, inline style); every piece
of student text goes through `html.escape`, so a submission cannot inject markup."""

from __future__ import annotations

from html import escape

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1rem;max-width:100rem}
table{border-collapse:collapse}td,th{padding:.2rem .5rem;border-bottom:1px solid #ddd;text-align:left}
.pair{margin:2rem 0}.sides{display:flex;flex-wrap:wrap;gap:1rem}.side{flex:1 1 30rem;min-width:0}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.8rem;line-height:1.3}
.m{background:#ffe08a;display:block}.tag{color:#8a5a00;font-weight:bold}
"""


def highlighted_lines(matches: list[dict], side: str, code_lines: dict[str, list[int]]) -> dict[str, dict[int, int]]:
    """cell → {line: number of the match (1-based) that covers it} for side "a" or "b"; only
    lines that hold code are marked."""
    marks: dict[str, dict[int, int]] = {}
    for number, match in enumerate(matches, 1):
        first, last = match[f"{side}_lines"]
        cell = match[f"{side}_cell"]
        code = set(code_lines.get(cell, range(first, last + 1)))
        cell_marks = marks.setdefault(cell, {})
        for line in range(first, last + 1):
            if line in code:
                cell_marks.setdefault(line, number)
    return marks


def _cell_html(cell: str, text: str, marks: dict[int, int]) -> str:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        mark = marks.get(number)
        if mark:
            lines.append(f'<span class="m"><span class="tag">[{mark}]</span> {escape(line)}</span>')
        else:
            lines.append(escape(line) + "\n")
    return f"<h4>cell {escape(cell)}</h4><pre>{''.join(lines)}</pre>"


def _side_html(name: str, cells: dict[str, str], marks: dict[str, dict[int, int]]) -> str:
    body = "".join(_cell_html(cell, text, marks.get(cell, {})) for cell, text in cells.items())
    return f'<div class="side"><h3>{escape(name)}</h3>{body}</div>'


def render_report(data: dict, *, title: str) -> str:
    scores = {(pair["a"], pair["b"]): pair for pair in data["pairs"]}
    rows = []
    for rank, detail in enumerate(data["details"], 1):
        pair = scores[(detail["a"], detail["b"])]
        cells = ", ".join(f"{escape(cell)} {value:.2f}" for cell, value in
                          sorted(pair["cells"].items(), key=lambda item: -item[1]))
        rows.append(f'<tr><td>{rank}</td><td><a href="#pair-{rank}">{escape(pair["a"])} ↔ {escape(pair["b"])}'
                    f'</a></td><td>{pair["score"]:.3f}</td><td>{cells}</td></tr>')
    sections = []
    for rank, detail in enumerate(data["details"], 1):
        a, b = detail["a"], detail["b"]
        info_a, info_b = data["submissions"][a], data["submissions"][b]
        marks_a = highlighted_lines(detail["matches"], "a", info_a.get("code_lines", {}))
        marks_b = highlighted_lines(detail["matches"], "b", info_b.get("code_lines", {}))
        sections.append(
            f'<section class="pair" id="pair-{rank}"><h2>{rank}. {escape(a)} ↔ {escape(b)}: '
            f'{scores[(a, b)]["score"]:.3f}</h2><p>{len(detail["matches"])} matched regions; [n] marks '
            'the same region on both sides.</p><div class="sides">'
            f'{_side_html(a, info_a["cells"], marks_a)}{_side_html(b, info_b["cells"], marks_b)}</div></section>')
    errors = [f"<li>{escape(name)}: {escape(info['error'])}</li>"
              for name, info in sorted(data["submissions"].items()) if info.get("error")]
    unread = f"<h2>Not read</h2><ul>{''.join(errors)}</ul>" if errors else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Similarity: {escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Similarity: {escape(title)}</h1><p>{len(data['pairs'])} pairs; the top "
        f"{len(data['details'])} (highest overall, and highest in each cell) side by side. Every pair with "
        "its score is in pairs.json.</p>"
        f"<table><tr><th>#</th><th>pair</th><th>score</th><th>per cell</th></tr>{''.join(rows)}</table>"
        f"{unread}{''.join(sections)}</body></html>\n"
    )
