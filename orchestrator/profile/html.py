"""The Gate 1 profile as one self-contained HTML page: inline CSS, charts drawn as inline SVG, no
network, no external file. It opens offline in any browser.

Charts: the quality score by dimension, the date formats found per date column, and the missing
values (NULL, empty, whitespace-only, sentinel) per column. A few lines of inline script record, once
the page is laid out, how many charts the browser actually drew (`<body data-charts-rendered="N">`),
which the headless-browser test reads back.
"""

from __future__ import annotations

import html
from typing import Any

PALETTE = ["#2b6cb0", "#38a169", "#d69e2e", "#805ad5", "#dd6b20", "#319795", "#b83280", "#718096"]
MISSING_COLOURS = {"null": "#a0aec0", "empty": "#f6ad55", "whitespace_only": "#f6e05e", "sentinel": "#fc8181"}
UNPARSEABLE_COLOUR = "#e53e3e"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(n: float | int) -> str:
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.2f}"


def _score_colour(score: float | None) -> str:
    if score is None:
        return "#a0aec0"
    return "#38a169" if score >= 95 else "#d69e2e" if score >= 80 else "#e53e3e"


def score_chart(profile: dict[str, Any]) -> str:
    """Horizontal bars, one per dimension, 0 to 100."""
    dims = profile["score"]["dimensions"]
    label_w, bar_w, row_h = 130, 420, 30
    height = row_h * len(dims) + 30
    parts = [
        f'<svg class="chart" data-chart="score" role="img" aria-label="Quality score by dimension" '
        f'viewBox="0 0 {label_w + bar_w + 70} {height}" width="{label_w + bar_w + 70}" height="{height}">'
    ]
    for i, (name, d) in enumerate(dims.items()):
        y = 10 + i * row_h
        score = d["score"]
        w = 0 if score is None else bar_w * score / 100
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="lbl">{esc(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="20" fill="#edf2f7"/>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="20" fill="{_score_colour(score)}">'
            f"<title>{esc(name)}: {esc(d['formula'])}</title></rect>"
        )
        text = "n/a" if score is None else f"{score:.1f}"
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 15}" class="val">{text}</text>')
    y = 10 + len(dims) * row_h
    for tick in (0, 50, 80, 100):
        x = label_w + bar_w * tick / 100
        parts.append(f'<line x1="{x}" y1="5" x2="{x}" y2="{y}" stroke="#cbd5e0" stroke-dasharray="2,3"/>')
        parts.append(f'<text x="{x}" y="{y + 14}" text-anchor="middle" class="tick">{tick}</text>')
    parts.append("</svg>")
    return "".join(parts)


def formats_chart(profile: dict[str, Any]) -> str:
    """One stacked bar per date column: a segment per format found, plus the unparseable values."""
    rows = []
    for t in profile["tables"]:
        for c in t["columns"]:
            d = c.get("dates")
            if d and d["is_date_column"] and c["present"]:
                rows.append((f"{t['name']}.{c['name']}", c, d))
    if not rows:
        return '<p class="muted">No date columns found.</p>'
    labels = sorted({f["format"] for _, _, d in rows for f in d["formats"]})
    colour = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    label_w, bar_w, row_h, note_w = 280, 380, 28, 560
    height = row_h * len(rows) + 10
    width = label_w + bar_w + note_w
    parts = [
        f'<svg class="chart" data-chart="formats" role="img" aria-label="Date formats per column" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    ]
    for i, (name, c, d) in enumerate(rows):
        y = 6 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" class="lbl">{esc(name)}</text>')
        segments = [(f["format"], f["count"], colour[f["format"]]) for f in d["formats"]]
        segments.append(("unparseable", d["unparseable"], UNPARSEABLE_COLOUR))
        segments = [seg for seg in segments if seg[1]]
        # every format found stays visible: at least 3 px, the largest segment gives way
        widths = [max(3.0, bar_w * n / c["present"]) for _, n, _ in segments]
        if widths:
            biggest = widths.index(max(widths))
            widths[biggest] = max(3.0, widths[biggest] - (sum(widths) - bar_w))
        x = float(label_w)
        for (label, n, fill), w in zip(segments, widths, strict=True):
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="18" fill="{fill}">'
                f"<title>{esc(label)}: {_num(n)} of {_num(c['present'])}</title></rect>"
            )
            x += w
        note = "; ".join(f"{label} {_num(n)}" for label, n, _ in segments[:4])
        if len(segments) > 4:
            note += f"; +{len(segments) - 4} more"
        if d["verdict"]:
            note += f" · {d['verdict']}"
        parts.append(f'<text x="{label_w + bar_w + 10}" y="{y + 14}" class="note">{esc(note)}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{colour[label]}"></i>{esc(label)}</span>' for label in labels
    )
    legend += f'<span class="key"><i style="background:{UNPARSEABLE_COLOUR}"></i>unparseable</span>'
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def missing_chart(profile: dict[str, Any]) -> str:
    """One stacked bar per column with missing values: NULL, empty, whitespace-only, sentinel, as a
    share of the table's rows."""
    rows = []
    for t in profile["tables"]:
        for c in t["columns"]:
            if c["missing"] and t["row_count"]:
                rows.append((f"{t['name']}.{c['name']}", t["row_count"], c))
    if not rows:
        return '<p class="muted">No missing values: no NULL, empty, whitespace-only or sentinel value.</p>'
    label_w, bar_w, row_h = 300, 400, 22
    height = row_h * len(rows) + 10
    parts = [
        f'<svg class="chart" data-chart="missing" role="img" aria-label="Empty and missing values per column" '
        f'viewBox="0 0 {label_w + bar_w + 90} {height}" width="{label_w + bar_w + 90}" height="{height}">'
    ]
    for i, (name, rows_n, c) in enumerate(rows):
        y = 5 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 12}" text-anchor="end" class="lbl">{esc(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="15" fill="#edf2f7"/>')
        x = float(label_w)
        for key, fill in MISSING_COLOURS.items():
            n = c[key]
            if not n:
                continue
            w = max(1.0, bar_w * n / rows_n)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="15" fill="{fill}">'
                f"<title>{esc(key.replace('_', ' '))}: {_num(n)} of {_num(rows_n)} rows</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 12}" class="val">{100 * c["missing"] / rows_n:.1f}%</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{fill}"></i>{esc(key.replace("_", " "))}</span>'
        for key, fill in MISSING_COLOURS.items()
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _storage(c: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_num(v)}" for k, v in c["storage_classes"].items())


