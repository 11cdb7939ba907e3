"""Metrics of jaxgan.evaluation against closed forms and hand-checked cases."""

import numpy as np
import pytest
import scipy.linalg

from jaxgan import evaluation
from jaxgan.evaluation import toy

# These metrics run in float64 NumPy/SciPy (unit roundoff u = 2**-53 = 1.1e-16).
# Closed forms of a few dozen float64 operations on values of size <= 100 are
# off by at most ~100 u relative (1e-14), so pytest.approx's default rel=1e-6
# and assert_allclose's default rtol=1e-7 are used for them: far above that,
# and far below a real bug (a missing term or wrong constant moves them > 1%).
_U64 = 2.0 ** -53

# ------------------------------------------------------------------------ FID


def _random_spd(rng, d, scale=1.0):
  a = rng.normal(size=(d, d))
  return scale * (a @ a.T / d + 0.1 * np.eye(d))


def test_fid_of_a_set_with_itself_is_zero():
  # float64 eigh/eigvalsh are backward stable: each eigenvalue of
  # S^1/2 S S^1/2 = S^2 comes out within d u ||S||^2 (d = 64), so each of the d
  # square roots within d u ||S||^2 / (2 lambda_min(S)); FID subtracts 2 x
  # their sum (the traces and ||mu1 - mu2|| = 0 add ~1e-13): 3e-11 here.
  x = np.random.default_rng(0).normal(size=(500, 64)) * 3 + 1
  eig = np.linalg.eigvalsh(np.cov(x.T))
  bound = 64 * 64 * _U64 * eig[-1] ** 2 / eig[0]
  assert abs(evaluation.fid_from_features(x, x)) < bound
  # ...also when N < D and the covariance (rank 19) is singular: its 64 - 19
  # zero eigenvalues come out as +-d u ||S||^2 in S^1/2 S S^1/2, and their
  # square roots, sqrt(d u) ||S|| each, add up in the trace of the square
  # root: 5e-5 here, 8e-7 of the trace of S (one machine showed 2.5e-6).
  y = np.random.default_rng(1).normal(size=(20, 64))
  bound = 2 * (64 - 19) * np.sqrt(64 * _U64) * np.linalg.norm(np.cov(y.T), 2)
  assert abs(evaluation.fid_from_features(y, y)) < bound


def test_frechet_distance_hand_checked_diagonal_case():
  # Diagonal covariances commute: Tr((S1 S2)^1/2) = sum sqrt(s1 s2).
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
  expected = (1 + 0 + 4) + (1 + 4 + 9) + (4 + 1 + 1) - 2 * (2 + 2 + 3)
  # float64 eigendecompositions of 3 x 3 matrices with entries <= 81: their
  # eigenvalues within d u 81 = 2.7e-14, the roots (>= 2) within 7e-15 each;
  # with the sums of terms <= 14, ~5e-14 in all. abs=1e-12 is 20 times that.
  assert evaluation.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == (
      pytest.approx(expected, abs=1e-12))


def test_frechet_distance_matches_closed_form_with_scipy_sqrtm():
  rng = np.random.default_rng(0)
  d = 16
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d, 3.0)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  closed = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * covmean)
  # A different algorithm (Schur sqrtm of S1 S2) against ours (eigh): in
  # float64 each root is off by <= d u ||S1|| ||S2|| / (2 sqrt(lambda_min)),
  # with d = 16, ||S1|| ||S2|| <= 44, lambda_min(S1 S2) >= 0.033: 2e-13 each,
  # 7e-12 for 2 x 16 of them, 2e-13 of the FID (36; one machine: 2e-15).
  # rel=1e-10 leaves room for sqrtm's own error (same order); a wrong term
  # (no factor 2, a mean term dropped) moves the FID by > 10%.
  assert evaluation.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
      closed, rel=1e-10)


def test_fid_of_gaussian_samples_converges_to_the_closed_form():
  rng = np.random.default_rng(1)
  d, n = 4, 200_000
  mu1, mu2 = np.zeros(d), np.full(d, 0.5)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d, 2.0)
  x = rng.multivariate_normal(mu1, s1, n)
  y = rng.multivariate_normal(mu2, s2, n)
  closed = (mu1 - mu2) @ (mu1 - mu2) + np.trace(
      s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
  # Sampling error, not rounding: 40 redraws of the 2 x 200,000 samples give a
  # relative standard deviation of 0.25% (the bias is O(d / n), smaller), so
  # rel=0.02 is 8 standard deviations.
  assert evaluation.fid_from_features(x, y) == pytest.approx(closed, rel=0.02)


def test_gaussian_stats_are_unbiased_like_np_cov():
  x = np.random.default_rng(0).normal(size=(10, 3))
  mu, sigma = evaluation.gaussian_stats(x)
  # float64 10-term sums: float32.sum_bound(12) * 2**-29 = 2.9e-15 of the sum
  # of |terms|, which is at most 3.3 x each entry here; the default rtol=1e-7
  # is 1e7 times that (and the first comparison is np.cov itself).
  np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))
  np.testing.assert_allclose(sigma, (x - mu).T @ (x - mu) / 9)


