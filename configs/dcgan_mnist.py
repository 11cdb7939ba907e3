r"""DCGAN (Radford et al. 2016, arXiv:1511.06434) on MNIST or Fashion-MNIST, 28x28.

The paper's training setup: Adam(2e-4, b1=0.5) for both players, batch 128,
weights from N(0, 0.02), BatchNorm in both players, LeakyReLU 0.2 in D,
non-saturating loss; widths of the PyTorch example (ngf = ndf = 64), from a
7x7 base map. FID in the feature space of jaxgan's classifier for the dataset
is measured at the end (10,000 samples).

  python launch.py --config=configs/dcgan_mnist.py
  python launch.py --config=configs/dcgan_mnist.py:fashion_mnist

The IDX files are read from data.path (default ../shared/data/<dataset>).
"""

import ml_collections

from jaxgan.configs import common


def get_config(dataset: str = "mnist") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("dcgan", image_size=28, channels=1, latent_dim=100,
                              g_width=64, d_width=64)
  config.data = common.mnist_data(dataset)
  config.loss = common.loss("non_saturating")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=128, num_steps=10_000, sample_every=1000,
                              checkpoint_every=2000)
  config.evals = common.mnist_evals(dataset)
  return config
