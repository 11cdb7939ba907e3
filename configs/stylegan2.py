r"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN", arXiv:1912.04958) with ADA (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data", arXiv:2006.06676), as
NVlabs/stylegan2-ada-pytorch trains it (train.py `cfg_specs`, training/
loss.py `StyleGAN2Loss`, training/training_loop.py).

The network is `model.name='stylegan2'` (jaxgan/models/stylegan2.py). The
objective is loss.py's: non-saturating loss; R1 on real images with weight
gamma / 2 every 16 D steps (`loss.r1_every`, lazy: 16 x the penalty on those
steps); path-length regularization of G with weight 2 every 4 G steps
(`loss.path_length_every`) on half the batch, its running mean (decay 0.01)
in the state; style mixing with probability 0.9 (`model.style_mixing`).
Lazy regularization's optimizer adjustment (training_loop.py: lr * c,
beta ** c for c = k / (k + 1)) is applied here to the configured lr and
betas (Adam(0.0025, 0, 0.99), eps 1e-8). G's EMA has StyleGAN2's ramp:
half-life `ema_kimg` thousand images, reached after 1 / ema_rampup of that
(train.ema_decay = 0.5 ** (batch / (ema_kimg * 1000)), train.ema_rampup).
ADA (`loss.augment='ada'`, the 'bgc' pipeline, target 0.6, p adjusted every
4 steps over 500 kimg) is on, as train.py's default `--aug=ada`; StyleGAN2
without ADA is `--config.loss.augment=''`. Truncated samples:
`jaxgan generate --truncation=PSI` (w_avg + PSI (w - w_avg)).

The config argument picks the setting:

- 'cifar10' (default): train.py's 'cifar' spec: 2-layer mapping network,
  512 feature maps at every resolution (channel_base 32768), D without
  residual connections ('orig'), minibatch stddev over groups of 32, batch
  64, lr 0.0025, gamma 0.01, EMA half-life 500 kimg with ramp-up 0.05, no
  path-length regularization and no style mixing (train.py turns both off
  for 'cifar'), 100,000 kimg (1,562,500 steps). TFDS cifar10, FID with
  Inception.
- '64', '128', '256': train.py's 'auto' spec for 8 GPUs at that resolution:
  batch 64, channel_base 16384 (fmaps 0.5), 2-layer mapping, mbstd group 4
  (per GPU: set `model.mbstd_group` to the per-device batch / 2 on fewer
  devices to match), lr 0.0025, gamma 0.0002 res^2 / batch, EMA half-life
  20 kimg with ramp-up 0.05, skip G and residual D, path length 2, style
  mixing 0.9, 25,000 kimg. A folder of images (`--config.data.path=`, e.g.
  FFHQ resized), FID with Inception.