# ------------------------------------------------------------------------ KID


def test_kid_hand_checked_two_points():
  # m = 2, d = 1: k(a, b) = (ab + 1)^3.
  x, y = np.array([[1.0], [0.0]]), np.array([[2.0], [0.0]])
  k = lambda a, b: (a * b + 1) ** 3
  expected = (2 * k(1, 0) / 2 + 2 * k(2, 0) / 2
              - 2 * (k(1, 2) + k(1, 0) + k(0, 2) + k(0, 0)) / 4)
  kid = evaluation.kernel_inception_distance(x, y, num_subsets=3, subset_size=2)
  # Small integers, halved and quartered: exact in float64 (default approx).
  assert kid['kid'] == pytest.approx(expected)
  assert kid['kid_std'] == pytest.approx(0.0)


def test_kid_is_unbiased_on_equal_distributions():
  rng = np.random.default_rng(0)
  estimates = []
  for _ in range(200):
    x, y = rng.normal(size=(2, 50, 8))
    estimates.append(evaluation.kernel_inception_distance(
        x, y, num_subsets=1, subset_size=50, seed=int(rng.integers(1 << 30)))['kid'])
  estimates = np.array(estimates)
  stderr = estimates.std() / np.sqrt(len(estimates))
  assert abs(estimates.mean()) < 3 * stderr  # 3 standard errors of the mean
  # The unbiased estimate is negative about half the time; one that kept the
  # k(x_i, x_i) terms (a V-statistic) would always be positive.
  # (54% here; a binomial fraction of 200 has standard error 0.035, so the
  # bounds are 7 standard errors from 1/2.)
  assert 0.25 < (estimates < 0).mean() < 0.75


def test_kid_separates_different_distributions():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 8))
  y = rng.normal(size=(300, 8)) + 0.5
  kid = evaluation.kernel_inception_distance(x, y, num_subsets=10, subset_size=100)
  assert kid['kid'] > 10 * kid['kid_std'] / np.sqrt(10)  # 10 standard errors


# ------------------------------------------------------------------------- IS


def test_inception_score_extremes():
  k = 10
  confident_diverse = np.eye(k)[np.arange(100) % k] * 1e4
  assert evaluation.inception_score(confident_diverse, splits=2)['is'] == (
      pytest.approx(k))
  collapsed = np.tile(np.eye(k)[3] * 1e4, (100, 1))
  assert evaluation.inception_score(collapsed, splits=2)['is'] == pytest.approx(1.0)
  uniform = np.zeros((100, k))
  assert evaluation.inception_score(uniform, splits=5)['is'] == pytest.approx(1.0)


def test_inception_score_hand_checked_split():
  # Two samples: p1 = (1, 0), p2 = (1/2, 1/2); p(y) = (3/4, 1/4).
  logits = np.log(np.array([[1.0, 1e-30], [0.5, 0.5]]))
  kl1 = np.log(1 / 0.75)
  kl2 = 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)
  result = evaluation.inception_score(logits, splits=1)
  assert result['is'] == pytest.approx(np.exp((kl1 + kl2) / 2))
  assert result['is_std'] == 0.0


# ---------------------------------------------------- precision / recall etc.


def test_precision_recall_of_identical_sets_is_one():
  x = np.random.default_rng(0).normal(size=(200, 16))
  assert evaluation.precision_recall(x, x, k=3) == {'precision': 1.0, 'recall': 1.0}
  dc = evaluation.density_coverage(x, x, k=5)
  assert dc['coverage'] == 1.0


def test_precision_recall_hand_checked_1d():
  # Real points 0, 1, 2, 3 with k = 1: every radius is 1, manifold [-1, 4].
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  # Fake points 10, 11, 12 (k = 1 radius 1) and 3.5 (radius 1.5 to 2.0? no:
  # its nearest fake is 10, radius 6.5).
  fake = np.array([[3.5], [10.0], [11.0], [12.0]])
  out = evaluation.precision_recall(real, fake, k=1)
  assert out['precision'] == 0.25  # only 3.5 lies within the real balls
  # Real 3 is within 0.5 of 3.5 (radius 6.5); 0, 1, 2 are within 6.5 too.
  assert out['recall'] == 1.0


def test_precision_recall_detect_mode_dropping_and_outliers():
  rng = np.random.default_rng(0)
  real = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 20])
  half = rng.normal(size=(400, 2))  # only the first mode
  out = evaluation.precision_recall(real, half, k=3)
  # Not rounding: recall is about the kept mode's share of the real points
  # (1/2; 0.485 here), precision 1 less the fake points outside the real balls
  # (0.99 here); a metric that missed the dropped mode would give recall ~1.
  assert out['precision'] > 0.9 and 0.4 < out['recall'] < 0.6
  far = rng.normal(size=(400, 2)) + 100
  out = evaluation.precision_recall(real, far, k=3)
  assert out == {'precision': 0.0, 'recall': 0.0}


