"""Spectrum statistics on constructed spectra, checked by hand and against numpy float64."""

import math

import numpy as np
import pytest

from delve_advisor.exceptions import InvalidArgumentError
from delve_advisor.saturation import compute_spectrum, intrinsic_dimension, saturation


@pytest.mark.parametrize(
    ("eigenvalues", "expected"),
    [
        ([50.0, 40.0, 10.0], 3),
        ([60.0, 39.5, 0.5], 2),
        ([99.0, 1.0], 1),
        ([1.0] * 7, 7),
        ([0.0, 0.0, 0.0], 0),
        ([10.0, 40.0, 50.0], 3),  # order does not matter
        ([99.0, 1.0, -1e-12], 1),  # tiny negative eigenvalues are clamped
    ],
)
def test_idim_on_constructed_spectra(eigenvalues, expected):
    assert intrinsic_dimension(eigenvalues, 0.99) == expected


@pytest.mark.parametrize(
    ("eigenvalues", "expected"),
    [([50.0, 40.0, 10.0], 3), ([60.0, 39.5, 0.5], 2), ([99.0, 1.0], 1), ([1.0] * 7, 7)],
)
def test_idim_through_eigvalsh_of_a_rotated_covariance(eigenvalues, expected):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues),) * 2))
    cov = q @ np.diag(eigenvalues) @ q.T
    spectrum = compute_spectrum(cov)
    assert spectrum.idim() == expected
    assert spectrum.lsat() == expected / len(eigenvalues)


def test_dead_layer_is_idim_zero_and_saturation_zero():
    spectrum = compute_spectrum(np.zeros((4, 4)))
    assert spectrum.is_dead and spectrum.idim() == 0 and spectrum.lsat() == 0.0
    assert saturation([0.0, 0.0]) == 0.0


def test_statistics_match_numpy():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 9))
    cov = a @ a.T / 9
    spectrum = compute_spectrum(cov)
    ref = np.sort(np.linalg.eigvalsh(cov))[::-1]
    np.testing.assert_allclose(spectrum.eigenvalues, ref, rtol=1e-12)
    assert spectrum.trc() == pytest.approx(np.trace(cov), rel=1e-12)
    assert spectrum.dtrc() == pytest.approx(np.trace(cov), rel=1e-12)
    assert spectrum.det() == pytest.approx(np.linalg.det(cov), rel=1e-9)
    assert spectrum.logdet() == pytest.approx(np.linalg.slogdet(cov)[1], rel=1e-9)
    assert spectrum.idim(0.5) == int(np.searchsorted(np.cumsum(ref) / ref.sum(), 0.5) + 1)


def test_logdet_of_singular_is_minus_infinity():
    assert compute_spectrum(np.diag([1.0, 0.0])).logdet() == -math.inf


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_threshold_outside_unit_interval_is_rejected(bad):
    with pytest.raises(InvalidArgumentError, match=r"threshold \(delta\) must be in \(0, 1\]"):
        intrinsic_dimension([1.0, 2.0], bad)


def test_non_finite_covariance_is_rejected():
    with pytest.raises(InvalidArgumentError, match="NaN or infinite"):
        compute_spectrum(np.array([[np.nan, 0.0], [0.0, 1.0]]))


def test_fewer_rows_than_features_use_the_dual_and_match_numpy():
    """n < d: eigenvalues from the n x n dual equal numpy float64 eigvalsh of the d x d one."""
    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 64)) * rng.uniform(0.1, 5.0, size=64)
    x -= x.mean(axis=0)
    cov = x.T @ x / len(x)
    reference = np.clip(np.linalg.eigvalsh(cov)[::-1], 0, None)
    spectrum = compute_spectrum(torch.from_numpy(cov), rows=torch.from_numpy(x))
    np.testing.assert_allclose(spectrum.eigenvalues, reference, rtol=1e-9, atol=1e-9)
    assert (spectrum.eigenvalues[20:] == 0).all()  # rank <= n: the rest exactly 0
    assert spectrum.idim(0.99) == intrinsic_dimension(reference, 0.99)
    assert spectrum.dtrc() == pytest.approx(np.trace(cov), rel=1e-12)
    alone = compute_spectrum(None, rows=torch.from_numpy(x))  # the d x d matrix never formed
    np.testing.assert_allclose(alone.eigenvalues, reference, rtol=1e-9, atol=1e-9)
    assert alone.dtrc() == pytest.approx(np.trace(cov), rel=1e-12)


@pytest.mark.parametrize("rows", [None, (4, 3), (3, 3)])
def test_no_covariance_needs_fewer_rows_than_features(rows):
    import torch

    with pytest.raises(InvalidArgumentError, match="0 < n < d"):
        compute_spectrum(None, rows=None if rows is None else torch.zeros(rows))
    with pytest.raises(InvalidArgumentError, match="NaN or infinite"):
        compute_spectrum(None, rows=torch.tensor([[0.0, float("nan")]]))


def test_rows_of_another_width_are_an_error():
    import torch

    with pytest.raises(InvalidArgumentError, match=r"rows must be \(n, 3\)"):
        compute_spectrum(torch.eye(3), rows=torch.zeros(2, 4))