def _column_rows(t: dict[str, Any]) -> str:
    out = []
    for c in t["columns"]:
        d = c.get("dates")
        formats = ""
        if d and d["formats"]:
            items = "".join(
                f"<li><code>{esc(f['format'])}</code> {_num(f['count'])} "
                f"<span class=muted>e.g. {esc(', '.join(f['examples']))}</span></li>"
                for f in d["formats"]
            )
            # the order of each day/month shape, and why (profile.decide_orders)
            verdict = "".join(
                f"<div{' class=bad' if o['warn'] or o['decided_by'] == 'conflict' else ''}>"
                f"<code>{esc(o['shape'])}</code> read <b>{esc(o['reason'].split(':', 1)[0])}</b>: "
                f"{esc(o['reason'].split(':', 1)[-1].strip())}</div>"
                for o in d.get("orders", [])
            )
            bad = ""
            if d["unparseable"]:
                bad = (
                    f"<div class=bad>unparseable: {_num(d['unparseable'])} "
                    f"({100 * d['unparseable_share']:.2f}%) e.g. {esc(', '.join(d['unparseable_examples']))}</div>"
                )
            formats = f"<ul>{items}</ul>{verdict}{bad}"
        sentinels = ", ".join(f"{esc(k)} ×{_num(v)}" for k, v in c["sentinel_values"].items())
        detected = esc(c["detected_type"])
        if c["type_mismatch"]:
            detected += ' <span class="tag bad">mismatch</span>'
        span = "" if c["min"] is None else f"{esc(c['min'])} … {esc(c['max'])}"
        out.append(
            "<tr>"
            f"<td><b>{esc(c['name'])}</b></td><td>{esc(c['declared_type']) or '—'}</td>"
            f"<td>{esc(_storage(c))}</td><td>{detected}</td><td class=n>{100 * c['confidence']:.1f}%</td>"
            f"<td class=n>{_num(c['null'])}</td><td class=n>{_num(c['empty'])}</td>"
            f"<td class=n>{_num(c['whitespace_only'])}</td>"
            f"<td class=n>{_num(c['sentinel'])}{f'<div class=muted>{sentinels}</div>' if sentinels else ''}</td>"
            f"<td class=n>{_num(c['untrimmed'])}</td><td class=n>{_num(c['distinct_count'])}</td>"
            f"<td>{span}</td><td>{formats}</td>"
            "</tr>"
        )
    return "".join(out)


