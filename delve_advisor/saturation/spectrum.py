"""Eigen-spectrum of a covariance matrix and every statistic derived from it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from delve_advisor.exceptions import InvalidArgumentError

__all__ = [
    "STAT_NAMES",
    "Spectrum",
    "compute_spectrum",
    "intrinsic_dimension",
    "saturation",
]

#: Statistic name -> the name delve 0.1.50 uses in its CSV columns.
STAT_NAMES: dict[str, str] = {
    "idim": "intrinsic-dimensionality",
    "lsat": "saturation",
    "cov": "covariance-matrix",
    "det": "covariance-determinant",
    "logdet": "covariance-log-determinant",
    "trc": "covariance-trace",
    "dtrc": "diagonal-trace",
    "embed": "embedded-sample",
}

# Relative slack on the cumulative-variance comparison so that spectra built to hit the threshold
# exactly (99 / 1 at delta 0.99) are not pushed one dimension up by rounding in the eigensolver.
_RELATIVE_SLACK = 1e-10


def _check_threshold(threshold: float) -> None:
    if not (0.0 < threshold <= 1.0) or math.isnan(threshold):
        raise InvalidArgumentError(f"threshold (delta) must be in (0, 1], got {threshold!r}")


def intrinsic_dimension(eigenvalues: np.ndarray | torch.Tensor, threshold: float = 0.99) -> int:
    """Returns the smallest k in [1, d] whose top k eigenvalues explain ``threshold`` of variance.

    Args:
        eigenvalues: Eigenvalues of a covariance matrix, in any order; negative values count as 0.
        threshold: The share of variance to explain (delta), in (0, 1].

    Returns:
        k, or 0 when the total variance is 0 (a dead layer).

    Raises:
        InvalidArgumentError: ``threshold`` is outside (0, 1].

    Example:
        >>> intrinsic_dimension([60.0, 39.5, 0.5])
        2
    """
    _check_threshold(threshold)
    values = np.clip(np.asarray(eigenvalues, dtype=np.float64).ravel(), 0.0, None)
    values = np.sort(values)[::-1]
    total = float(values.sum())
    if values.size == 0 or total <= 0.0 or not math.isfinite(total):
        return 0
    cumulative = np.cumsum(values)
    target = threshold * total * (1.0 - _RELATIVE_SLACK)
    k = int(np.searchsorted(cumulative, target, side="left")) + 1
    return min(k, values.size)


def saturation(eigenvalues: np.ndarray | torch.Tensor, threshold: float = 0.99) -> float:
    """Returns intrinsic dimension / feature count (0 for a dead layer).

    Example:
        >>> saturation([50.0, 40.0, 10.0, 0.0])
        0.75
    """
    values = np.asarray(eigenvalues).ravel()
    if values.size == 0:
        return 0.0
    return intrinsic_dimension(values, threshold) / values.size


@dataclass(frozen=True)
class Spectrum:
    """The eigenvalues of one layer's covariance, sorted descending and clamped at 0.

    Every statistic is derived from this one decomposition.

    Attributes:
        eigenvalues: float64 eigenvalues, descending, negatives clamped to 0.
        diagonal_trace: Sum of the covariance's diagonal (before any clamping).

    Example:
        >>> spectrum = compute_spectrum(torch.diag(torch.tensor([4.0, 1.0, 0.0])))
        >>> spectrum.eigenvalues.tolist(), spectrum.idim(0.8), spectrum.lsat(0.8)
        ([4.0, 1.0, 0.0], 1, 0.3333333333333333)
    """

    eigenvalues: np.ndarray
    diagonal_trace: float

    @property
    def num_features(self) -> int:
        """The feature-space dimension d."""
        return int(self.eigenvalues.size)

    @property
    def is_dead(self) -> bool:
        """True when the layer has no variance at all (every activation constant)."""
        return not float(self.eigenvalues.sum()) > 0.0

    def idim(self, threshold: float = 0.99) -> int:
        """Intrinsic dimension at ``threshold`` (0 when dead)."""
        return intrinsic_dimension(self.eigenvalues, threshold)

    def lsat(self, threshold: float = 0.99) -> float:
        """Layer saturation: idim / d (0 when dead)."""
        return self.idim(threshold) / self.num_features

    def trc(self) -> float:
        """Total variance: the sum of the (clamped) eigenvalues."""
        return float(self.eigenvalues.sum())

    def dtrc(self) -> float:
        """Trace of the covariance's diagonal."""
        return self.diagonal_trace

    def logdet(self) -> float:
        """Natural log of the determinant (``-inf`` when any eigenvalue is 0)."""
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(self.eigenvalues)))

    def det(self) -> float:
        """The generalised variance, the product of the eigenvalues (underflows; see logdet)."""
        return float(np.prod(self.eigenvalues))


