r"""Mode collapse on the ring of 8 Gaussians: the plain GAN baseline.

The settings of the GAN baseline of PacGAN (Lin et al. 2018,
arXiv:1712.04086, section 5 and its released code) and VEEGAN (Srivastava
et al. 2017, arXiv:1705.07761): 2-D latent, generator of 400-unit ReLU
layers, discriminator of 200-unit layers, Adam(1e-4, b1=0.8), batch 100, no
packing, no EMA. (Differences: LeakyReLU instead of maxout units in D, no
BatchNorm in G, three hidden layers each, and 5,000 steps instead of 400
epochs.) The generator covers a few modes, most often one: compare
`configs/toy_ring.py`, tuned to cover all eight.

  python launch.py --config=configs/toy_collapse.py
"""

import ml_collections

from jaxgan.configs import common, toy_ring


def get_config() -> ml_collections.ConfigDict:
  config = toy_ring.get_config()
  config.model.update(latent_dim=2, g_width=400, d_width=200, depth=3, pack=1)
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 1e-4, b1=0.8), d=common.optimizer("adam", 1e-4, b1=0.8)))
  config.train.update(batch_size=100, num_steps=5000, ema_decay=0.0)
  return config
