r"""The grid of 25 Gaussians (means on {-4, -2, 0, 2, 4}^2, std 0.05).

The players and protocol of `configs/toy_ring.py` (MLPs 3 x 128, PacGAN
packing of 2 samples per logit, Adam(3e-4, b1=0.5); VEEGAN / PacGAN protocol:
2,500 samples, high quality = within 3 std of the nearest mode), trained
longer on larger batches for the 25 modes: batch 512, 30,000 steps, EMA
generator (0.999). docs/toy_results.md has the measured scores.

  python launch.py --config=configs/toy_grid.py
"""

import ml_collections

from jaxgan.configs import toy_ring


def get_config() -> ml_collections.ConfigDict:
  config = toy_ring.get_config("grid")
  config.train.update(batch_size=512, num_steps=30_000, ema_decay=0.999)
  return config
