"""CovarianceAccumulator against numpy float64 on the concatenated rows."""

import numpy as np
import pytest
import torch

from delve_advisor.saturation import CovarianceAccumulator
from delve_advisor.saturation.covariance import FLUSH_EVERY

# float64 activations: relative error <= 1e-6 on every eigenvalue above 1e-6 of the largest.
# float32 activations: the batch Gram matrix is formed in float32 (by design, no float64 copy of
# the activations), so the error is bounded relative to the largest eigenvalue instead.
EIG_RTOL = 1e-6
FLOAT32_ATOL_OF_LARGEST = 1e-6


def _reference(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = rows.astype(np.float64)
    cov = np.cov(rows, rowvar=False, bias=True)  # population covariance
    return cov, np.sort(np.linalg.eigvalsh(cov))[::-1]


def _check_eigs(ours: torch.Tensor, ref: np.ndarray, dtype: torch.dtype) -> None:
    eig = np.sort(np.linalg.eigvalsh(ours.numpy()))[::-1]
    big = ref > 1e-6 * ref[0]
    if dtype == torch.float64:
        np.testing.assert_allclose(eig[big], ref[big], rtol=EIG_RTOL)
    else:
        np.testing.assert_allclose(eig, ref, rtol=0, atol=FLOAT32_ATOL_OF_LARGEST * ref[0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_covariance_of_all_batches_not_just_the_last(dtype):
    gen = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=gen, dtype=dtype)
    batches = [torch.randn(n, 6, generator=gen, dtype=dtype) @ mixing for n in (7, 64, 1, 33)]
    acc = CovarianceAccumulator()
    for b in batches:
        acc.update(b)
    rows = torch.cat(batches).numpy()
    cov, eig = _reference(rows)
    assert acc.num_rows == 105
    np.testing.assert_allclose(acc.covariance().numpy(), cov, rtol=0, atol=1e-6 * eig[0])
    np.testing.assert_allclose(acc.mean().numpy(), rows.astype(np.float64).mean(0), atol=1e-6)
    _check_eigs(acc.covariance(), eig, dtype)
    last_only = np.cov(batches[-1].numpy().astype(np.float64), rowvar=False, bias=True)
    assert not np.allclose(acc.covariance().numpy(), last_only, rtol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mean_a_thousand_times_the_spread_keeps_precision(dtype):
    gen = torch.Generator().manual_seed(1)
    mixing = torch.eye(5) + 0.3 * torch.randn(5, 5, generator=gen)
    batches = [
        (1000.0 + torch.randn(n, 5, generator=gen, dtype=torch.float64) @ mixing.double()).to(dtype)
        for n in (50, 80, 30)
    ]
    acc = CovarianceAccumulator()
    for b in batches:
        acc.update(b)
    cov, eig = _reference(torch.cat(batches).numpy())
    _check_eigs(acc.covariance(), eig, dtype)
    # The naive formula S/n - mu mu^T loses everything at this offset: the guard matters.
    rows = torch.cat(batches).float()
    naive = (rows.T @ rows) / rows.shape[0] - torch.outer(rows.mean(0), rows.mean(0))
    assert (
        np.abs(naive.double().numpy() - cov).max()
        > 100 * np.abs(acc.covariance().numpy() - cov).max()
    )


def test_no_rows_is_no_data_not_division_by_zero():
    acc = CovarianceAccumulator()
    assert acc.covariance() is None and acc.mean() is None
    acc.update(torch.zeros(0, 3))
    assert acc.covariance() is None and acc.num_rows == 0


def test_reset_forgets_rows():
    acc = CovarianceAccumulator()
    acc.update(torch.randn(10, 3))
    acc.reset()
    acc.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(acc.covariance().numpy(), [[1.0, 1.0], [1.0, 1.0]])


def test_half_precision_rows_are_accumulated_in_float64():
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(2))
    acc = CovarianceAccumulator()
    acc.update(x.half())
    assert acc.covariance().dtype == torch.float64
    cov, _ = _reference(x.half().float().numpy())
    np.testing.assert_allclose(acc.covariance().numpy(), cov, rtol=1e-5, atol=1e-7)


def test_non_finite_rows_are_flagged():
    acc = CovarianceAccumulator()
    acc.update(torch.randn(5, 3))
    assert acc.is_finite()
    acc.update(torch.tensor([[float("nan"), 0.0, 0.0]]))
    assert not acc.is_finite()


def test_width_change_is_an_error():
    acc = CovarianceAccumulator()
    acc.update(torch.randn(5, 3))
    with pytest.raises(ValueError, match="4 features but earlier batches had 3"):
        acc.update(torch.randn(5, 4))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_nineteen_batches_cross_the_flush_every_8_against_numpy(dtype):
    """19 batches: two full groups of 8 Gram matrices summed in place, then a remainder of 3."""
    assert FLUSH_EVERY == 8  # the batch counts below are chosen around it
    gen = torch.Generator().manual_seed(1)
    mixing = torch.randn(5, 5, generator=gen, dtype=dtype)
    shift = torch.tensor([3.0, -2.0, 0.5, 10.0, 0.0], dtype=dtype)
    batches = [
        torch.randn(int(n), 5, generator=gen, dtype=dtype) @ mixing + shift
        for n in torch.randint(1, 40, (19,), generator=gen)
    ]
    acc = CovarianceAccumulator()
    for i, batch in enumerate(batches, start=1):
        acc.update(batch)
        if i in (17, 19):  # 16 batches in two full groups first, then reads (which flush)
            rows = torch.cat(batches[:i]).numpy()
            cov, eig = _reference(rows)
            assert acc.num_rows == len(rows)
            np.testing.assert_allclose(acc.covariance().numpy(), cov, rtol=0, atol=1e-6 * eig[0])
            np.testing.assert_allclose(
                acc.mean().numpy(), rows.astype(np.float64).mean(0), rtol=0, atol=1e-5
            )
            _check_eigs(acc.covariance(), eig, dtype)


def test_rows_are_kept_only_while_fewer_than_features():
    """rows() gives the centred rows (their covariance is covariance()) until n reaches d."""
    rng = np.random.default_rng(1)
    batches = [rng.normal(3.0, 2.0, size=(5, 16)).astype(np.float32) for _ in range(4)]
    acc = CovarianceAccumulator()
    acc.update(torch.from_numpy(batches[0]))
    acc.update(torch.from_numpy(batches[1]))
    rows = acc.rows()
    x = np.concatenate(batches[:2]).astype(np.float64)
    np.testing.assert_allclose(rows.numpy(), x - x.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(
        (rows.T @ rows / 10).numpy(), acc.covariance().numpy(), rtol=1e-5, atol=1e-5
    )
    acc.update(torch.from_numpy(batches[2]))
    acc.update(torch.from_numpy(batches[3]))  # 20 rows >= 16 features: no longer kept
    assert acc.rows() is None
    acc.reset()
    assert acc.rows() is None
    acc.update(torch.from_numpy(batches[0]))
    assert acc.rows().shape == (5, 16)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_wide_layer_holds_no_d_by_d_sums_until_its_rows_reach_d(dtype):
    """Before n reaches d the covariance comes from the kept rows; the rows are then folded into
    the sums: numpy float64 on the concatenated rows agrees on both sides of that point."""
    gen = torch.Generator().manual_seed(3)
    d = 24
    mixing = torch.randn(d, d, generator=gen, dtype=dtype)
    batches = [torch.randn(5, d, generator=gen, dtype=dtype) @ mixing + 7.0 for _ in range(12)]
    acc = CovarianceAccumulator()
    for i, batch in enumerate(batches, start=1):
        acc.update(batch)
        assert (acc._gram is None) == (5 * i < d)  # no d x d matrix while 5 i < 24
        if i in (2, 4, 5, 12):  # kept rows twice, the fold at 25 rows, then sums only
            rows = torch.cat(batches[:i]).numpy()
            cov, eig = _reference(rows)
            np.testing.assert_allclose(acc.covariance().numpy(), cov, rtol=0, atol=1e-5 * eig[0])
            _check_eigs(acc.covariance(), eig, dtype)
            assert acc.is_finite()


@pytest.mark.parametrize("rows_before", [2, 30])  # rows kept / sums started
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_value_is_flagged_from_the_kept_rows_and_from_the_sums(rows_before, bad):
    acc = CovarianceAccumulator()
    acc.update(torch.randn(rows_before, 8, generator=torch.Generator().manual_seed(4)))
    row = torch.zeros(1, 8)
    row[0, 5] = bad
    acc.update(row)
    assert not acc.is_finite()
    assert not bool(torch.isfinite(acc.covariance()).all())  # what the check stands for
