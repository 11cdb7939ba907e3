"""Config blocks that every config shares, with every key it may override.

Configs are locked (`--config.loss.label_smoothing=0.1` must name a key that
exists), so each block lists all its keys with their off values.
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.train import objective


def loss(name: str = "non_saturating", **overrides) -> ml_collections.ConfigDict:
  """`config.loss`: the adversarial pair `name` (one of jaxgan.losses.names()),
  `adv_weight` (G's adversarial loss weight), `label_smoothing` (one-sided:
  real target 1 - s) and every registered term's `<term>_weight` (0: off)
  and options, from `jaxgan.train.objective` (the table in docs/losses.md)."""
  return objective.default_config(name, **overrides)


def optimizer(name: str = "adam", learning_rate: float = 2e-4, **overrides
              ) -> ml_collections.ConfigDict:
  """One player's optimizer (`config.optimizer.g` or `.d`)."""
  config = ml_collections.ConfigDict(dict(
      name=name,  # adam | rmsprop | sgd
      learning_rate=learning_rate,
      b1=0.5, b2=0.999,  # adam
      eps=1e-8, eps_root=0.0,  # adam: outside / inside the square root (optax's meaning)
      decay=0.9,  # rmsprop
      historical_averaging=0.0,  # weight of ||theta - mean(past thetas)||^2; 0: off
      clip=0.0,  # WGAN weight clipping bound c after each update; 0: off
      polyak=0.0,  # decay of a Polyak average of the parameters (jaxgan.train.polyak); 0: off
      # e.g. "learning_rate=linear:0" or "learning_rate=cosine:5e-5@200000+1000,
      # b2=cosine:0.99": see jaxgan.train.schedules
      schedules="",
  ))
  config.update(overrides)
  return config


def model(name: str = "dcgan", **overrides) -> ml_collections.ConfigDict:
  """`config.model`: the architecture (see `jaxgan.models`); every key, off
  where it is an option."""
  config = ml_collections.ConfigDict(dict(
      name=name,  # one of jaxgan.models.names()
      variant="wgan_gp",  # resnet only: wgan_gp | sngan (SN, sum pooling)
      image_size=32,
      channels=1,
      latent_dim=100,
      g_width=64,  # generator width (DCGAN: its last hidden map, ngf)
      d_width=64,  # discriminator width (DCGAN: its first map, ndf)
      depth=3,  # mlp only: hidden layers
      g_batch_norm=False,  # mlp only: BatchNorm after G's hidden layers
      d_dropout=0.0,  # mlp only: dropout rate on D's hidden layers in training
      d_norm="batch",  # dcgan discriminator: batch | layer | none
      g_norm="batch",  # dcgan generator: batch | virtual_batch (Salimans et al.)
      g_reference_size=64,  # dcgan, g_norm=virtual_batch: reference latents
      d_spectral_norm=False,  # spectral normalisation of every D layer
      minibatch_discrimination=0,  # kernels (Salimans et al. 2016); 0: off
      minibatch_stddev=0,  # group size (Karras et al. 2018); 0: off
      pack=1,  # dcgan, mlp: PacGAN's samples per D input (Lin et al. 2018); 1: off
      num_classes=0,  # > 0: class-conditional (resnet: cond. BN, projection D)
      dtype="float32",  # computation dtype; "bfloat16" for mixed precision
      conv_impl="auto",  # dcgan: stride-2 layers, see jaxgan.models.layers
  ))
  config.update(overrides)
  return config


def data(source: str = "digits", **overrides) -> ml_collections.ConfigDict:
  """`config.data`: where the images come from (see `jaxgan.data.load`)."""
  config = ml_collections.ConfigDict(dict(
      source=source,  # digits | tfds | idx | folder | stacked_mnist | arrayrecord
      name="",  # TFDS name for source=tfds, e.g. mnist, fashion_mnist, cifar10
      split="train",
      # directory for source=idx, folder and stacked_mnist; for arrayrecord,
      # the output of `jaxgan prepare` (docs/data.md)
      path="",
      data_dir="",  # TFDS data_dir; empty for TFDS's default
      download=False,  # TFDS only: download and prepare when not found
      skip_corrupt=True,  # folder only: skip undecodable files (with a warning)
      # folder only, when greyscale and colour images are mixed: "convert" all
      # to model.channels (with a warning that counts them) or "error"
      mixed_channels="convert",
      # stacked_mnist: images drawn (0: 128,000, PacGAN's); other sources: keep
      # this many (class-balanced when labelled), e.g. 6000 = 10% of Fashion-MNIST
      num_examples=0,
      seed=0,  # the seed they are drawn with (stacked_mnist: the digit triples)
      # keep the images on each device (up to 2 GB; never arrayrecord); batch there
      on_device=True,
  ))
  config.update(overrides)
  return config


