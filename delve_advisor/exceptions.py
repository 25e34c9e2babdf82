"""Exceptions raised by delve-advisor.

Every library exception derives from :class:`DelveAdvisorError` and also from the matching
built-in (``ValueError``, ``TypeError``, ``RuntimeError``), so callers may catch either.
"""

from __future__ import annotations

__all__ = [
    "DelveAdvisorError",
    "DuplicateRegistrationError",
    "EditError",
    "GraphCaptureError",
    "InputSizeError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "NonFiniteActivationWarning",
    "RecipeError",
    "ReportFormatError",
    "SpecError",
    "StorageError",
    "TrialFailedError",
    "UnknownNameError",
    "UnsupportedLayerError",
]


class DelveAdvisorError(Exception):
    """Root of every exception raised by delve-advisor.

    Example:
        >>> from delve_advisor.exceptions import UnknownNameError
        >>> issubclass(UnknownNameError, DelveAdvisorError)
        True
        >>> issubclass(UnknownNameError, ValueError)  # and the matching built-in
        True
    """


class InvalidArgumentError(DelveAdvisorError, ValueError):
    """An argument is outside the values a function accepts."""


class UnknownNameError(InvalidArgumentError):
    """A name (statistic, method, module path, writer, model) is not one of the valid names."""


class UnsupportedLayerError(DelveAdvisorError, TypeError):
    """A module cannot be tracked or analysed; the message lists the supported types."""


class DuplicateRegistrationError(DelveAdvisorError, ValueError):
    """A registry already holds an entry for this key; pass ``override=True`` to replace it."""


class GraphCaptureError(DelveAdvisorError, RuntimeError):
    """No capture method could record the model's dataflow graph."""


class InputSizeError(DelveAdvisorError, ValueError):
    """The input size does not fit the model (too small, wrong channels, wrong rank)."""


class SpecError(DelveAdvisorError, ValueError):
    """A model or data specification string is malformed or names nothing known."""


class EditError(DelveAdvisorError, RuntimeError):
    """An edit cannot be applied safely to a model."""


class NonFiniteActivationWarning(UserWarning):
    """A tracked layer produced NaN or infinite activations; its statistics become NaN."""


class ReportFormatError(DelveAdvisorError, ValueError):
    """A report document (JSON) does not match the report schema or its schema version."""


class MissingDependencyError(DelveAdvisorError, ImportError):
    """An optional dependency needed by this function is not installed; the message says which."""


class RecipeError(DelveAdvisorError, ValueError):
    """A search recipe (YAML) is malformed; the message names the key path and the form wanted."""


class StorageError(DelveAdvisorError, RuntimeError):
    """An Optuna storage cannot be opened or reached; the message names the URL."""


class TrialFailedError(DelveAdvisorError, RuntimeError):
    """A search trial could not finish (edit failed, loss diverged, out of memory)."""
