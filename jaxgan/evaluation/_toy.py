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
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxgan.evaluation import _metrics

NUM_SAMPLES = 2500
THRESHOLD_STD = 3.0


@dataclasses.dataclass(frozen=True)
class Mixture:
  """An equal-weight mixture of isotropic 2-D Gaussians.

  Attributes:
    name: 'ring' or 'grid'.
    means: (K, 2) mode centres.
    std: the standard deviation of every component, per coordinate.
  """
  name: str
  means: np.ndarray
  std: float

  @property
  def num_modes(self) -> int:
    return len(self.means)

  def sample(self, rng: np.random.Generator | int, n: int) -> np.ndarray:
    """n samples (float32, (n, 2)): a uniform mode, plus N(0, std^2 I)."""
    rng = np.random.default_rng(rng)
    modes = rng.integers(0, self.num_modes, n)
    noise = rng.normal(0.0, self.std, (n, 2))
    return (self.means[modes] + noise).astype(np.float32)


def ring(num_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
  """The ring of `num_modes` Gaussians (Unrolled GAN's setting by default;
  VEEGAN/PacGAN: radius=1, std=0.01)."""
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  return Mixture('ring', means, float(std))


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
  """The side x side grid of Gaussians, centred on 0 (VEEGAN/PacGAN: means on
  {-4, -2, 0, 2, 4}^2, std 0.05)."""
  coords = spacing * (np.arange(side) - (side - 1) / 2)
  means = np.stack(np.meshgrid(coords, coords, indexing='ij'), -1).reshape(-1, 2)
  return Mixture('grid', means, float(std))


MIXTURES = {'ring': ring, 'grid': grid}


def get(name: str) -> Mixture:
  """The standard mixture by name ('ring' or 'grid')."""
  if name not in MIXTURES:
    raise ValueError(f'Unknown toy mixture {name!r}; valid: {", ".join(MIXTURES)}.')
  return MIXTURES[name]()


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
