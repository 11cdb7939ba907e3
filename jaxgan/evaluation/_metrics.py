"""Sample-quality metrics as pure functions of feature arrays (NumPy).

Every function takes features already extracted (by the Inception network,
the small classifiers, or anything else) and returns plain floats, so each
can be checked by hand on small inputs.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1024  # rows of a distance matrix computed at once


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance of features, as FID fits them.

  Args:
    features: (N, D) array, N >= 2.

  Returns:
    (mu (D,), sigma (D, D)) in float64; sigma is the unbiased sample
    covariance (divides by N - 1), as `np.cov(features, rowvar=False)` in
    pytorch-fid and the original TTUR code.
  """
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f'Need (N >= 2, D) features, got shape {features.shape}.')
  return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

      d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

  The trace of the matrix square root is computed stably as the sum of the
  square roots of the eigenvalues of the symmetric positive semi-definite
  matrix sigma1^(1/2) sigma2 sigma1^(1/2), which has the eigenvalues of
  sigma1 sigma2 (eigenvalues below zero from rounding are clipped to zero).
  Unlike `scipy.linalg.sqrtm(sigma1 @ sigma2)` this needs no eps offset for
  singular covariances (fewer samples than dimensions) and never turns
  complex; where sqrtm succeeds both agree to rounding (tested).

  Returns:
    FID when the Gaussians are fitted to Inception pool features
    (Heusel et al. 2017, arXiv:1706.08500). Can be slightly below 0 from
    rounding when the two fits are equal.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(
      np.asarray(mu2, np.float64))
  sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(
      np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (
      mu1.size, mu1.size):
    raise ValueError(f'Shape mismatch: mu {mu1.shape} {mu2.shape}, sigma '
                     f'{sigma1.shape} {sigma2.shape}.')
  sigma1 = (sigma1 + sigma1.T) / 2
  sigma2 = (sigma2 + sigma2.T) / 2
  evals, evecs = np.linalg.eigh(sigma1)
  sqrt1 = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T
  middle = sqrt1 @ sigma2 @ sqrt1
  middle = (middle + middle.T) / 2
  tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
  """FID between two (N, D) feature sets: `frechet_distance` of their fits."""
  return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))


