"""Report writers: a registry from format name to writer class, and the built-in formats.

Built-ins: ``"json"`` (report.json, the canonical form), ``"markdown"`` (report.md), ``"html"``
(report.html, self-contained) and ``"plots"`` (one PNG per plot). Register your own with
:func:`register_report_writer`; :meth:`Report.save` uses every registered writer by default.
"""

from __future__ import annotations

import abc
import contextvars
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from delve_advisor._registry import TypeRegistry
from delve_advisor.exceptions import InvalidArgumentError, UnknownNameError

if TYPE_CHECKING:
    from delve_advisor.advisor.report import Report

__all__ = [
    "BaseReportWriter",
    "HTMLReportWriter",
    "JSONReportWriter",
    "MarkdownReportWriter",
    "PlotsReportWriter",
    "get_report_writer",
    "list_report_writers",
    "register_report_writer",
    "unregister_report_writer",
    "write_report",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

W = TypeVar("W", bound=type["BaseReportWriter"])


class BaseReportWriter(abc.ABC):
    """Writes one format of a report into a directory.

    Subclasses take no constructor arguments and implement :meth:`write`.
    """

    @abc.abstractmethod
    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes the report's files into ``directory`` (which exists).

        Args:
            report: The report to write.
            directory: The output directory.

        Returns:
            Artifact name → path of each file written. Names must be unique across the writers
            used together (the built-ins use ``json``, ``markdown``, ``html``, ``plot_<name>``).
        """


# While write_report runs, plots drawn once are shared by the HTML and the plots writers.
_PNG_CACHE: contextvars.ContextVar[dict[int, dict[str, bytes]] | None] = contextvars.ContextVar(
    "delve_advisor_report_pngs", default=None
)


def _report_pngs(report: Report) -> dict[str, bytes]:
    from delve_advisor.advisor.plots import figure_to_png, plot_report, report_plots

    cache = _PNG_CACHE.get()
    if cache is not None and id(report) in cache:
        return cache[id(report)]
    pngs = {name: figure_to_png(plot_report(report, name)) for name in report_plots(report)}
    if cache is not None:
        cache[id(report)] = pngs
    return pngs


class JSONReportWriter(BaseReportWriter):
    """Writes ``report.json``, the canonical form (see ``docs/report-schema.md``)."""

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes report.json; returns ``{"json": path}``."""
        path = directory / "report.json"
        path.write_text(report.to_json() + "\n", encoding="utf-8")
        return {"json": path}


class MarkdownReportWriter(BaseReportWriter):
    """Writes ``report.md``."""

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes report.md; returns ``{"markdown": path}``."""
        path = directory / "report.md"
        path.write_text(report.to_markdown(), encoding="utf-8")
        return {"markdown": path}


class HTMLReportWriter(BaseReportWriter):
    """Writes ``report.html``: one self-contained page, plots embedded as PNG."""

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes report.html; returns ``{"html": path}``."""
        from delve_advisor.advisor._report_html import render_html

        path = directory / "report.html"
        path.write_text(render_html(report, _report_pngs(report)), encoding="utf-8")
        return {"html": path}


class PlotsReportWriter(BaseReportWriter):
    """Writes one PNG per plot that has data (``saturation.png``, ``receptive_field.png``, …)."""

    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes the PNGs; returns ``{"plot_<name>": path}`` for each."""
        out = {}
        for name, png in _report_pngs(report).items():
            path = directory / f"{name}.png"
            path.write_bytes(png)
            out[f"plot_{name}"] = path
        return out


_WRITERS: TypeRegistry[type[BaseReportWriter]] = TypeRegistry("report writer")


def register_report_writer(
    name: str, writer_cls: type[BaseReportWriter] | None = None, *, override: bool = False
) -> type[BaseReportWriter] | Callable[[W], W]:
    """Registers a report writer class under a format name.

    Used directly (``register_report_writer("csv", CSVReportWriter)``) or as a class decorator
    (``@register_report_writer("csv")``).

    Args:
        name: Format name: lower-case letters, digits, ``_`` or ``-``, starting with a letter.
        writer_cls: A subclass of :class:`BaseReportWriter`; omit it to get a decorator.
        override: Replace an existing writer of that name instead of raising.

    Returns:
        ``writer_cls``, or a decorator that registers and returns the class.

    Raises:
        InvalidArgumentError: ``name`` is malformed or ``writer_cls`` is not a writer class.
        DuplicateRegistrationError: ``name`` is taken and ``override`` is False.

    Example:
        >>> class TailWriter(BaseReportWriter):
        ...     def write(self, report, directory):
        ...         path = directory / "tail.txt"
        ...         path.write_text("\\n".join(report.tail))
        ...         return {"tail": path}
        >>> _ = register_report_writer("tail", TailWriter)
        >>> "tail" in list_report_writers()
        True
        >>> unregister_report_writer("tail")
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"a report writer name must match {_NAME.pattern} (e.g. 'csv'), got {name!r}"
        )

    def register(cls: W) -> W:
        if not (isinstance(cls, type) and issubclass(cls, BaseReportWriter)):
            raise InvalidArgumentError(
                f"report writer {name!r} must be a subclass of BaseReportWriter, got {cls!r}"
            )
        _WRITERS.register(name, cls, override=override)
        return cls

    if writer_cls is None:
        return register
    return register(writer_cls)


