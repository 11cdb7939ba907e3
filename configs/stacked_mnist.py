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

PacGAN's Table 3 (where collapse is strong): '_quarter' or '_half' after the
variant trains Unrolled GAN's small networks (Metz et al. 2017; model
'unrolled', `jaxgan.models.unrolled`) with D at 1/4 or 1/2 of G's size, as
the official code's `unrolled_GAN_experiment/D=0.25G` and `D=0.5G`
(config.py): z of 256, 128 packs per step, Adam(b1 0.5, b2 0.99) with
learning rates 1e-4 for G and 2e-4 for D, one D and one G update per step,
no EMA, 500,000 steps (one 'epoch' of 500,000 x 128 samples drawn on the fly; here
from the 128,000 stacked images of data.seed), 25,600 samples scored.

  python launch.py --config=configs/stacked_mnist.py
  python launch.py --config=configs/stacked_mnist.py:minibatch
  python launch.py --config=configs/stacked_mnist.py:pac2
  python launch.py --config=configs/stacked_mnist.py:pac4_quarter
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common

VARIANTS = ("dcgan", "minibatch", "pac2", "pac3", "pac4")
# PacGAN's Table 3: D's width (Unrolled GAN's networks) per relative size.
SMALL_D_WIDTHS = {"quarter": 2, "half": 4}


def get_config(arg: str = "dcgan") -> ml_collections.ConfigDict:
  variant, _, size = arg.partition("_")
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r} (configs/stacked_mnist.py:VARIANT); "
                     f"valid: {', '.join(VARIANTS)}.")
  if size and (size not in SMALL_D_WIDTHS or variant == "minibatch"):
    raise ValueError(f"Unknown setting {arg!r} (configs/stacked_mnist.py:VARIANT_SIZE): "
                     f"SIZE is one of {', '.join(SMALL_D_WIDTHS)} (PacGAN's Table 3), "
                     f"after dcgan or pac2-4.")
  config = _table2(variant)
  if size:
    _table3(config, SMALL_D_WIDTHS[size])
  return config


def _table3(config: ml_collections.ConfigDict, d_width: int) -> None:
  """Unrolled GAN's networks and training, as PacGAN's code (module docstring)."""
  config.model.update(name="unrolled", latent_dim=256, g_width=8, d_width=d_width)
  config.optimizer = common.optimizers("adam", 1e-4, b1=0.5, b2=0.99)
  config.optimizer.d.learning_rate = 2e-4
  config.train.update(batch_size=128 * config.model.pack, num_steps=500_000,
                      sample_every=10_000, checkpoint_every=10_000,
                      ema_decay=0.0)  # samples from G itself, as the official code
  config.evals.num_samples = 25_600


def _table2(variant: str) -> ml_collections.ConfigDict:
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
