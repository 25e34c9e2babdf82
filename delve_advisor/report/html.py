"""The ``"html"`` report format: one self-contained HTML page, inline CSS, plots as base64 PNG."""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from delve_advisor.report import _text as fmt
from delve_advisor.report.formats import BaseReportFormat
from delve_advisor.report.plots import report_pngs
from delve_advisor.report.report import Report

__all__ = ["HTMLReportFormat", "render_html"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; }
.headline { font-size: 1.1rem; font-weight: 600; }
.status { padding: .5rem .8rem; border-left: 4px solid #1f77b4; background: #f4f8fb; }
.status-diverged { border-color: #d62728; background: #fdf2f2; }
.status-graph_only { border-color: #9467bd; background: #f7f4fb; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .2rem .45rem; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
tr.tail td { background: #fdecea; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #555; }
.table-wrap { overflow-x: auto; }
footer { margin-top: 2rem; font-size: .8rem; color: #666; }
"""

_PLOT_CAPTIONS = {
    "saturation": "Saturation per layer in forward order (train and eval); the tail is shaded.",
    "receptive_field": (
        "Receptive field (r_min, r_max) against depth, with the input size; unproductive layers "
        "are boxed, global layers drawn as triangles."
    ),
    "combined": "Receptive field, saturation and probe accuracy per layer on a shared axis.",
}

_TEXT_COLUMNS = {"layer", "type", "evidence", "tail", "metric"}


def plot_element_id(name: str) -> str:
    """The HTML id of the <img> that shows the plot ``name``."""
    return "plot-" + name.replace("_", "-")


def _table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    def cls(col: str) -> str:
        return ' class="text"' if col in _TEXT_COLUMNS else ""

    out = ['<div class="table-wrap"><table><thead><tr>']
    out += [f"<th{cls(h)}>{escape(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        row_cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{row_cls}>")
        out += [f"<td{cls(h)}>{escape(c)}</td>" for h, c in zip(header, row, strict=True)]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _plots_html(report: Report, pngs: dict[str, bytes]) -> str:
    parts = []
    for name, png in pngs.items():
        data = base64.b64encode(png).decode("ascii")
        caption = _PLOT_CAPTIONS.get(name, name)
        parts.append(
            f'<figure><img id="{escape(plot_element_id(name))}" '
            f'alt="{escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def render_html(report: Report, pngs: dict[str, bytes] | None = None) -> str:
    """Returns the whole report as one HTML document.

    Args:
        report: The report.
        pngs: Plot name → PNG bytes; None draws :func:`~delve_advisor.report.plots.report_plots`.

    Returns:
        The HTML document.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> render_html(tiny_report(), pngs={}).startswith("<!DOCTYPE html>")
        True
    """
    if pngs is None:
        pngs = report_pngs(report)
    model = report.meta.get("model")
    title = "delve-advisor report" + (f": {model}" if model else "")
    body = [f"<h1>{escape(title)}</h1>", f'<p class="headline">{escape(report.headline)}</p>']
    status_prefix = "Warning: training diverged. " if report.status == "diverged" else ""
    body.append(
        f'<p class="status status-{escape(report.status)}" id="status">'
        f"{escape(status_prefix + fmt.status_sentence(report))}</p>"
    )
    body.append(
        "<ul>"
        + "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in fmt.run_facts(report))
        + "</ul>"
    )

    body.append('<h2 id="tail">Tail</h2>')
    if report.tail:
        layers = report.layers.set_index("name")
        items = []
        for name in report.tail:
            row = layers.loc[name]
            items.append(
                f"<li><code>{escape(name)}</code>: {escape(fmt.EVIDENCE_LABELS[row['evidence']])}"
                f"; r_min {escape(fmt.fmt_rf(row['r_min']))}, "
                f"{escape(fmt.tail_saturation(row))}</li>"
            )
        body.append(
            f"<p>{len(report.tail)} layer(s) at the end of the network do no useful work at this "
            f"input size:</p><ul>{''.join(items)}</ul>"
        )
    else:
        body.append("<p>No tail: no layer is flagged at the end of the network.</p>")
    body += [f"<p>{escape(s)}</p>" for s in fmt.agreement_sentences(report)]

    body.append('<h2 id="suggestions">Suggestions</h2>')
    if not report.suggestions:
        body.append("<p>No suggestion: nothing to change at this input size.</p>")
    for s in report.suggestions:
        targets = ", ".join(f"<code>{escape(t)}</code>" for t in s.targets)
        edits = "\n".join(json.dumps(e.to_dict(), ensure_ascii=False) for e in s.edits)
        body.append(
            f'<section class="suggestion" id="suggestion-{s.rank}">'
            f"<h3>{s.rank}. {escape(s.kind)}: {targets}</h3><p>{escape(s.rationale)}</p>"
            + _table(
                ["metric", "before", "after", "change"],
                [list(r) for r in fmt.prediction_rows(s.before, s.after)],
            )
            + f"<p>Edits:</p><pre>{escape(edits)}</pre></section>"
        )

    body.append('<h2 id="plots">Plots</h2>')
    body.append(_plots_html(report, pngs) if pngs else "<p>No plot: no layer was analysed.</p>")

    body.append('<h2 id="layers">Layers</h2>')
    header, rows = fmt.layer_table(report)
    if rows:
        classes = ["tail" if t else "" for t in report.layers["in_tail"]]
        body.append(_table(header, rows, classes))
    else:
        body.append("<p>No layer was analysed.</p>")

    body.append('<h2 id="warnings">Warnings</h2>')
    warnings = report.meta.get("warnings") or []
    body.append(
        "<ul>" + "".join(f"<li>{escape(w)}</li>" for w in warnings) + "</ul>"
        if warnings
        else "<p>None.</p>"
    )
    thresholds = report.meta.get("thresholds")
    if isinstance(thresholds, dict) and thresholds:
        body.append(
            '<h2 id="thresholds">Thresholds</h2><ul>'
            + "".join(f"<li>{escape(str(k))}: {escape(str(v))}</li>" for k, v in thresholds.items())
            + "</ul>"
        )
    versions = fmt.versions_text(report)
    footer = f"Report schema {report.SCHEMA_VERSION}" + (f"; {versions}" if versions else "")
    body.append(f"<footer>{escape(footer)}</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


class HTMLReportFormat(BaseReportFormat):
    """Writes ``report.html``: one self-contained page, plots embedded as PNG.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> "<h1>delve-advisor report</h1>" in HTMLReportFormat().render(tiny_report())
        True
    """

    def render(self, report: Report) -> str:
        """Returns the report as one HTML document."""
        return render_html(report)

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes report.html; returns ``{"html": path}``."""
        path = directory / "report.html"
        path.write_text(render_html(report), encoding="utf-8")
        return {"html": path}