def compute_spectrum(
    covariance: torch.Tensor | np.ndarray | None, *, rows: torch.Tensor | None = None
) -> Spectrum:
    """Computes the spectrum of a symmetric covariance matrix with one ``eigvalsh`` call.

    When the covariance comes from fewer rows than features (``n < d``: a wide linear layer seen
    on a few batches), pass those rows centred: the eigenvalues are then those of the ``n x n``
    dual matrix ``X X^T / n``, which has the same non-zero eigenvalues as ``X^T X / n`` and the
    other ``d - n`` exactly 0, at ``(n/d)^3`` of the cost (a 4096-wide layer seen on 256 rows:
    milliseconds instead of seconds). With such rows the covariance itself may be ``None``: it
    is then never formed.

    Args:
        covariance: A symmetric ``(d, d)`` matrix; it should be finite. ``None`` when ``rows``
            (with ``n < d``) are given.
        rows: Optional ``(n, d)`` centred rows whose population covariance is ``covariance``;
            used only when ``n < d``.

    Returns:
        The spectrum in float64.

    Raises:
        InvalidArgumentError: The matrix is not square or not finite, ``rows`` has another
            width or is not finite, or neither a matrix nor fewer rows than features is given.

    Example:
        >>> compute_spectrum(torch.eye(2)).eigenvalues.tolist()
        [1.0, 1.0]
        >>> x = torch.tensor([[1.0, 0.0, 2.0], [-1.0, 0.0, -2.0]], dtype=torch.float64)
        >>> cov = x.T @ x / 2  # two centred rows, three features: rank 1
        >>> compute_spectrum(cov, rows=x).eigenvalues.tolist()
        [5.0, 0.0, 0.0]
        >>> compute_spectrum(None, rows=x).eigenvalues.tolist()
        [5.0, 0.0, 0.0]
    """
    if covariance is None:
        if rows is None or rows.dim() != 2 or not 0 < rows.shape[0] < rows.shape[1]:
            shape = None if rows is None else tuple(rows.shape)
            raise InvalidArgumentError(
                "compute_spectrum needs a covariance matrix, or centred rows (n, d) with "
                f"0 < n < d in its place; got rows of shape {shape}"
            )
        x = rows.to(torch.float64)
        if not bool(torch.isfinite(x).all()):
            raise InvalidArgumentError("rows contain NaN or infinite values")
        return _dual_spectrum(x, float(x.square().sum()) / x.shape[0])
    cov = torch.as_tensor(covariance, dtype=torch.float64)
    if cov.dim() != 2 or cov.shape[0] != cov.shape[1]:
        raise InvalidArgumentError(
            f"covariance must be a square matrix, got shape {tuple(cov.shape)}"
        )
    if not bool(torch.isfinite(cov).all()):
        raise InvalidArgumentError("covariance contains NaN or infinite values")
    d = cov.shape[0]
    if rows is not None and (rows.dim() != 2 or rows.shape[1] != d):
        raise InvalidArgumentError(
            f"rows must be (n, {d}) for a {d} x {d} covariance, got shape {tuple(rows.shape)}"
        )
    trace = float(torch.diagonal(cov).sum())
    if rows is not None and 0 < rows.shape[0] < d:
        return _dual_spectrum(rows.to(device=cov.device, dtype=torch.float64), trace)
    eigenvalues = torch.linalg.eigvalsh(cov).flip(0).clamp_(min=0.0)
    return Spectrum(eigenvalues=eigenvalues.cpu().numpy(), diagonal_trace=trace)


def _dual_spectrum(x: torch.Tensor, trace: float) -> Spectrum:
    """The spectrum of ``x^T x / n`` from the ``n x n`` dual matrix (``n < d``)."""
    dual = torch.linalg.eigvalsh(x @ x.T / x.shape[0]).flip(0).clamp_(min=0.0)
    eigenvalues = torch.cat([dual, dual.new_zeros(x.shape[1] - dual.numel())])
    return Spectrum(eigenvalues=eigenvalues.cpu().numpy(), diagonal_trace=trace)