- 'mnist', 'fashion_mnist': jaxgan's choice for a CPU: the 'auto' recipe at
  32 px on the 28x28 IDX images resized to 32, 1 channel, with narrow
  networks (channel_base 512, channel_max 32: 32 maps at 4-16 px, 16 at
  32 px), z and w of 128, 2-layer mapping, gamma 0.0002 * 32^2 / 64 = 0.0032,
  EMA half-life 20 kimg ramped, batch 64, 2,000 steps, ADA adjusting over
  100 kimg (modern_results.py's speed for runs this short); FID in the
  classifier's feature space at the end.
- 'tiny': an 8 px model for tests.

  python launch.py --config=configs/stylegan2.py --config.data.data_dir=/path/to/tfds
  python launch.py --config=configs/stylegan2.py:64 --config.data.path=/path/to/ffhq64
  python launch.py --config=configs/stylegan2.py:fashion_mnist
  python launch.py --config=configs/stylegan2.py:fashion_mnist --config.loss.augment=''
  jaxgan generate --workdir=WORKDIR --truncation=0.7
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common
from jaxgan.models import stylegan2

VARIANTS = ("cifar10", "64", "128", "256", "mnist", "fashion_mnist", "tiny")
R1_EVERY, PATH_LENGTH_EVERY = 16, 4  # train.py: D_reg_interval, G_reg_interval


def _model(**overrides) -> ml_collections.ConfigDict:
  """`config.model` for StyleGAN2: the shared keys and StyleGAN2's own
  (`jaxgan.models.stylegan2.DEFAULTS`, train.py's values), written out."""
  config = common.model("stylegan2", latent_dim=512)
  config.update(stylegan2.DEFAULTS)
  # train.py's specs all use a 2-layer mapping; 'auto' below 512 px fmaps 0.5.
  config.update(mapping_layers=2, channel_base=16384)
  config.update(overrides)
  return config


def recipe(config: ml_collections.ConfigDict, *, lr: float, gamma: float,
           path_length: float, batch_size: int, ema_kimg: float, num_steps: int,
           ada_kimg: float = 500) -> None:
  """loss.py's objective, ADA, Adam with lazy regularization's adjustment
  and the ramped EMA, for `num_steps` steps of `batch_size`."""
  config.loss = common.loss(
      "non_saturating", r1_weight=gamma / 2, r1_every=R1_EVERY,
      path_length_weight=path_length, path_length_every=PATH_LENGTH_EVERY,
      augment="ada", augment_pipeline="bgc", augment_target=0.6, augment_p=0.0,
      augment_kimg=ada_kimg)
  config.optimizer = common.optimizers("adam", lr, b1=0.0, b2=0.99)  # optax eps 1e-8
  for player, every in (("g", PATH_LENGTH_EVERY), ("d", R1_EVERY)):
    c = every / (every + 1)  # training_loop.py: mb_ratio
    config.optimizer[player].update(learning_rate=lr * c, b2=0.99**c)
  config.train = common.train(
      batch_size=batch_size, num_steps=num_steps,
      ema_decay=0.5 ** (batch_size / (ema_kimg * 1000)), ema_rampup=0.05,
      log_every=100, sample_every=2000, checkpoint_every=5000)


def _inception_evals() -> ml_collections.ConfigDict:
  config = evaluation.default_config()
  config.update(metrics="fid", every=50_000, num_samples=50_000, feature_net="inception",
                best_metric="fid")
  return config


def get_config(variant: str = "cifar10") -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r} (configs/stylegan2.py:VARIANT); "
                     f"valid: {', '.join(VARIANTS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  if variant == "cifar10":
    config.model = _model(image_size=32, channels=3, channel_base=32768,
                          d_architecture="orig", mbstd_group=32, style_mixing=0.0)
    recipe(config, lr=0.0025, gamma=0.01, path_length=0.0, batch_size=64, ema_kimg=500,
           num_steps=100_000_000 // 64)
    config.data = common.data("tfds", name="cifar10")
    config.evals = _inception_evals()
  elif variant in ("64", "128", "256"):
    size, batch = int(variant), 64
    config.model = _model(image_size=size, channels=3)
    recipe(config, lr=0.0025, gamma=0.0002 * size**2 / batch, path_length=2.0,
           batch_size=batch, ema_kimg=batch * 10 / 32, num_steps=25_000_000 // batch)
    config.data = common.data("folder", path="")
    config.evals = _inception_evals()
  elif variant in ("mnist", "fashion_mnist"):
    batch = 64
    config.model = _model(image_size=32, channels=1, latent_dim=128, w_dim=128,
                          channel_base=512, channel_max=32)
    recipe(config, lr=0.0025, gamma=0.0002 * 32**2 / batch, path_length=2.0,
           batch_size=batch, ema_kimg=batch * 10 / 32, num_steps=2000, ada_kimg=100)
    config.train.update(log_every=50, sample_every=500, checkpoint_every=500)
    config.data = common.mnist_data(variant)
    config.evals = common.mnist_evals(variant)
  else:  # tiny
    config.model = _model(image_size=8, channels=1, latent_dim=16, w_dim=16,
                          channel_base=64, channel_max=16, mbstd_group=2,
                          d_mapping_layers=2)
    recipe(config, lr=0.0025, gamma=0.01, path_length=2.0, batch_size=8, ema_kimg=1,
           num_steps=8, ada_kimg=1)
    config.loss.augment = ""
    config.train.update(steps_per_call=2, log_every=2, sample_every=4,
                        checkpoint_every=4, num_samples=8)
    config.data = common.data("digits")
    config.evals = evaluation.default_config()
  return config
