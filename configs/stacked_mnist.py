r"""Stacked MNIST: 1000 modes (three MNIST digits as the RGB channels).

The mode-collapse benchmark of VEEGAN (Srivastava et al. 2017,
arXiv:1705.07761) and PacGAN (Lin et al. 2018, arXiv:1712.04086): 128,000
training images drawn (deterministically, data.seed) from the MNIST IDX files
in data.path; 26,000 samples are scored at the end by the digits jaxgan's
MNIST classifier reads in each channel: modes covered (of 1000) and the KL
divergence of the mode histogram to uniform. DCGAN at 28x28, Adam(2e-4,
b1=0.5), batch 64, non-saturating loss. The config argument 'minibatch' adds
minibatch discrimination to D (Salimans et al. 2016: 100 kernels of 5
dimensions). 'pac2', 'pac3' and 'pac4' are PacGAN's PacDCGAN2/3/4 (Lin et
al. 2018, Table 2): D sees packs of m samples concatenated along channels
(`model.pack`), 64 packs per step as in the official code (a batch of 64
packs: stacked_MNIST_experiments/VEEGAN_experiment/model.py), so each step
draws 64 m real and 64 m generated images.

  python launch.py --config=configs/stacked_mnist.py
  python launch.py --config=configs/stacked_mnist.py:minibatch
  python launch.py --config=configs/stacked_mnist.py:pac2
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common

VARIANTS = ("dcgan", "minibatch", "pac2", "pac3", "pac4")


def get_config(variant: str = "dcgan") -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r} (configs/stacked_mnist.py:VARIANT); "
                     f"valid: {', '.join(VARIANTS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model(
      "dcgan", image_size=28, channels=3, latent_dim=100, g_width=64, d_width=64,
      minibatch_discrimination=100 if variant == "minibatch" else 0,
      pack=int(variant[3:]) if variant.startswith("pac") else 1)
  config.data = common.data("stacked_mnist", path="../shared/data/mnist")
  config.loss = common.loss("non_saturating")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=64 * config.model.pack, num_steps=20_000, sample_every=1000,
                              checkpoint_every=2000)
  config.evals = evaluation.default_config()
  config.evals.update(metrics="stacked_mnist", every=0, num_samples=26_000,
                      feature_net="classifier_mnist")
  return config
