r"""WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028): the gradient penalty.

Algorithm 1 of the paper: lambda = 10, n_critic = 5, Adam(1e-4, b1=0,
b2=0.9) for both players, no BatchNorm in the critic (the penalty is per
example). The config argument picks the experiment:

- 'mnist' / 'fashion_mnist': the DCGAN-style critic without normalisation
  (the paper's MNIST model), G with BatchNorm, 28x28, batch 50, FID in the
  classifier's feature space at the end.
- 'cifar10': the paper's ResNet (G and D of width 128, 4x4 base, three
  up-blocks; D without normalisation, mean pooling), batch 64, z of 128;
  TFDS cifar10, FID with Inception. (The paper also decays the learning
  rate linearly to 0 over 100,000 generator steps; not done here.)

  python launch.py --config=configs/wgan_gp.py            # mnist
  python launch.py --config=configs/wgan_gp.py:fashion_mnist
  python launch.py --config=configs/wgan_gp.py:cifar10
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common

DATASETS = ("mnist", "fashion_mnist", "cifar10")


def get_config(dataset: str = "mnist") -> ml_collections.ConfigDict:
  if dataset not in DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r} (configs/wgan_gp.py:DATASET); "
                     f"valid: {', '.join(DATASETS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.loss = common.loss("wasserstein", gp_weight=10.0)
  config.optimizer = common.optimizers("adam", 1e-4, b1=0.0, b2=0.9)
  if dataset == "cifar10":
    config.model = common.model("resnet", variant="wgan_gp", image_size=32, channels=3,
                                latent_dim=128, g_width=128, d_width=128,
                                d_norm="none")
    config.data = common.data("tfds", name="cifar10")
    config.train = common.train(batch_size=64, n_critic=5, num_steps=100_000,
                                log_every=100, sample_every=2000,
                                checkpoint_every=5000)
    config.evals = evaluation.default_config()
    config.evals.update(metrics="fid", every=10_000, num_samples=10_000,
                        feature_net="inception", best_metric="fid")
  else:
    config.model = common.model("dcgan", image_size=28, channels=1, latent_dim=128,
                                g_width=64, d_width=64, d_norm="none")
    config.data = common.mnist_data(dataset)
    config.train = common.train(batch_size=50, n_critic=5, num_steps=10_000,
                                sample_every=1000, checkpoint_every=2000)
    config.evals = common.mnist_evals(dataset)
  return config