def unregister_report_writer(name: str) -> None:
    """Removes the writer registered under ``name`` (no error if there is none)."""
    _WRITERS.unregister(name)


def list_report_writers() -> list[str]:
    """Names of the registered report writers, in registration order."""
    return [str(key) for key in _WRITERS]


def get_report_writer(name: str) -> BaseReportWriter:
    """Returns a new instance of the writer registered under ``name``.

    Raises:
        UnknownNameError: No writer has that name; the message lists the registered ones.
    """
    cls = _WRITERS.lookup(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownNameError(
            f"no report writer called {name!r}; registered: {list_report_writers()} "
            "(see list_report_writers(); add one with register_report_writer())"
        )
    return cls()


def write_report(
    report: Report, directory: str | Path, formats: Sequence[str] | str | None = None
) -> dict[str, Path]:
    """Writes ``report`` into ``directory`` (created) with the named writers.

    Args:
        report: The report.
        directory: Output directory; created with its parents if missing.
        formats: Writer names in order (a single name is accepted); None uses every registered
            writer in registration order.

    Returns:
        Artifact name → path, merged over the writers.

    Raises:
        UnknownNameError: A format has no registered writer.
        InvalidArgumentError: A writer returned something other than a dict of paths, or two
            writers returned the same artifact name.
    """
    if formats is None:
        formats = list_report_writers()
    elif isinstance(formats, str):
        formats = [formats]
    writers = [(name, get_report_writer(name)) for name in formats]  # fail before writing
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Path] = {}
    owner: dict[str, str] = {}
    token = _PNG_CACHE.set({})
    try:
        for name, writer in writers:
            written = writer.write(report, directory)
            if not isinstance(written, dict) or not all(
                isinstance(k, str) and isinstance(v, Path) for k, v in written.items()
            ):
                raise InvalidArgumentError(
                    f"report writer {name!r} ({type(writer).__name__}) must return a dict of "
                    f"artifact name -> pathlib.Path, got {written!r}"
                )
            for key, path in written.items():
                if key in artifacts:
                    raise InvalidArgumentError(
                        f"report writers {owner[key]!r} and {name!r} both returned the "
                        f"artifact {key!r}; give each artifact a distinct name"
                    )
                artifacts[key] = path
                owner[key] = name
    finally:
        _PNG_CACHE.reset(token)
    return artifacts


register_report_writer("json", JSONReportWriter)
register_report_writer("markdown", MarkdownReportWriter)
register_report_writer("html", HTMLReportWriter)
register_report_writer("plots", PlotsReportWriter)
