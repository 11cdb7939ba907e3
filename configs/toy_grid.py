r"""The grid of 25 Gaussians (means on {-4, -2, 0, 2, 4}^2, std 0.05).

The players, training and protocol of `configs/toy_ring.py` (PacGAN packing
of 4 samples per logit, EMA generator, 10,000 steps; VEEGAN / PacGAN
protocol: 2,500 samples, high quality = within 3 std of the nearest mode).
Not tuned for the grid yet: it finds most modes but few samples are high
quality (docs/toy_results.md).

  python launch.py --config=configs/toy_grid.py
"""

import ml_collections

from configs import toy_ring


def get_config() -> ml_collections.ConfigDict:
  return toy_ring.get_config("grid")
