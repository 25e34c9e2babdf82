"""Report formats: the registry from format name to format class, and :func:`write_report`.

A report format writes one form of a report into a directory; text formats can also
:meth:`~BaseReportFormat.render` it to a string. The built-ins live in their own modules above
the report model and register themselves when :mod:`delve_advisor.report` is imported:
``"json"`` (report.json, the canonical form, :mod:`~delve_advisor.report.json_format`),
``"markdown"`` (report.md, :mod:`~delve_advisor.report.markdown`), ``"html"`` (report.html,
self-contained, :mod:`~delve_advisor.report.html`) and ``"plots"`` (one PNG per plot,
:mod:`~delve_advisor.report.plots`). Register your own with :func:`register_report_format`;
:meth:`Report.save` uses every registered format by default.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from delve_advisor._registry import TypeRegistry, register_or_decorate
from delve_advisor.exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from delve_advisor.report.report import Report

__all__ = [
    "BaseReportFormat",
    "get_report_format",
    "list_report_formats",
    "register_report_format",
    "unregister_report_format",
    "write_report",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

F = TypeVar("F", bound=type["BaseReportFormat"])


class BaseReportFormat(abc.ABC):
    """Writes one format of a report into a directory.

    Subclasses take no constructor arguments and implement :meth:`write`; text formats also
    implement :meth:`render`.

    Example:
        >>> class TailFormat(BaseReportFormat):
        ...     def render(self, report):
        ...         return "\\n".join(report.tail)
        ...     def write(self, report, directory):
        ...         path = directory / "tail.txt"
        ...         path.write_text(self.render(report))
        ...         return {"tail": path}
        >>> TailFormat().render(type("R", (), {"tail": ("a", "b")})())
        'a\\nb'
    """

    @abc.abstractmethod
    def write(self, report: Report, directory: Path) -> dict[str, Path]:
        """Writes the report's files into ``directory`` (which exists).

        Args:
            report: The report to write.
            directory: The output directory.

        Returns:
            Artifact name → path of each file written. Names must be unique across the formats
            used together (the built-ins use ``json``, ``markdown``, ``html``, ``plot_<name>``).
        """

    def render(self, report: Report) -> str:
        """Returns the report as text in this format.

        Raises:
            InvalidArgumentError: The format writes files only (such as ``"plots"``).
        """
        raise InvalidArgumentError(
            f"report format {type(self).__name__} writes files only and cannot render text; "
            "use Report.save(directory, formats=[...]) instead"
        )


_FORMATS: TypeRegistry[type[BaseReportFormat]] = TypeRegistry(
    "report format", list_hint="list_report_formats()"
)


def _check_format(name: str) -> Callable[[Any], type[BaseReportFormat]]:
    def check(cls: Any) -> type[BaseReportFormat]:
        if not (isinstance(cls, type) and issubclass(cls, BaseReportFormat)):
            raise InvalidArgumentError(
                f"report format {name!r} must be a subclass of BaseReportFormat, got {cls!r}"
            )
        return cls

    return check


def register_report_format(
    name: str, format_cls: type[BaseReportFormat] | None = None, *, override: bool = False
) -> Any:
    """Registers a report format class under a format name.

    Used directly (``register_report_format("csv", CSVReportFormat)``) or as a class decorator
    (``@register_report_format("csv")``).

    Args:
        name: Format name: lower-case letters, digits, ``_`` or ``-``, starting with a letter.
        format_cls: A subclass of :class:`BaseReportFormat`; omit it to get a decorator.
        override: Replace an existing format of that name instead of raising.

    Returns:
        ``format_cls``, or a decorator that registers and returns the class.

    Raises:
        InvalidArgumentError: ``name`` is malformed or ``format_cls`` is not a format class.
        DuplicateRegistrationError: ``name`` is taken and ``override`` is False.

    Example:
        >>> @register_report_format("tail")
        ... class TailFormat(BaseReportFormat):
        ...     def write(self, report, directory):
        ...         path = directory / "tail.txt"
        ...         path.write_text("\\n".join(report.tail))
        ...         return {"tail": path}
        >>> "tail" in list_report_formats()
        True
        >>> unregister_report_format("tail")
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"a report format name must match {_NAME.pattern} (e.g. 'csv'), got {name!r}"
        )
    return register_or_decorate(
        _FORMATS, name, format_cls, override=override, check=_check_format(name)
    )


def unregister_report_format(name: str) -> None:
    """Removes the format registered under ``name``.

    Args:
        name: The format name.

    Raises:
        UnknownNameError: No format has that name; the message lists the registered ones.

    Example:
        >>> register_report_format("tmp", get_report_format("json").__class__)
        <class 'delve_advisor.report.json_format.JSONReportFormat'>
        >>> unregister_report_format("tmp")
    """
    _FORMATS.unregister(name)


def list_report_formats() -> list[str]:
    """Names of the registered report formats, in registration order.

    Example:
        >>> list_report_formats()[:4]
        ['json', 'markdown', 'html', 'plots']
    """
    return [str(key) for key in _FORMATS]


def get_report_format(name: str) -> BaseReportFormat:
    """Returns a new instance of the format registered under ``name``.

    Args:
        name: The format name.

    Returns:
        The format object.

    Raises:
        UnknownNameError: No format has that name; the message lists the registered ones.

    Example:
        >>> type(get_report_format("markdown")).__name__
        'MarkdownReportFormat'
    """
    return _FORMATS.get(name)()


def write_report(
    report: Report, directory: str | Path, formats: Sequence[str] | str | None = None
) -> dict[str, Path]:
    """Writes ``report`` into ``directory`` (created) with the named formats.

    Args:
        report: The report.
        directory: Output directory; created with its parents if missing.
        formats: Format names in order (a single name is accepted); None uses every registered
            format in registration order.

    Returns:
        Artifact name → path, merged over the formats.

    Raises:
        UnknownNameError: A format is not registered.
        InvalidArgumentError: A format returned something other than a dict of paths, or two
            formats returned the same artifact name.

    Example:
        >>> import tempfile
        >>> from delve_advisor.testing import tiny_report
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     sorted(write_report(tiny_report(), tmp, formats=["json", "markdown"]))
        ['json', 'markdown']
    """
    if formats is None:
        formats = list_report_formats()
    elif isinstance(formats, str):
        formats = [formats]
    chosen = [(name, get_report_format(name)) for name in formats]  # fail before writing
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Path] = {}
    owner: dict[str, str] = {}
    for name, fmt in chosen:
        written = fmt.write(report, directory)
        if not isinstance(written, dict) or not all(
            isinstance(k, str) and isinstance(v, Path) for k, v in written.items()
        ):
            raise InvalidArgumentError(
                f"report format {name!r} ({type(fmt).__name__}) must return a dict of "
                f"artifact name -> pathlib.Path, got {written!r}"
            )
        for key, path in written.items():
            if key in artifacts:
                raise InvalidArgumentError(
                    f"report formats {owner[key]!r} and {name!r} both returned the "
                    f"artifact {key!r}; give each artifact a distinct name"
                )
            artifacts[key] = path
            owner[key] = name
    return artifacts
