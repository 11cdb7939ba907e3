r"""R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS 2024, arXiv:2501.05441): the official presets.

The network is `model.name='r3gan'` (jaxgan/models/r3gan.py, ported from
github.com/brownvc/R3GAN, commit 19a7ddf). The loss is the relativistic
pairing loss (RpGAN) with R1 and R2 on D, R3GAN/Trainer.py:
`AccumulateDiscriminatorGradients`: softplus(-(D(x) - D(G(z)))) + (gamma / 2) *
(R1 + R2) per example, R1 and R2 the squared norms of D's input gradients on
real and fake images (`ZeroCenteredGradientPenalty`: summed over pixels), all
averaged over the batch; `AccumulateGeneratorGradients`: softplus(-(D(G(z)) -
D(x))). jaxgan's `r1_penalty` and `r2_penalty` are those batch means without
a weight, so `loss.r1_weight = loss.r2_weight = gamma / 2`.

The config argument picks the preset:

- 'cifar10' (default): train.py preset 'CIFAR10' (train.py lines 178-196)
  and the README's command (`--batch=512 --mirror=1 --aug=1 --cond=1
  --preset=CIFAR10`): 4 stages (4x4 to 32x32) of width 3 * 1024 / 4 = 768,
  2 residual blocks each, cardinality 3 * 32 = 96 (16 channels per group),
  expansion 2 (line 272), z of 64 (NoiseDimension); Adam(betas=(0, beta2),
  eps=1e-8) (lines 159-160, training_loop.py lines 329-331); batch 512.
  TFDS cifar10, FID with Inception. Unconditional here; the README's `--cond=1`
  is `--config.model.num_classes=10` (G: a 64-d label embedding beside z,
  D: a 768-d projection, train.py lines 185-187).
- 'mnist', 'fashion_mnist': the same design at 32x32x1 (the 28x28 IDX images
  resized to 32: R3GAN sizes are 4 * 2^k) but 128 wide with 16 groups
  (16 channels per group, as CIFAR10's), batch 64, 5,000 steps, the CIFAR10
  preset's starting values (gamma 0.05, lr 2e-4, beta2 0.9); jaxgan's choice
  (the official code has no MNIST preset), so that it trains on one GPU.
- '64': train.py preset 'FFHQ-64' (lines 198-212) and the README's FFHQ 64x64
  command (`--batch=256 --mirror=1 --aug=1`): 5 stages of widths 768 x 4 and
  384, cardinality 96 x 4 and 48; your folder of images (data.path).
- 'tiny': 16x16 on the scikit-learn digits, widths (16, 8, 8), one block per
  stage; for tests and a quick look on a CPU.

  python launch.py --config=configs/r3gan.py
  python launch.py --config=configs/r3gan.py --config.model.num_classes=10
  python launch.py --config=configs/r3gan.py:mnist
  python launch.py --config=configs/r3gan.py:64 --config.data.path=/path/to/ffhq64
  python launch.py --config=configs/r3gan.py:tiny --config.loss.name=non_saturating

`loss.name='relativistic_pairing'` needs that loss in `jaxgan.losses`; until
it is there, train with `--config.loss.name=non_saturating` (or
`relativistic_average`).

Schedules. The official training loop (training/training_loop.py lines
307-311) sets five values before every iteration from the images seen so far
(cur_nimg), each with `cosine_decay_with_warmup` (lines 29-39; no warmup or
hold in any preset):

  value(n) = base + (1 - 0.5 * (1 + cos(pi * n / total))) * (final - base)
             for n <= total, final after

  (a half cosine from base at n = 0 to final at n = total). Per preset
  (train.py lines 189-196 and 205-212), total_nimg = 2e7 images in both:

  | value | CIFAR10 base -> final | FFHQ-64 base -> final |
  | --- | --- | --- |
  | lr (both players) | 2e-4 -> 5e-5 | 2e-4 -> 5e-5 |
  | Adam beta2 (beta1 = 0) | 0.9 -> 0.99 | 0.9 -> 0.99 |
  | gamma (R1 and R2: weight gamma / 2) | 0.05 -> 0.005 | 2 -> 0.2 |
  | augmentation probability p | 0 -> 0.55 | 0 -> 0.3 |
  | G EMA half-life in images | 0 -> 5e6 | 0 -> 5e5 |

These are jaxgan schedules here (`cosine:FINAL@STEPS`, jaxgan.train.schedules,
which is this formula), over STEPS = 2e7 / batch training steps: in
`config.optimizer.{g,d}.schedules` (lr, beta2) and `config.loss.schedules`
(r1_weight, r2_weight, augment_p). The augmentation is ADA's pipeline with
R3GAN's multipliers (train.py line 300: xflip, rotate90, xint, scale, rotate,
aniso, xfrac 1; brightness, contrast, lumaflip, hue, saturation 0.5), the
'r3gan' pipeline of jaxgan.augment, with p following its schedule
(loss.augment_target = 0: no adaptation). Not ported: the pipeline's cutout (1 in
train.py), `--mirror=1` (x-flips doubling the data) and the EMA half-life's
ramp: train.ema_decay is the final EMA beta, 0.5 ** (batch / half_life)
(training_loop.py line 351), and jaxgan ramps the decay up as
min(decay, (1 + t) / (10 + t)).
"""