def train(**overrides) -> ml_collections.ConfigDict:
  """`config.train`: batch, schedule, logging and checkpointing."""
  config = ml_collections.ConfigDict(dict(
      batch_size=64,
      n_critic=1,  # discriminator updates per generator update
      # which steps end with G's update (jaxgan.train.schedules.G_UPDATES):
      # 'every_step', or 'wgan_boost' (100 critic updates before G's first 25
      # updates and every 500th, as the reference WGAN code)
      g_updates="every_step",
      # G's update on the last D update's samples (1: one G forward pass for
      # both, the canonical DCGAN loop), or on k x batch_size samples of its
      # own (k > 1; the official SNGAN and WGAN-GP CIFAR-10 codes use 2)
      g_batch_multiple=1,
      steps_per_call=10,  # training steps per compiled call (lax.scan)
      num_steps=1500,
      ema_decay=0.999,  # generator parameter EMA for samples; 0 turns it off
      # its ramp-up: 0, TF's (1 + t) / (10 + t); r > 0, StyleGAN2's half-life
      # ramp over t * batch * r images (jaxgan.train.step.ema_decay_at)
      ema_rampup=0.0,
      log_every=50,
      sample_every=250,
      num_samples=64,
      checkpoint_every=500,
      max_checkpoints=3,
      # A step with a non-finite loss or gradient stops training with an error
      # (and workdir/divergence.json); True skips such updates instead.
      skip_nonfinite=False,
  ))
  config.update(overrides)
  return config


# The offline MNIST-format datasets (../shared/data, see its README) and the
# classifier whose feature space their FID is measured in.
MNIST_DATASETS = ("mnist", "fashion_mnist")


def mnist_data(dataset: str = "mnist") -> ml_collections.ConfigDict:
  """`config.data` for MNIST or Fashion-MNIST from IDX files in ../shared/data."""
  if dataset not in MNIST_DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r} (the config argument); valid: "
                     f"{', '.join(MNIST_DATASETS)}.")
  return data("idx", path=f"../shared/data/{dataset}")


def mnist_evals(dataset: str = "mnist", metrics: str = "fid"
                ) -> ml_collections.ConfigDict:
  """`config.evals`: FID (10,000 samples) in the feature space of jaxgan's
  classifier for `dataset`, at the end of training."""
  config = evaluation.default_config()
  config.update(metrics=metrics, every=0, num_samples=10_000,
                feature_net=f"classifier_{dataset}")
  return config


def optimizers(name: str = "adam", learning_rate: float = 2e-4, **overrides
               ) -> ml_collections.ConfigDict:
  """`config.optimizer`: the same optimizer for both players (override
  `config.optimizer.d.learning_rate` for TTUR, Heusel et al. 2017)."""
  return ml_collections.ConfigDict(dict(
      g=optimizer(name, learning_rate, **overrides),
      d=optimizer(name, learning_rate, **overrides)))


def upgrade(saved: dict) -> dict:
  """A config as a run saved it (its config.json, a nested dict) in today's
  options: a retired option is dropped and its value carried by the option
  that replaced it, so an older run still resumes, generates and evaluates.

  Retired: `model.d_batch_norm` (False turned `d_norm='batch'` into no
  normalisation; now `d_norm='none'`)."""
  model = dict(saved.get("model") or {})
  if "d_batch_norm" not in model:
    return saved
  if not model.pop("d_batch_norm") and model.get("d_norm") == "batch":
    model["d_norm"] = "none"
  return {**saved, "model": model}
