"""Which forward-pass failures mean "the input does not fit", and naming the module otherwise.

A forward pass at a trial input size fails in expected ways when the size is wrong: a feature
map vanishes ("Kernel size can't be greater than actual input size"), shapes stop matching
("mat1 and mat2 shapes cannot be multiplied"), a model asserts its input size. Those become an
:class:`~delve_advisor.exceptions.InputSizeError` that tells the user to change ``input_size``.
Anything else (out of memory, a dtype bug, a ``TypeError`` in the user's forward) is not the
input size's fault: it is re-raised as it is, with a note naming the module that raised it.
"""

from __future__ import annotations

import contextlib
import re

import torch

__all__ = ["SIZE_ERROR_TYPES", "is_input_size_error", "name_failing_module", "names_module"]

#: The exception types a forward pass raises when the input size does not fit the model.
SIZE_ERROR_TYPES: tuple[type[BaseException], ...] = (
    RuntimeError,
    ValueError,
    IndexError,
    AssertionError,
)

# RuntimeErrors that are about dtypes or devices, not sizes.
_NOT_SIZE = re.compile(
    r"dtype|scalar type|type \(\w+\) and \w+ type|should be the same|same device|"
    r"on different devices|expected (?:all tensors|device)",
    re.IGNORECASE,
)

_MODULE_ATTR = "_delve_advisor_failing_module"


def is_input_size_error(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a forward pass, means the input size does not fit.

    Example:
        >>> is_input_size_error(RuntimeError("Kernel size can't be greater than actual input"))
        True
        >>> is_input_size_error(RuntimeError("expected scalar type Float but found Double"))
        False
        >>> is_input_size_error(TypeError("forward() missing 1 required argument"))
        False
    """
    if not isinstance(exc, SIZE_ERROR_TYPES):
        return False
    if isinstance(exc, torch.OutOfMemoryError):
        return False
    return not (isinstance(exc, RuntimeError) and _NOT_SIZE.search(str(exc)))


def name_failing_module(exc: BaseException, module: str, during: str) -> BaseException:
    """Adds a note to ``exc`` naming the module that raised it (once); returns ``exc``.

    Args:
        exc: The exception the forward pass raised.
        module: The module path (or graph node) that was running.
        during: What was running, for the note ("graph capture").

    Returns:
        The same exception object, to ``raise`` again.
    """
    if getattr(exc, _MODULE_ATTR, None) is None:
        with contextlib.suppress(AttributeError):  # __slots__ exceptions: the note says it
            setattr(exc, _MODULE_ATTR, module)
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"delve-advisor: raised by module '{module}' during {during}")
    return exc


def names_module(exc: BaseException) -> str | None:
    """The module :func:`name_failing_module` recorded on ``exc``, or None."""
    return getattr(exc, _MODULE_ATTR, None)