def test_density_coverage_hand_checked_1d():
  real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k = 1: radius 1 each (open)
  fake = np.array([[0.5], [0.5], [2.0]])
  out = evaluation.density_coverage(real, fake, k=1)
  # 0.5 is inside the balls of 0 and 1 (twice: 4); 2.0 inside 2's only (1 and 3
  # are at distance exactly 1, outside an open ball): 5 / (k * M) = 5 / 3.
  assert out['density'] == pytest.approx(5 / 3)
  # Balls of 0, 1, 2 hold a fake point; 3's does not.
  assert out['coverage'] == 0.75


def test_knn_radii_need_valid_k():
  with pytest.raises(ValueError, match='k=5'):
    evaluation.precision_recall(np.zeros((5, 2)), np.zeros((5, 2)), k=5)


# ------------------------------------------------------ classes and modes


def test_kl_to_uniform():
  assert evaluation.kl_to_uniform([5, 5, 5, 5]) == pytest.approx(0.0)
  assert evaluation.kl_to_uniform([7, 0, 0, 0]) == pytest.approx(np.log(4))
  assert evaluation.kl_to_uniform([1, 1, 0, 0]) == pytest.approx(np.log(2))
  assert evaluation.kl_to_uniform([0, 0]) == float('inf')


def test_class_distribution():
  out = evaluation.class_distribution(np.array([0, 0, 1, 3]), 4)
  assert out['class_0'] == 0.5 and out['class_2'] == 0.0
  assert out['class_min_frac'] == 0.0 and out['class_max_frac'] == 0.5
  p = np.array([0.5, 0.25, 0.25])
  assert out['class_kl'] == pytest.approx((p * np.log(4 * p)).sum())


def test_stacked_mnist_modes():
  digits = np.array([[1, 2, 3], [1, 2, 3], [0, 0, 0], [9, 9, 9]])
  out = evaluation.stacked_mnist_modes(digits)
  assert out['stacked_mnist_modes'] == 3
  counts = np.zeros(1000)
  counts[[123, 0, 999]] = [2, 1, 1]
  assert out['stacked_mnist_kl'] == pytest.approx(evaluation.kl_to_uniform(counts))
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), 1)
  out = evaluation.stacked_mnist_modes(every)
  assert out == {'stacked_mnist_modes': 1000.0,
                 # each p log(1000 p) is log(1 +- 2u) / 1000: |sum| <= 2u
                 'stacked_mnist_kl': pytest.approx(0.0, abs=1e-12)}


# -------------------------------------------------------------------- toy


def test_toy_mixtures_follow_the_papers():
  ring = toy.ring()
  assert ring.num_modes == 8 and ring.std == 0.02
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 2.0)
  grid = toy.grid()
  assert grid.num_modes == 25 and grid.std == 0.05
  assert sorted(set(grid.means[:, 0])) == [-4, -2, 0, 2, 4]


@pytest.mark.parametrize('name', ['ring', 'grid'])
def test_toy_real_samples_score_perfectly(name):
  mixture = toy.get(name)
  samples = mixture.sample(0, toy.NUM_SAMPLES)
  assert samples.shape == (2500, 2) and samples.dtype == np.float32
  out = toy.evaluate(samples, mixture)
  assert out['modes'] == mixture.num_modes
  # A sample lies within 3 std with probability 1 - exp(-9 / 2) = 98.89%; the
  # percentage of 2,500 samples has standard error 0.21, so 1.0 is 4.7 of them.
  assert abs(out['high_quality'] - 98.89) < 1.0
  # Sampling: 2 N KL ~ chi^2 with K - 1 degrees of freedom (mean 24, std 7 for
  # the 25-mode grid), so KL < 0.02 (chi^2 < 100) is 11 std above the mean.
  assert out['reverse_kl'] < 0.02


def test_toy_collapse_and_hand_checked_counts():
  ring = toy.ring()
  # 3 samples on mode 0, 1 on mode 2, 1 just outside 3 std of mode 5, 1 far.
  pts = np.array([ring.means[0]] * 3 + [ring.means[2] + [0.05, 0.0],
                                        ring.means[5] + [0.061, 0.0], [0.0, 0.0]])
  out = toy.evaluate(pts, ring)
  assert out['modes'] == 2
  assert out['high_quality'] == pytest.approx(100 * 4 / 6)
  p = np.array([0.75, 0.25])
  assert out['reverse_kl'] == pytest.approx((p * np.log(8 * p)).sum())
  with pytest.raises(ValueError, match='Unknown toy mixture'):
    toy.get('spiral')