def kernel_inception_distance(features1: np.ndarray, features2: np.ndarray, *,
                              num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> dict[str, float]:
  """KID (Bińkowski et al. 2018, arXiv:1801.01401): unbiased MMD^2, cubic kernel.

  k(x, y) = (x . y / d + 1)^3 with d the feature dimension. For each of
  `num_subsets` subsets, m = min(subset_size, N1, N2) rows are drawn without
  replacement from each set and the unbiased estimate

      MMD_u^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1))
              + sum_{i != j} k(y_i, y_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

  is computed; KID is the mean over subsets (as the reference code, clean-fid
  and torch-fidelity do).

  Returns:
    {'kid': the mean, 'kid_std': the standard deviation of the subset
    estimates (what papers report as KID +- std), 'kid_stderr': kid_std /
    sqrt(num_subsets), the standard error of the mean were subsets
    independent (they overlap when subsets draw from the same pool, so it
    is a lower bound)}.
  """
  x = np.asarray(features1, np.float64)
  y = np.asarray(features2, np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f'Need (N, D) features of one D, got {x.shape} and {y.shape}.')
  m = min(subset_size, len(x), len(y))
  if m < 2:
    raise ValueError('KID needs at least 2 samples in each set.')
  d = x.shape[1]
  rng = np.random.default_rng(seed)
  estimates = np.empty(num_subsets)
  for s in range(num_subsets):
    xs = x[rng.choice(len(x), m, replace=False)]
    ys = y[rng.choice(len(y), m, replace=False)]
    kxx = (xs @ xs.T / d + 1) ** 3
    kyy = (ys @ ys.T / d + 1) ** 3
    kxy = (xs @ ys.T / d + 1) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    estimates[s] = within - 2 * kxy.sum() / m**2
  std = float(estimates.std())
  return {'kid': float(estimates.mean()), 'kid_std': std,
          'kid_stderr': float(std / np.sqrt(num_subsets))}


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
  top = x.max(axis=axis, keepdims=True)
  return np.squeeze(top, axis) + np.log(np.exp(x - top).sum(axis=axis))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
  logits = np.asarray(logits, np.float64)
  return logits - _logsumexp(logits, 1)[:, None]


def inception_score(logits: np.ndarray, *, splits: int = 10) -> dict[str, float]:
  """Inception Score (Salimans et al. 2016, arXiv:1606.03498).

  IS = exp(E_x KL(p(y|x) || p(y))), with p(y|x) = softmax(logits) and p(y)
  the mean of p(y|x) over the split. The N samples are cut, in order, into
  `splits` equal parts (the last N mod splits rows are dropped); the score of
  each part is computed separately, as the original code does.

  Args:
    logits: (N, K) class logits. For the reference IS use the FID Inception's
      `logits_unbiased` (pool features times the softmax weights, no bias,
      1008 classes), as the original TensorFlow code computes them.
    splits: number of parts (10 in the original protocol, on 50,000 samples).

  Returns:
    {'is': mean over splits, 'is_std': standard deviation over splits}.
  """
  log_p = _log_softmax(logits)
  n = len(log_p) // splits
  if n < 1:
    raise ValueError(f'{len(log_p)} samples cannot be cut into {splits} splits.')
  scores = []
  for i in range(splits):
    part = log_p[i * n:(i + 1) * n]
    log_py = _logsumexp(part, 0) - np.log(n)  # log of the mean of p(y|x)
    kl = (np.exp(part) * (part - log_py)).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return {'is': float(np.mean(scores)), 'is_std': float(np.std(scores))}


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Euclidean distances (len(a), len(b)) in float64."""
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
  return np.sqrt(np.clip(sq, 0, None))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
  """Distance from each row to its k-th nearest other row (itself excluded)."""
  features = np.asarray(features)
  if not 1 <= k < len(features):
    raise ValueError(f'k={k} needs 1 <= k < N={len(features)}.')
  radii = np.empty(len(features))
  for start in range(0, len(features), _CHUNK):
    dist = pairwise_distances(features[start:start + _CHUNK], features)
    # Index k of the sorted row: index 0 is the row itself at distance 0.
    radii[start:start + _CHUNK] = np.partition(dist, k, axis=1)[:, k]
  return radii


def _inside_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray,
                   strict: bool) -> np.ndarray:
  """For each point, how many balls B(centre_i, radii_i) contain it."""
  counts = np.empty(len(points), np.int64)
  for start in range(0, len(points), _CHUNK):
    dist = pairwise_distances(points[start:start + _CHUNK], centres)
    inside = dist < radii[None] if strict else dist <= radii[None]
    counts[start:start + _CHUNK] = inside.sum(axis=1)
  return counts


def precision_recall(real: np.ndarray, fake: np.ndarray, *,
                     k: int = 3) -> dict[str, float]:
  """Improved precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991).

  Each set's manifold is the union of balls around its points with radius
  the distance to the point's k-th nearest neighbour in the same set.
  Precision = fraction of fake points inside the real manifold; recall =
  fraction of real points inside the fake manifold ("inside": distance <=
  radius, as the reference code).

  Args:
    real, fake: (N, D) and (M, D) features (the paper: VGG-16 fc2, N = M).
    k: neighbourhood size (the paper's default, 3).
  """
  real = np.asarray(real)
  fake = np.asarray(fake)
  precision = (_inside_counts(fake, real, knn_radii(real, k), False) > 0).mean()
  recall = (_inside_counts(real, fake, knn_radii(fake, k), False) > 0).mean()
  return {'precision': float(precision), 'recall': float(recall)}


def density_coverage(real: np.ndarray, fake: np.ndarray, *,
                     k: int = 5) -> dict[str, float]:
  """Density and coverage (Naeem et al. 2020, arXiv:2002.09797).

  With r_i the distance from real point i to its k-th nearest real
  neighbour and B_i the open ball of radius r_i around it (strict `<`, as
  the reference `prdc` code):

      density  = sum_j #{i : fake_j in B_i} / (k M)
      coverage = #{i : some fake_j in B_i} / N

  Args:
    real, fake: (N, D) and (M, D) features.
    k: neighbourhood size (the paper's default, 5).
  """
  real = np.asarray(real)
  fake = np.asarray(fake)
  radii = knn_radii(real, k)
  density = _inside_counts(fake, real, radii, True).sum() / (k * len(fake))
  covered = np.zeros(len(real), bool)
  for start in range(0, len(real), _CHUNK):
    dist = pairwise_distances(real[start:start + _CHUNK], fake)
    covered[start:start + _CHUNK] = dist.min(axis=1) < radii[start:start + _CHUNK]
  return {'density': float(density), 'coverage': float(covered.mean())}


def kl_to_uniform(counts: np.ndarray) -> float:
  """KL(p || uniform) of the histogram `counts` over its K bins.

  sum_i p_i log(K p_i), with p = counts / sum(counts) and 0 log 0 = 0: 0 for a
  uniform histogram, log K when everything falls in one bin. Infinite when
  the histogram is empty.
  """
  counts = np.asarray(counts, np.float64)
  total = counts.sum()
  if total <= 0:
    return float('inf')
  p = counts[counts > 0] / total
  return float((p * np.log(p * len(counts))).sum())


def class_distribution(labels: np.ndarray, num_classes: int) -> dict[str, float]:
  """Histogram of predicted labels and its KL to uniform.

  Returns:
    {'class_kl': kl_to_uniform of the histogram, 'class_min_frac' and
    'class_max_frac': the rarest and commonest class's fraction of samples,
    'class_k' for each class k: its fraction}.
  """
  counts = np.bincount(np.asarray(labels).ravel(), minlength=num_classes)
  frac = counts / counts.sum()
  out = {'class_kl': kl_to_uniform(counts), 'class_min_frac': float(frac.min()),
         'class_max_frac': float(frac.max())}
  out.update({f'class_{k}': float(f) for k, f in enumerate(frac)})
  return out


def stacked_mnist_modes(digits: np.ndarray) -> dict[str, float]:
  """Mode coverage of Stacked MNIST from the digit classified in each channel.

  A sample's mode is 100 c1 + 10 c2 + c3 for the digits (c1, c2, c3) of its
  channels 0, 1, 2 (1000 modes). As in VEEGAN (Srivastava et al. 2017,
  arXiv:1705.07761) and PacGAN (Lin et al. 2018, arXiv:1712.04086), with
  26,000 samples: a mode is covered when at least one sample falls in it.

  Args:
    digits: (N, 3) int digits, one per channel.

  Returns:
    {'stacked_mnist_modes': modes covered out of 1000,
     'stacked_mnist_kl': KL(mode histogram || uniform over 1000)}.
  """
  digits = np.asarray(digits)
  if digits.ndim != 2 or digits.shape[1] != 3:
    raise ValueError(f'Need (N, 3) digits, got shape {digits.shape}.')
  modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
  counts = np.bincount(modes, minlength=1000)
  return {'stacked_mnist_modes': float((counts > 0).sum()),
          'stacked_mnist_kl': kl_to_uniform(counts)}


def intra_fid(real_features: np.ndarray, real_labels: np.ndarray,
              fake_features: np.ndarray, fake_labels: np.ndarray) -> dict[str, float]:
  """Intra-class FID (Miyato & Koyama 2018, arXiv:1802.05637): the mean over
  classes c of the FID between the features of generated samples asked for
  class c and of the real images of class c.

  Args:
    real_features, fake_features: (N, D) and (M, D) features.
    real_labels, fake_labels: int (N,) and (M,): the real class, and the class
      each sample was generated for. Every class of the fakes needs at least 2
      samples and 2 real images.

  Returns:
    {'intra_fid': the mean, 'intra_fid_max': the worst class's FID}.
  """
  classes = np.unique(fake_labels)
  scores = []
  for c in classes:
    real, fake = real_features[real_labels == c], fake_features[fake_labels == c]
    if len(real) < 2 or len(fake) < 2:
      raise ValueError(f'Intra-class FID needs >= 2 real and generated examples of '
                       f'each class; class {c} has {len(real)} real, {len(fake)} '
                       'generated.')
    scores.append(fid_from_features(real, fake))
  return {'intra_fid': float(np.mean(scores)), 'intra_fid_max': float(np.max(scores))}


def classifier_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
  """The fraction of samples whose classifier prediction (argmax of logits
  (N, K)) is the class (N,) they were generated for."""
  return float(np.mean(np.argmax(logits, -1) == labels))
