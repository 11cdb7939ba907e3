"""Toy 2-D data: the ring of 8 and the grid of 25 Gaussians (mode collapse).

The mixtures and the papers they follow: `jaxgan.evaluation.toy`, which
scores generator samples against them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxgan.data._images import ImageDataset


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



def load_toy(name: str | None, *, num_examples: int = 100_000,
             seed: int = 0) -> ImageDataset:
  """`num_examples` float32 points (N, 2) from the mixture `name` ('ring' or
  'grid', see `jaxgan.evaluation.toy`), labelled with their mode."""
  mixture = get(name)
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, mixture.num_modes, num_examples)
  points = mixture.means[labels] + rng.normal(0.0, mixture.std, (num_examples, 2))
  return ImageDataset(points.astype(np.float32), labels.astype(np.int32),
                      mixture.num_modes, f'toy:{name}')
