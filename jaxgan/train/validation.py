"""Checks of a config and its data, before anything is compiled."""

import jax
import ml_collections
import numpy as np

from jaxgan import data as data_lib
from jaxgan import losses, models
from jaxgan.train import objective, schedules, setup


def check_config(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
  """Rejects a config that cannot work, before any data is read or code compiled.

  `num_devices`: the devices one run's batch is split over (default: all of
  them, `jax.device_count()`); 1 for a member of a vectorised sweep, which
  computes a single run on one device."""
  num_devices = num_devices or jax.device_count()
  models.check(config.model)
  if config.data.source not in data_lib.SOURCES:
    raise ValueError(f"Unknown data source {config.data.source!r} (config.data.source); "
                     f"valid: {', '.join(data_lib.SOURCES)}.")
  for player in ("g", "d"):
    opt = config.optimizer[player]
    if opt.name not in setup.OPTIMIZERS:
      raise ValueError(f"Unknown optimizer {opt.name!r} (config.optimizer.{player}."
                       f"name); valid names: {', '.join(sorted(setup.OPTIMIZERS))}.")
    setup.optimizer_schedules(config, player)
    if not opt.learning_rate > 0:
      raise ValueError(f"config.optimizer.{player}.learning_rate must be positive, "
                       f"got {opt.learning_rate}.")
  train = config.train
  for key in ("num_steps", "n_critic", "batch_size", "log_every", "sample_every",
              "checkpoint_every", "steps_per_call", "max_checkpoints", "num_samples"):
    if train[key] <= 0:
      raise ValueError(f"config.train.{key} must be positive, got {train[key]}.")
  schedules.g_updates(train)  # a known G-update schedule that fits n_critic
  if config.seed < 0:
    raise ValueError(f"config.seed must be >= 0, got {config.seed}.")
  if train.batch_size % num_devices:
    raise ValueError(
        f"config.train.batch_size={train.batch_size} is not divisible by the "
        f"{num_devices} devices; choose a multiple of {num_devices}.")
  pack = config.model.get("pack", 1)
  if pack > 1 and (train.batch_size // num_devices) % pack:
    raise ValueError(
        f"config.train.batch_size={train.batch_size} gives {num_devices} "
        f"device(s) {train.batch_size // num_devices} samples each, which the "
        f"discriminator cannot split into packs of config.model.pack={pack}; choose "
        f"a batch size divisible by {pack * num_devices}.")
  if not 0 <= train.ema_decay < 1:
    raise ValueError(f"config.train.ema_decay must be in [0, 1), got {train.ema_decay}.")
  if train.get("ema_rampup", 0.0) < 0:
    raise ValueError(f"config.train.ema_rampup must be >= 0 (0: TF's warm-up), got "
                     f"{train.ema_rampup}.")
  kind = setup.model_kind(config)
  objective.check_config(config, kind)
  if kind == "semi_supervised" and not config.loss.get("semi_supervised_weight", 0.0) > 0:
    raise ValueError(f"Model {config.model.name!r} is trained semi-supervised: set "
                     "config.loss.semi_supervised_weight > 0 (the supervised loss weight).")
  _check_pairs(config)
  _check_g_batch(config)


def _check_g_batch(config: ml_collections.ConfigDict) -> None:
  """`train.g_batch_multiple` k: a positive integer; k > 1 (G's own k x
  batch_size samples) needs an unconditional G and a G loss that does not
  pair each generated sample with a real one."""
  k = config.train.get("g_batch_multiple", 1)
  if not isinstance(k, int) or k < 1:
    raise ValueError(f"config.train.g_batch_multiple must be an integer >= 1, got {k!r}.")
  if k == 1:
    return
  kind = setup.model_kind(config)
  if kind in ("class_conditional", "paired"):
    raise ValueError(
        f"config.train.g_batch_multiple={k} gives G's update samples of its own, "
        f"which have no {'class labels' if kind == 'class_conditional' else 'inputs'} "
        f"to condition the {kind.replace('_', '-')} model {config.model.name!r} on; "
        "set it to 1.")
  batch = config.train.batch_size
  logits = lambda n: jax.ShapeDtypeStruct((n,), np.float32)
  try:
    jax.eval_shape(losses.get(config.loss.name).g_loss, logits(batch), logits(k * batch))
  except ValueError as e:
    raise ValueError(
        f"config.train.g_batch_multiple={k}: the G loss of config.loss.name="
        f"{config.loss.name!r} pairs each generated sample with a real one, so G's "
        f"batch must be the real batch's size; set it to 1 ({e})") from None


def _check_pairs(config: ml_collections.ConfigDict) -> None:
  """Image-to-image models need paired data (`config.data.pairs`)."""
  pairs = config.data.get("pairs", "")
  paired_model = setup.model_kind(config) == "paired"
  if pairs and pairs not in data_lib.PAIRS:
    raise ValueError(f"Unknown config.data.pairs={pairs!r}; valid: "
                     f"{', '.join(data_lib.PAIRS)}.")
  if paired_model and not pairs:
    raise ValueError(f"Model {config.model.name!r} translates paired images: set "
                     f"config.data.pairs to one of {', '.join(data_lib.PAIRS)}.")
  if pairs and config.data.source == "arrayrecord":
    raise ValueError(f"config.data.pairs={pairs!r} makes its pairs in memory; "
                     "config.data.source='arrayrecord' streams unpaired images. "
                     "Use data.source='folder' for paired data.")
  if pairs and not paired_model:
    raise ValueError(f"config.data.pairs={pairs!r} needs an image-to-image model "
                     f"(config.model.name in {', '.join(models.names('paired'))}).")
  if pairs and config.get("evals") and config.evals.metrics:
    raise ValueError("config.evals.metrics score unconditional samples; paired models "
                     "are scored against their targets (L1, PSNR, SSIM on "
                     "config.data.holdout pairs): set config.evals.metrics=''.")
  if pairs and config.data.get("holdout", 0) <= 0:
    raise ValueError(f"config.data.holdout must be positive for paired data, got "
                     f"{config.data.get('holdout', 0)}.")


def check_data(config: ml_collections.ConfigDict, dataset: data_lib.ImageDataset) -> None:
  """Rejects data a class-conditional or semi-supervised model cannot use."""
  conditional = setup.model_kind(config) == "class_conditional"
  semi = setup.model_kind(config) == "semi_supervised"
  if not (conditional or semi):
    return
  key = "num_classes" if conditional else "d_classes"
  what = "class-conditional" if conditional else "semi-supervised"
  if dataset.labels is None:
    raise ValueError(f"Model {config.model.name!r} is {what} but the dataset "
                     f"{dataset.name} has no labels; choose labelled data "
                     "(config.data.source: digits, idx, tfds).")
  k = config.model[key]
  if dataset.num_classes != k:
    raise ValueError(f"The dataset {dataset.name} has {dataset.num_classes} classes "
                     f"but config.model.{key}={k}.")
  if semi:
    per_class = config.data.num_labeled // k
    fewest = np.bincount(dataset.labels, minlength=k).min()
    if per_class > fewest:
      raise ValueError(f"config.data.num_labeled={config.data.num_labeled} asks for "
                       f"{per_class} examples per class; the smallest class of "
                       f"{dataset.name} has {fewest}.")
