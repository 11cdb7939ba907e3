"""Metrics of jaxgan.evaluation against closed forms and hand-checked cases."""

import numpy as np
import pytest
import scipy.linalg

from jaxgan import evaluation
from jaxgan.evaluation import toy

# ------------------------------------------------------------------------ FID


def _random_spd(rng, d, scale=1.0):
  a = rng.normal(size=(d, d))
  return scale * (a @ a.T / d + 0.1 * np.eye(d))


def test_fid_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(0).normal(size=(500, 64)) * 3 + 1
  assert abs(evaluation.fid_from_features(x, x)) < 1e-8
  # ...also when N < D and the covariance is singular (the square roots of
  # rounding-level eigenvalues leave ~1e-8 of the trace).
  y = np.random.default_rng(1).normal(size=(20, 64))
  assert abs(evaluation.fid_from_features(y, y)) < 1e-6 * np.trace(np.cov(y.T))


def test_frechet_distance_hand_checked_diagonal_case():
  # Diagonal covariances commute: Tr((S1 S2)^1/2) = sum sqrt(s1 s2).
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
  expected = (1 + 0 + 4) + (1 + 4 + 9) + (4 + 1 + 1) - 2 * (2 + 2 + 3)
  assert evaluation.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == (
      pytest.approx(expected, abs=1e-12))


def test_frechet_distance_matches_closed_form_with_scipy_sqrtm():
  rng = np.random.default_rng(0)
  d = 16
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d, 3.0)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  closed = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * covmean)
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
  assert evaluation.fid_from_features(x, y) == pytest.approx(closed, rel=0.02)


def test_gaussian_stats_are_unbiased_like_np_cov():
  x = np.random.default_rng(0).normal(size=(10, 3))
  mu, sigma = evaluation.gaussian_stats(x)
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
  assert abs(estimates.mean()) < 3 * stderr
  # The unbiased estimate is negative about half the time; one that kept the
  # k(x_i, x_i) terms (a V-statistic) would always be positive.
  assert 0.25 < (estimates < 0).mean() < 0.75


def test_kid_separates_different_distributions():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 8))
  y = rng.normal(size=(300, 8)) + 0.5
  kid = evaluation.kernel_inception_distance(x, y, num_subsets=10, subset_size=100)
  assert kid['kid'] > 10 * kid['kid_std'] / np.sqrt(10)


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
  # A sample lies within 3 std with probability 1 - exp(-9 / 2) = 98.89%.
  assert abs(out['high_quality'] - 98.89) < 1.0
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
