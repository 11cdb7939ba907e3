r"""SNGAN (Miyato et al. 2018, arXiv:1802.05957): spectral normalisation.

The paper's CIFAR-10 ResNet (Table 4): G of width 256 (4x4 base, three
up-blocks with BatchNorm and ReLU), D of width 128 (four blocks, the first
'optimized'), spectral normalisation on every D layer (one power iteration
per update), ReLU, global sum pooling, linear. Hinge loss, Adam(2e-4, b1=0,
b2=0.9), n_critic = 5, batch 64, z of 128. The config argument picks the data:

- 'cifar10' (default): TFDS cifar10, FID with Inception; as the official
  code (pfnet-research/sngan_projection, configs/sn_cifar10_unconditional.yml)
  the learning rate decays linearly to 0 over the 50,000 G steps
  (`iteration: 50000`, `iteration_decay_start: 0`; train.py's LinearShift)
  and G's update takes 128 samples of its own (`n_gen_samples: 128`,
  `train.g_batch_multiple=2`).
- 'mnist' / 'fashion_mnist': the same blocks at 28x28 (7x7 base, two
  up-blocks) with widths 64 so that it trains on a CPU, FID in the
  classifier's feature space at the end. Fashion-MNIST takes one D step per
  G step (`FASHION_N_CRITIC`): with the paper's 5, every seed measured
  dropped the garments and kept only footwear (4 of 4 seeds by step 500,
  all but 1% footwear by step 1,500; `scripts/class_histograms.py`, README
  "Why SNGAN collapsed on Fashion-MNIST"); with 1, none did.

  python launch.py --config=configs/sngan.py
  python launch.py --config=configs/sngan.py:mnist

Class-conditional (Miyato & Koyama 2018, cGANs with projection discriminator):
`--config.model.num_classes=10` gives G conditional BatchNorm (per-class
scale and shift) and D the projection term <embed(y), h>; samples then have
one row per class, and `evals.metrics` may add intra_fid and
classifier_accuracy:

  python launch.py --config=configs/sngan.py:mnist --config.model.num_classes=10
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common

DATASETS = ("cifar10", "mnist", "fashion_mnist")
# D steps per G step on Fashion-MNIST (issue 19: 5 collapses the width-64 28x28
# ResNet onto the footwear classes; 1 does not, with the paper's Adam).
FASHION_N_CRITIC = 1


def get_config(dataset: str = "cifar10") -> ml_collections.ConfigDict:
  if dataset not in DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r} (configs/sngan.py:DATASET); "
                     f"valid: {', '.join(DATASETS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.loss = common.loss("hinge")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.0, b2=0.9)
  config.train = common.train(batch_size=64, n_critic=5, num_steps=50_000,
                              log_every=100, sample_every=2000, checkpoint_every=5000)
  if dataset == "cifar10":
    for player in ("g", "d"):
      config.optimizer[player].schedules = "learning_rate=linear:0"
    config.train.g_batch_multiple = 2
    config.model = common.model("resnet", variant="sngan", image_size=32, channels=3,
                                latent_dim=128, g_width=256, d_width=128,
                                d_norm="none")
    config.data = common.data("tfds", name="cifar10")
    config.evals = evaluation.default_config()
    config.evals.update(metrics="fid", every=10_000, num_samples=10_000,
                        feature_net="inception", best_metric="fid")
  else:
    config.model = common.model("resnet", variant="sngan", image_size=28, channels=1,
                                latent_dim=128, g_width=64, d_width=64,
                                d_norm="none")
    config.data = common.mnist_data(dataset)
    config.train.update(num_steps=5000, sample_every=1000, checkpoint_every=1000)
    if dataset == "fashion_mnist":
      config.train.n_critic = FASHION_N_CRITIC
    config.evals = common.mnist_evals(dataset)
  return config
