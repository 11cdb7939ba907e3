"""Toy 2-D data: the ring of 8 and the grid of 25 Gaussians (mode collapse)."""

from __future__ import annotations

import numpy as np

from jaxgan.data._images import ImageDataset


def load_toy(name: str | None, *, num_examples: int = 100_000,
             seed: int = 0) -> ImageDataset:
  """`num_examples` float32 points (N, 2) from the mixture `name` ('ring' or
  'grid', see `jaxgan.evaluation.toy`), labelled with their mode."""
  from jaxgan.evaluation import (
    _toy,  # numpy only; the mixtures live with their protocol
  )
  mixture = _toy.get(name)
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, mixture.num_modes, num_examples)
  points = mixture.means[labels] + rng.normal(0.0, mixture.std, (num_examples, 2))
  return ImageDataset(points.astype(np.float32), labels.astype(np.int32),
                      mixture.num_modes, f'toy:{name}')
