r"""Least Squares GAN (Mao et al. 2017, arXiv:1611.04076) on MNIST, DCGAN models.

The least-squares loss with the paper's 0-1 coding (a = 0, b = c = 1):
D minimises (D(x) - 1)^2 / 2 + D(G(z))^2 / 2, G minimises
(D(G(z)) - 1)^2 / 2. Adam(2e-4, b1=0.5) for both players, as in the paper;
the DCGAN architecture at 28x28, batch 64.

  python launch.py --config=configs/lsgan.py
  python launch.py --config=configs/lsgan.py:fashion_mnist
"""

import ml_collections

from jaxgan.configs import common


def get_config(dataset: str = "mnist") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("dcgan", image_size=28, channels=1, latent_dim=100,
                              g_width=64, d_width=64)
  config.data = common.mnist_data(dataset)
  config.loss = common.loss("least_squares")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=64, num_steps=10_000, sample_every=1000,
                              checkpoint_every=2000)
  config.evals = common.mnist_evals(dataset)
  return config