def _table_section(t: dict[str, Any]) -> str:
    facts = [f"{_num(t['row_count'])} rows", f"{len(t['columns'])} columns"]
    if t.get("key"):
        k = t["key"]
        facts.append(
            f"key <code>{esc(k['column'])}</code>: {_num(k['duplicate_keys'])} duplicate keys, "
            f"{_num(k['surplus_rows'])} surplus rows"
        )
    for r in t.get("references", []):
        facts.append(
            f"<code>{esc(r['column'])}</code> → {esc(r['references']['table'])}: "
            f"{_num(r['orphan_rows'])} orphans of {_num(r['rows_with_reference'])}"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "column",
            "declared",
            "storage classes",
            "detected",
            "confidence",
            "NULL",
            "empty",
            "whitespace",
            "sentinel",
            "untrimmed",
            "distinct",
            "min … max",
            "date formats",
        )  # fmt: skip
    )
    return (
        f'<section class="table"><h3>{esc(t["name"])}</h3><p>{" · ".join(facts)}</p>'
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{_column_rows(t)}</tbody></table></div>'
        "</section>"
    )


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#1a202c;
     background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0}
h3{font-size:16px;margin:20px 0 4px}
.muted{color:#718096;font-size:12px}.bad{color:#c53030}
.score{font-size:44px;font-weight:700}.grid{display:flex;gap:32px;align-items:center;flex-wrap:wrap}
.banner{padding:10px 14px;border-radius:6px;margin:14px 0}.banner.ok{background:#f0fff4;border:1px solid #9ae6b4}
.banner.halt{background:#fff5f5;border:1px solid #feb2b2}.banner li{margin:3px 0}
svg.chart text{font-size:12px;fill:#2d3748}svg.chart .tick{font-size:10px;fill:#718096}
svg.chart .val{font-weight:600}svg.chart .note{font-size:11px;fill:#4a5568}
.legend{margin:6px 0 0 0;font-size:12px}.key{margin-right:14px;white-space:nowrap}
.key i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
table{border-collapse:collapse;font-size:12px}th,td{border-bottom:1px solid #edf2f7;padding:4px 6px;
     vertical-align:top;text-align:left}th{background:#f7fafc;position:sticky;top:0}td.n{text-align:right}
td ul{margin:0;padding-left:16px}.scroll{overflow-x:auto}
.tag{font-size:11px;border:1px solid currentColor;border-radius:3px;padding:0 3px}
code{font-size:12px;background:#f7fafc;padding:0 2px}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var drawn = 0;
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var bars = Array.prototype.filter.call(svg.querySelectorAll('rect.bar'), function (r) {
      var b = r.getBBox(); return b.width > 0 && b.height > 0;
    });
    if (box.width > 0 && box.height > 0 && bars.length > 0) { drawn += 1; svg.setAttribute('data-drawn', bars.length); }
  });
  document.body.setAttribute('data-charts-rendered', String(drawn));
});
"""


def render_html(profile: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    s, sc, settings = profile["summary"], profile["score"], profile["settings"]
    breaker = profile.get("breaker") or {"halted": False, "trips": [], "thresholds": {}}
    if breaker["halted"]:
        items = "".join(f"<li>{esc(t['message'])}</li>" for t in breaker["trips"])
        banner = (
            f'<div class="banner halt"><b>Circuit breaker tripped: the run stops here (exit 3), nothing is '
            f"loaded.</b><ul>{items}</ul></div>"
        )
    else:
        banner = '<div class="banner ok"><b>Circuit breaker: no rule tripped.</b></div>'
    th = breaker.get("thresholds", {})
    thresholds = ", ".join(f"{esc(k)} = {esc(v)}" for k, v in th.items())
    order = "day-first" if settings["day_first"] else "month-first"
    overall = sc["overall"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Profile — {esc(profile["source"]["path"])}</title>
<style>{CSS}</style></head>
<body data-charts-rendered="0">
<h1>Gate 1 profile</h1>
<div class="muted">{esc(profile["source"]["path"])} · {_num(profile["source"]["size_bytes"])} bytes ·
generated {esc(profile["generated_at"])} · {s["tables"]} tables, {s["columns"]} columns, {_num(s["rows"])} rows,
{_num(s["values"])} values read in {profile.get("elapsed_seconds", 0):.2f} s · configured order {order}
· sentinels {esc(", ".join(settings["sentinels"]))}</div>
{banner}
<h2>Quality score</h2>
<div class="grid"><div><div class="score" style="color:{_score_colour(overall)}">{overall:.1f}</div>
<div class="muted">of 100: the mean of the dimensions that apply</div></div>
<div>{score_chart(profile)}</div></div>
<div class="muted">Breaker thresholds: {thresholds}</div>
<h2>Date formats per column</h2>
{formats_chart(profile)}
<h2>Empty and missing values per column</h2>
{missing_chart(profile)}
<h2>Tables</h2>
{"".join(_table_section(t) for t in profile["tables"])}
<script>{SCRIPT}</script>
</body></html>
"""
