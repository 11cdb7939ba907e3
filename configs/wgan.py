r"""Wasserstein GAN with weight clipping (Arjovsky et al. 2017, arXiv:1701.07875).

Algorithm 1 of the paper: the critic's weights are clipped to [-c, c] with
c = 0.01 after each update, RMSProp with learning rate 5e-5 for both players,
n_critic = 5 critic updates per generator update, batch 64. The critic is the
DCGAN discriminator (BatchNorm kept, as in the paper's DCGAN experiments), on
MNIST (28x28) or Fashion-MNIST. As the reference code (martinarjovsky/
WassersteinGAN, main.py), G's first 25 updates and every 500th wait for 100
critic updates (`train.g_updates='wgan_boost'`: a training step is still 5
critic updates, and 20 of them make one boosted G update, so `num_steps`
counts steps of 5 critic updates: 10,000 steps are 9,183 G updates).

  python launch.py --config=configs/wgan.py
  python launch.py --config=configs/wgan.py:fashion_mnist
"""

import ml_collections

from jaxgan.configs import common


def get_config(dataset: str = "mnist") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("dcgan", image_size=28, channels=1, latent_dim=100,
                              g_width=64, d_width=64)
  config.data = common.mnist_data(dataset)
  config.loss = common.loss("wasserstein")
  config.optimizer = common.optimizers("rmsprop", 5e-5)
  config.optimizer.d.clip = 0.01
  config.train = common.train(batch_size=64, n_critic=5, g_updates="wgan_boost",
                              num_steps=10_000, sample_every=1000, checkpoint_every=2000)
  config.evals = common.mnist_evals(dataset)
  return config