import math

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common
from jaxgan.models import r3gan

VARIANTS = ("cifar10", "mnist", "fashion_mnist", "64", "tiny")
# Every schedule of train.py's presets runs over this many images.
DECAY_NIMG = 20_000_000
# jaxgan's choice for MNIST-sized data (see the docstring).
MNIST = dict(stage_widths=(128,) * 4, stage_blocks=(2,) * 4,
             stage_cardinality=(16,) * 4, expansion=2)


def recipe(config: ml_collections.ConfigDict, *, gamma: tuple, aug_p: float,
           steps: int) -> None:
  """R3GAN's objective and schedules (see the docstring) over `steps` steps:
  RpGAN + gamma/2 (R1 + R2) with gamma, lr, beta2 and the augmentation
  probability on half-cosine schedules, Adam(0, beta2)."""
  weight, final = gamma[0] / 2, gamma[1] / 2
  config.loss = common.loss(
      "relativistic_pairing", r1_weight=weight, r2_weight=weight, augment="ada",
      augment_pipeline="r3gan", augment_target=0.0, augment_p=0.0,
      schedules=f"r1_weight=cosine:{final:g}@{steps}, r2_weight=cosine:{final:g}@{steps}, "
                f"augment_p=cosine:{aug_p:g}@{steps}")
  config.optimizer = common.optimizers(
      "adam", 2e-4, b1=0.0, b2=0.9,
      schedules=f"learning_rate=cosine:5e-5@{steps}, b2=cosine:0.99@{steps}")


def _model(preset: dict, **overrides) -> ml_collections.ConfigDict:
  config = common.model("r3gan", **overrides)
  config.update(preset)  # the r3gan keys: models.spec("r3gan").defaults
  return config


def _official(config, preset, *, image_size, batch_size, gamma, aug_p, ema_nimg):
  """An official preset: model, loss, optimizer, training length, schedules."""
  config.model = _model(preset, image_size=image_size, channels=3, latent_dim=64)
  steps = math.ceil(DECAY_NIMG / batch_size)
  recipe(config, gamma=gamma, aug_p=aug_p, steps=steps)
  config.train = common.train(
      batch_size=batch_size, num_steps=steps, ema_decay=0.5 ** (batch_size / ema_nimg),
      log_every=100, sample_every=2000, checkpoint_every=5000)


def get_config(variant: str = "cifar10") -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r} (configs/r3gan.py:VARIANT); "
                     f"valid: {', '.join(VARIANTS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  if variant in ("cifar10", "64"):
    cifar = variant == "cifar10"
    _official(config, r3gan.CIFAR10 if cifar else r3gan.FFHQ64,
              image_size=32 if cifar else 64, batch_size=512 if cifar else 256,
              gamma=(0.05, 0.005) if cifar else (2.0, 0.2),
              aug_p=0.55 if cifar else 0.3, ema_nimg=5e6 if cifar else 5e5)
    config.data = (common.data("tfds", name="cifar10") if cifar
                   else common.data("folder", path=""))
    config.evals = evaluation.default_config()
    config.evals.update(metrics="fid", every=10_000, num_samples=10_000,
                        feature_net="inception", best_metric="fid")
    return config
  small = variant == "tiny"
  config.model = _model(r3gan.TINY if small else MNIST, image_size=16 if small else 32,
                        channels=1, latent_dim=16 if small else 64)
  steps = 200 if small else 5000
  recipe(config, gamma=(0.05, 0.005), aug_p=0.55, steps=steps)  # CIFAR10's, over this run
  config.train = common.train(batch_size=16 if small else 64, num_steps=steps,
                              sample_every=1000, checkpoint_every=1000)
  config.data = common.data("digits") if small else common.mnist_data(variant)
  config.evals = evaluation.default_config() if small else common.mnist_evals(variant)
  return config
