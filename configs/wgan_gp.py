r"""WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028): the gradient penalty.

Algorithm 1 of the paper: lambda = 10, n_critic = 5, Adam(1e-4, b1=0,
b2=0.9) for both players, no BatchNorm in the critic (the penalty is per
example). The config argument picks the experiment:

- 'mnist' / 'fashion_mnist': the official code's MNIST networks
  (igul222/improved_wgan_training, gan_mnist.py; `model.name=wgan_gp_mnist`:
  5x5 convolutions 64-128-256 in the critic, G without BatchNorm ending in
  a sigmoid, tflib's initialisation), z of 128, batch 50, Adam(1e-4,
  b1=0.5, b2=0.9) as that script (not Algorithm 1's b1=0), 200,000 G steps
  (`ITERS`). Its pixels are in [0, 1], jaxgan's in [-1, 1]: the networks map
  between the two, and the penalty, whose gradient is then taken in
  [-1, 1] units (half of the [0, 1] one), is weighted 40 toward the norm
  1/2 (`loss.gp_target`): 40 (|grad_y D| - 1/2)^2 = 10 (|grad_x D| - 1)^2,
  the official term exactly. FID in the classifier's feature space at the
  end. (G's update reuses D's last fake batch; the script draws new noise.)
- 'mnist_dcgan' / 'fashion_mnist_dcgan': what 'mnist' was before, and the
  README's WGAN-GP MNIST and Fashion-MNIST rows were measured with: a
  DCGAN-style critic without normalisation (4x4 convolutions 64-128,
  LeakyReLU) and G with BatchNorm, Algorithm 1's Adam(1e-4, b1=0, b2=0.9),
  z of 128, batch 50, 10,000 steps.
- 'cifar10': the paper's ResNet as its official code (gan_cifar_resnet.py,
  unconditional): G and D of width 128, 4x4 base, three up-blocks; D
  without normalisation, mean pooling; batch 64, z of 128; Adam(2e-4, b1=0,
  b2=0.9) decayed linearly to 0 over the 100,000 G steps (`LR = 2e-4`,
  `DECAY = True`), G's update on 128 samples of its own (`GEN_BS_MULTIPLE
  = 2`, `train.g_batch_multiple=2`); TFDS cifar10, FID with Inception.

  python launch.py --config=configs/wgan_gp.py            # mnist
  python launch.py --config=configs/wgan_gp.py:fashion_mnist
  python launch.py --config=configs/wgan_gp.py:mnist_dcgan
  python launch.py --config=configs/wgan_gp.py:cifar10
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common

DATASETS = ("mnist", "fashion_mnist", "cifar10", "mnist_dcgan", "fashion_mnist_dcgan")


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
    config.optimizer = common.optimizers("adam", 2e-4, b1=0.0, b2=0.9,
                                         schedules="learning_rate=linear:0")
    config.data = common.data("tfds", name="cifar10")
    config.train = common.train(batch_size=64, n_critic=5, g_batch_multiple=2,
                                num_steps=100_000, log_every=100, sample_every=2000,
                                checkpoint_every=5000)
    config.evals = evaluation.default_config()
    config.evals.update(metrics="fid", every=10_000, num_samples=10_000,
                        feature_net="inception", best_metric="fid")
  elif dataset.endswith("_dcgan"):
    dataset = dataset.removesuffix("_dcgan")
    config.model = common.model("dcgan", image_size=28, channels=1, latent_dim=128,
                                g_width=64, d_width=64, d_norm="none")
    config.data = common.mnist_data(dataset)
    config.train = common.train(batch_size=50, n_critic=5, num_steps=10_000,
                                sample_every=1000, checkpoint_every=2000)
    config.evals = common.mnist_evals(dataset)
  else:  # gan_mnist.py
    config.model = common.model("wgan_gp_mnist", image_size=28, channels=1,
                                latent_dim=128, g_width=64, d_width=64)
    config.loss = common.loss("wasserstein", gp_weight=40.0, gp_target=0.5)
    config.optimizer = common.optimizers("adam", 1e-4, b1=0.5, b2=0.9)
    config.data = common.mnist_data(dataset)
    config.train = common.train(batch_size=50, n_critic=5, num_steps=200_000,
                                log_every=100, sample_every=5000, checkpoint_every=10_000)
    config.evals = common.mnist_evals(dataset)
  return config
