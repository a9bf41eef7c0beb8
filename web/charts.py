"""Small inline SVG charts drawn on the server (no JavaScript, nothing to load)."""

from __future__ import annotations

from markupsafe import Markup, escape


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def perf_chart(perf: list[dict]) -> Markup:
    """Horizontal bars of speedup_vs_baseline per perf measurement, with the 1x line and the
    full-credit ratio where the result gives it."""
    rows = [(str(p.get("name", "?")), _num(p.get("speedup_vs_baseline")), _num(p.get("full_credit_ratio")))
            for p in perf if isinstance(p, dict)]
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return Markup("")
    top = max(max(r[1] for r in rows), max((r[2] or 0) for r in rows), 1.0) * 1.15
    label_w, bar_w, row_h = 170, 360, 26
    height = row_h * len(rows) + 30
    x = lambda v: label_w + bar_w * v / top  # noqa: E731
    parts = [f'<svg class="chart" role="img" aria-label="speedup versus baseline" width="{label_w + bar_w + 70}" '
             f'height="{height}" viewBox="0 0 {label_w + bar_w + 70} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (name, ratio, full) in enumerate(rows):
        y = 8 + i * row_h
        color = "#2e7d32" if full is None or ratio >= full else "#ef6c00"
        label = name.rsplit("::", 1)[-1]
        label = label if len(label) <= 24 else label[:23] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(1.0, x(ratio) - label_w):.1f}" height="18" fill="{color}"/>')
        parts.append(f'<text x="{x(ratio) + 4:.1f}" y="{y + 14}" font-size="12">{ratio:.2f}x</text>')
        if full is not None:
            parts.append(f'<line x1="{x(full):.1f}" x2="{x(full):.1f}" y1="{y - 2}" y2="{y + 20}" stroke="#1565c0" '
                         'stroke-width="2" stroke-dasharray="3,2"/>')
    one = x(1.0)
    parts.append(f'<line x1="{one:.1f}" x2="{one:.1f}" y1="4" y2="{height - 20}" stroke="#555" stroke-width="1"/>')
    parts.append(f'<text x="{one:.1f}" y="{height - 6}" text-anchor="middle" font-size="11">1x baseline</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(scores: list[float], max_score: float, bins: int = 10, title: str = "") -> Markup:
    if max_score <= 0:
        max_score = max(scores or [1.0]) or 1.0
    counts = [0] * bins
    for score in scores:
        index = min(bins - 1, max(0, int(score / max_score * bins)))
        counts[index] += 1
    width, height, pad = 320, 140, 24
    top = max(counts + [1])
    bar = (width - 2 * pad) / bins
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)} score histogram" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        x0 = pad + i * bar
        parts.append(f'<rect x="{x0 + 1:.1f}" y="{height - pad - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                     f'fill="#3f6fb5"><title>{count} students</title></rect>')
        if count:
            parts.append(f'<text x="{x0 + bar / 2:.1f}" y="{height - pad - h - 3:.1f}" text-anchor="middle" '
                         f'font-size="10">{count}</text>')
    parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{height - pad}" y2="{height - pad}" stroke="#333"/>')
    parts.append(f'<text x="{pad}" y="{height - 6}" font-size="10">0</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 6}" font-size="10" text-anchor="end">{max_score:g}</text>')
    parts.append(f'<text x="{width / 2}" y="12" font-size="11" text-anchor="middle">{escape(title)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
