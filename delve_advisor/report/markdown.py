"""The ``"markdown"`` report format: the report as Markdown (GitHub-flavoured tables)."""

from __future__ import annotations

import json
from pathlib import Path

from delve_advisor.report import _text as fmt
from delve_advisor.report.formats import BaseReportFormat
from delve_advisor.report.report import Report

__all__ = ["MarkdownReportFormat", "render_markdown"]


def _cell(text: str) -> str:
    """Escapes a table cell: pipes and backslashes, newlines folded."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def render_markdown(report: Report) -> str:
    """Returns the whole report as one Markdown document.

    Args:
        report: The report.

    Returns:
        Headline, status, tail, suggestions, layers, warnings and thresholds, as Markdown.

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> render_markdown(tiny_report()).splitlines()[0]
        '# delve-advisor report'
    """
    model = report.meta.get("model")
    title = f"# delve-advisor report: {model}" if model else "# delve-advisor report"
    lines = [title, "", f"**{report.headline}**", ""]
    if report.status == "diverged":
        lines += [f"> **Warning: training diverged.** {fmt.status_sentence(report)}", ""]
    else:
        lines += [fmt.status_sentence(report), ""]
    lines += [f"- {k}: {v}" for k, v in fmt.run_facts(report)]
    lines.append("")

    lines += ["## Tail", ""]
    if report.tail:
        layers = report.layers.set_index("name")
        lines.append(
            f"{len(report.tail)} layer(s) at the end of the network do no useful work at this "
            "input size:"
        )
        lines.append("")
        for name in report.tail:
            row = layers.loc[name]
            evidence = fmt.EVIDENCE_LABELS[row["evidence"]]
            lines.append(
                f"- {_code(name)}: {evidence}; r_min {fmt.fmt_rf(row['r_min'])}, "
                f"{fmt.tail_saturation(row)}"
            )
    else:
        lines.append("No tail: no layer is flagged at the end of the network.")
    lines.append("")
    lines += [f"- {sentence}" for sentence in fmt.agreement_sentences(report)]
    lines.append("")

    lines += ["## Suggestions", ""]
    if not report.suggestions:
        lines += ["No suggestion: nothing to change at this input size.", ""]
    for s in report.suggestions:
        targets = ", ".join(_code(t) for t in s.targets)
        lines += [f"### {s.rank}. {s.kind}: {targets}", "", s.rationale, ""]
        lines += _table(
            ["metric", "before", "after", "change"],
            [list(r) for r in fmt.prediction_rows(s.before, s.after)],
        )
        lines += ["", "Edits:", "", "```json"]
        lines += [json.dumps(e.to_dict(), ensure_ascii=False) for e in s.edits]
        lines += ["```", ""]

    lines += ["## Layers", ""]
    header, rows = fmt.layer_table(report)
    if rows:
        lines += _table(header, rows)
    else:
        lines.append("No layer was analysed.")
    lines.append("")

    lines += ["## Warnings", ""]
    warnings = report.meta.get("warnings") or []
    lines += [f"- {w}" for w in warnings] if warnings else ["None."]
    lines.append("")

    thresholds = report.meta.get("thresholds")
    if isinstance(thresholds, dict) and thresholds:
        lines += ["## Thresholds", ""]
        lines += [f"- {k}: {v}" for k, v in thresholds.items()]
        lines.append("")
    versions = fmt.versions_text(report)
    footer = f"Report schema {report.SCHEMA_VERSION}" + (f"; {versions}" if versions else "")
    lines += ["---", "", f"_{footer}._", ""]
    return "\n".join(lines)


class MarkdownReportFormat(BaseReportFormat):
    """Writes ``report.md`` (see :func:`render_markdown`).

    Example:
        >>> from delve_advisor.testing import tiny_report
        >>> MarkdownReportFormat().render(tiny_report()).startswith("# delve-advisor report")
        True
    """

    def render(self, report: Report) -> str:
        """Returns the report as Markdown."""
        return render_markdown(report)

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes report.md; returns ``{"markdown": path}``."""
        path = directory / "report.md"
        path.write_text(render_markdown(report), encoding="utf-8")
        return {"markdown": path}
