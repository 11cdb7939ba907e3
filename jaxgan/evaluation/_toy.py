"""Toy 2-D mixtures of Gaussians for mode collapse, and their protocol.

Ring: 8 Gaussians with means evenly spaced on a circle. Unrolled GAN (Metz
et al. 2017, arXiv:1611.02163, appendix A) uses radius 2 and standard
deviation 0.02, the defaults here. VEEGAN (Srivastava et al. 2017,
arXiv:1705.07761) and PacGAN (Lin et al. 2018, arXiv:1712.04086; its released
code) use radius 1 and standard deviation 0.01: the same distribution scaled
by 1/2, so with the criterion below (measured in standard deviations) the
same samples up to scale get the same scores.

Grid: 25 Gaussians with means on {-4, -2, 0, 2, 4}^2 and standard deviation
0.05, as in VEEGAN and PacGAN.

Protocol (VEEGAN section 5.1, PacGAN section 5, PacGAN's released metric
code): draw 2,500 generator samples; give each sample its nearest mode; a
sample is high quality when it lies within 3 standard deviations of that
mode (Euclidean distance < 3 std); a mode is captured when at least one
high-quality sample falls to it. Reported: modes captured, the percentage of
high-quality samples, and the reverse KL, KL(p || uniform), of the histogram
p of high-quality samples over modes (PacGAN's "reverse KL").

The mixtures are defined in `jaxgan.data` (`load` draws training points from
them) and re-exported here with the protocol that scores samples of them.
"""

from __future__ import annotations

import numpy as np

from jaxgan.data._toy import MIXTURES, Mixture, get, grid, ring
from jaxgan.evaluation import _metrics

NUM_SAMPLES = 2500
THRESHOLD_STD = 3.0


def evaluate(samples: np.ndarray, mixture: Mixture, *,
             threshold_std: float = THRESHOLD_STD) -> dict[str, float]:
  """Mode-collapse scores of 2-D generator samples (2,500 in the protocol).

  Returns:
    {'modes': modes captured (of mixture.num_modes), 'high_quality': percent
    of samples within threshold_std standard deviations of their nearest
    mode, 'reverse_kl': KL(histogram of high-quality samples over modes ||
    uniform), inf when there is none}.
  """
  samples = np.asarray(samples, np.float64).reshape(len(samples), -1)
  if samples.shape[1] != 2:
    raise ValueError(f'Toy samples must be 2-D points, got shape {samples.shape}.')
  dist = _metrics.pairwise_distances(samples, mixture.means)
  nearest = dist.argmin(axis=1)
  good = dist[np.arange(len(samples)), nearest] < threshold_std * mixture.std
  counts = np.bincount(nearest[good], minlength=mixture.num_modes)
  return {'modes': float((counts > 0).sum()),
          'high_quality': float(100.0 * good.mean()),
          'reverse_kl': _metrics.kl_to_uniform(counts)}


__all__ = ['MIXTURES', 'NUM_SAMPLES', 'THRESHOLD_STD', 'Mixture', 'evaluate', 'get',
           'grid', 'ring']
