r"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity
Natural Image Synthesis", ICLR, arXiv:1809.11096), as the authors' PyTorch
code trains it (github.com/ajbrock/BigGAN-PyTorch, commit 9845943).

The network is `model.name='biggan'` (jaxgan/models/biggan.py): class-
conditional residual G and D with spectral normalisation on every weight,
G's conditional BatchNorm from a shared class embedding and hierarchical
latents, self-attention, a projection D. Hinge loss; G's parameter EMA for
samples (`train.ema_decay`, 0.9999 as utils.py `--ema_decay`; jaxgan ramps it
up as min(decay, (1 + t) / (10 + t)) instead of the reference's
`--ema_start`); truncated samples with `jaxgan generate --truncation=PSI`.
The config argument picks the setting:

- 'cifar10' (default): scripts/launch_cifar_ema.sh: G_ch = D_ch = 64 (256
  channels in every block at 32 px), z of 128, no shared embedding and no
  hierarchical z (per-class BatchNorm gains and biases), no attention, N(0,
  0.02) init, SN eps 1e-8 (utils.py's default), batch 50, 4 D steps per G
  step, Adam(2e-4, betas (0, 0.999)) for both, no orthogonal regularization,
  500 epochs of CIFAR-10 (125,000 G steps of 4 x 50 images). TFDS cifar10,
  FID with Inception.
- '128': scripts/launch_BigGAN_bs256x8.sh: G_ch = D_ch = 96, attention at
  64x64 in both, shared embedding of 128, hierarchical z of 120 (6 chunks of
  20), orthogonal init, SN eps 1e-6, batch 256 x 8 accumulations = 2048 (one
  batch of 2048 here, BatchNorm over all of it), 1 D step, G lr 1e-4, D lr
  4e-4 (SA-GAN's, README), betas (0, 0.999), 150,000 G steps (README).
  Orthogonal regularization at the paper's 1e-4 (the launch script sets
  --G_ortho 0: its README says the released models were trained without
  it). TFDS imagenet2012 (resized to 128), FID with Inception. Not ported:
  Adam's eps (1e-6 there; optax's 1e-8 here) and G_eval_mode's standing
  statistics (samples use the running ones).
- '64': jaxgan's choice (the reference has no 64 px script): the '128'
  recipe with G_ch = D_ch = 64 and attention at 32x32 (a 64 px D has no
  64x64 block); TFDS imagenet_resized/64x64.
- 'mnist', 'fashion_mnist': the 32 px architecture at G_ch = D_ch = 16 (64
  channels) on the 28x28 IDX images resized to 32, with the ImageNet
  model's parts (shared embedding of 32, hierarchical z of 64, attention at
  16x16 in G, orthogonal init and regularization) and the CIFAR recipe
  (batch 64, 4 D steps, lr 2e-4), 5,000 steps, so that it trains on a CPU;
  FID in the classifier's feature space at the end.

  python launch.py --config=configs/biggan.py
  python launch.py --config=configs/biggan.py:128 --config.data.data_dir=/path/to/tfds
  python launch.py --config=configs/biggan.py:fashion_mnist
  jaxgan generate --workdir=WORKDIR --truncation=0.5
"""

import ml_collections

from jaxgan import evaluation, models
from jaxgan.configs import common

VARIANTS = ("cifar10", "mnist", "fashion_mnist", "64", "128")


def _inception_evals() -> ml_collections.ConfigDict:
  config = evaluation.default_config()
  config.update(metrics="fid", every=10_000, num_samples=10_000, feature_net="inception",
                best_metric="fid")
  return config


def _model(**overrides) -> ml_collections.ConfigDict:
  """`config.model` for BigGAN: the shared keys and BigGAN's own (see
  `jaxgan.models.spec('biggan').defaults`)."""
  config = common.model("biggan")
  config.update(models.spec("biggan").defaults)
  config.update(g_attention="64", d_attention="64")  # the 128 px model's
  config.update(overrides)
  return config


def get_config(variant: str = "cifar10") -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r} (configs/biggan.py:VARIANT); "
                     f"valid: {', '.join(VARIANTS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  if variant == "cifar10":
    config.model = _model(image_size=32, channels=3, latent_dim=128, g_width=64,
                          d_width=64, num_classes=10, shared=False, hierarchical=False,
                          g_attention="0", d_attention="0", init="N02", sn_eps=1e-8)
    config.loss = common.loss("hinge")
    config.optimizer = common.optimizers("adam", 2e-4, b1=0.0, b2=0.999)
    config.train = common.train(batch_size=50, n_critic=4, num_steps=125_000,
                                ema_decay=0.9999, log_every=100, sample_every=2000,
                                checkpoint_every=2000)
    config.data = common.data("tfds", name="cifar10")
    config.evals = _inception_evals()
  elif variant in ("64", "128"):
    size = int(variant)
    config.model = _model(image_size=size, channels=3, latent_dim=120,
                          g_width=96 if size == 128 else 64,
                          d_width=96 if size == 128 else 64, num_classes=1000,
                          g_attention=str(size // 2 if size == 64 else 64),
                          d_attention=str(size // 2 if size == 64 else 64))
    config.loss = common.loss("hinge", ortho_weight=1e-4)
    config.optimizer = common.optimizers("adam", 1e-4, b1=0.0, b2=0.999)
    config.optimizer.d.learning_rate = 4e-4
    config.train = common.train(batch_size=2048, n_critic=1, num_steps=150_000,
                                ema_decay=0.9999, log_every=100, sample_every=2000,
                                checkpoint_every=1000)
    config.data = common.data(
        "tfds", name="imagenet2012" if size == 128 else "imagenet_resized/64x64")
    config.evals = _inception_evals()
  else:
    config.model = _model(image_size=32, channels=1, latent_dim=64, g_width=16,
                          d_width=16, num_classes=10, shared_dim=32, g_attention="16",
                          d_attention="0")
    config.loss = common.loss("hinge", ortho_weight=1e-4)
    config.optimizer = common.optimizers("adam", 2e-4, b1=0.0, b2=0.999)
    config.train = common.train(batch_size=64, n_critic=4, num_steps=5000,
                                ema_decay=0.999, sample_every=1000, checkpoint_every=1000)
    config.data = common.mnist_data(variant)
    config.evals = common.mnist_evals(variant)
  return config
