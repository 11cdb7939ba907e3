r"""The grid of 25 Gaussians (means on {-4, -2, 0, 2, 4}^2, std 0.05).

The same players and protocol as `configs/toy_ring.py` (VEEGAN / PacGAN:
2,500 samples; high quality = within 3 std of the nearest mode), tuned here
to cover all 25 modes: a PacGAN discriminator that sees `model.pack` samples
per logit (Lin et al. 2018) and an EMA generator.

  python launch.py --config=configs/toy_grid.py
"""

import ml_collections

from configs import toy_ring


def get_config() -> ml_collections.ConfigDict:
  return toy_ring.get_config("grid")
