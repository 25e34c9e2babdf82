"""Running covariance of a layer's activations over every recorded row."""

from __future__ import annotations

import torch

__all__ = ["CovarianceAccumulator"]

_GRAM_DTYPES = (torch.float32, torch.float64)
#: Batches whose Gram matrices are summed in the activation dtype (in place, no temporary)
#: before the sum is added to the float64 totals; reading the covariance always flushes first.
FLUSH_EVERY = 8


class CovarianceAccumulator:
    """Accumulates the population covariance of all rows seen since the last reset.

    The covariance is ``C = S/n - mu mu^T`` with ``S = sum x^T x`` and ``mu = sum x / n`` over every
    row recorded so far (not just the last batch). The running sums are kept in float64; each
    batch's Gram matrix is computed in the activation's dtype (float32 for half-precision inputs),
    summed in place over at most :data:`FLUSH_EVERY` batches, and added in float64. To avoid
    cancellation when ``|mean| >> std``, every row is shifted by a fixed vector (the first batch's
    mean) before it is accumulated; the covariance does not depend on the shift.

    Args:
        device: Where the running sums live. ``None`` keeps them on the device of the first batch.

    Example:
        >>> acc = CovarianceAccumulator()
        >>> acc.update(torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
        >>> acc.covariance().tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else None
        self.reset()

    def reset(self) -> None:
        """Forgets every row recorded so far."""
        self.num_rows = 0
        self.num_features: int | None = None
        self._shift: torch.Tensor | None = None
        self._gram: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._gram_batch: torch.Tensor | None = None  # activation dtype, up to FLUSH_EVERY
        self._sum_batch: torch.Tensor | None = None
        self._pending = 0
        # The shifted rows themselves while there are fewer of them than features: their n x n
        # dual matrix gives the spectrum far cheaper than the d x d covariance (see rows()), and
        # the d x d sums are only allocated once the rows reach d (see _start_gram).
        self._rows: list[torch.Tensor] | None = []

    def update(self, rows: torch.Tensor) -> None:
        """Adds a batch of rows to the running sums.

        Args:
            rows: Shape ``(n, d)``, or ``(..., d)`` where every leading index is a row. A
                non-contiguous view is fine: it is read once, shifted into one new buffer.

        Raises:
            ValueError: ``rows`` has fewer than 2 dimensions or its width differs from earlier
                batches.
        """
        if rows.dim() < 2:
            raise ValueError(f"expected rows x features (2-D), got shape {tuple(rows.shape)}")
        d = rows.shape[-1]
        n = rows.numel() // d if d else 0
        if n == 0:
            return
        if self.num_features is not None and d != self.num_features:
            raise ValueError(
                f"batch has {d} features but earlier batches had {self.num_features}; "
                "a tracked layer's feature count must not change between batches"
            )
        rows = rows.detach()
        if self.device is not None and rows.device != self.device:
            rows = rows.to(self.device)
        if rows.dtype not in _GRAM_DTYPES:
            rows = rows.float()
        if self._shift is None:
            self.num_features = d
            self._shift = rows.reshape(-1, d).mean(dim=0)
            self._sum = torch.zeros(d, dtype=torch.float64, device=rows.device)
            self._sum_batch = torch.zeros(d, dtype=rows.dtype, device=rows.device)
        # One pass: read the (possibly strided) rows, write them shifted into a contiguous buffer.
        shifted = torch.empty(rows.shape, dtype=rows.dtype, device=rows.device)
        torch.sub(rows, self._shift, out=shifted)
        shifted = shifted.view(n, d)
        if self._rows is not None and self.num_rows + n < d:
            self._rows.append(shifted)  # a fresh buffer: kept by reference, no copy
        else:
            if self._gram is None:
                self._start_gram(shifted.dtype, shifted.device)
            self._gram_batch.addmm_(shifted.T, shifted)
        self._sum_batch.add_(shifted.sum(dim=0))
        self.num_rows += n
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self._flush()

    def _start_gram(self, dtype: torch.dtype, device: torch.device) -> None:
        """Allocates the d x d sums once the rows reach the feature count, and folds the kept
        rows into them (the same products, deferred: a wide layer that never sees d rows never
        holds a d x d matrix)."""
        d = self.num_features
        self._gram = torch.zeros((d, d), dtype=torch.float64, device=device)
        self._gram_batch = torch.zeros((d, d), dtype=dtype, device=device)
        if self._rows:
            kept = torch.cat(self._rows)
            self._gram_batch.addmm_(kept.T, kept)
        self._rows = None

    def _flush(self) -> None:
        """Adds the batches summed in the activation dtype to the float64 totals."""
        if self._pending:
            if self._gram is not None:
                self._gram.add_(self._gram_batch)
                self._gram_batch.zero_()
            self._sum.add_(self._sum_batch)
            self._sum_batch.zero_()
            self._pending = 0

    def mean(self) -> torch.Tensor | None:
        """The float64 mean of all rows, or ``None`` when no row was recorded."""
        if self.num_rows == 0:
            return None
        self._flush()
        return self._sum / self.num_rows + self._shift.to(torch.float64)

    def covariance(self) -> torch.Tensor | None:
        """The float64 population covariance of all rows, or ``None`` when no row was recorded."""
        if self.num_rows == 0:
            return None
        self._flush()
        shifted_mean = self._sum / self.num_rows
        if self._gram is None:  # fewer rows than features so far: they are all kept
            kept = torch.cat(self._rows).to(torch.float64)
            cov = kept.T @ kept
            cov.div_(self.num_rows)
        else:
            cov = self._gram / self.num_rows
        cov.addr_(shifted_mean, shifted_mean, alpha=-1.0)  # in place: d x d is large
        return (cov + cov.T).mul_(0.5)

    def rows(self) -> torch.Tensor | None:
        """Every recorded row, centred, in float64, while fewer rows than features were seen.

        ``None`` once the row count reaches the feature count (the rows are then no longer
        kept, so this costs no memory for layers that see many rows), or before any row.
        ``rows().T @ rows() / num_rows`` is :meth:`covariance`.
        """
        if not self._rows or self.num_rows == 0:
            return None
        x = torch.cat(self._rows).to(torch.float64)
        return x - x.mean(dim=0)

    def is_finite(self) -> bool:
        """Whether every recorded value was finite (checked on the running sums, no data copy).

        The sums and the Gram matrix's diagonal are enough: a NaN or infinite value reaches the
        diagonal (its square), and ``|G_ij| <= sqrt(G_ii G_jj)`` bounds every other entry by
        finite diagonal ones. O(d), not O(d^2), for a wide layer.
        """
        if self.num_rows == 0:
            return True
        self._flush()
        if not torch.isfinite(self._sum).all():
            return False
        if self._gram is None:
            return all(bool(torch.isfinite(r).all()) for r in self._rows)
        return bool(torch.isfinite(torch.diagonal(self._gram)).all())
