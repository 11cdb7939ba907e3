"""`train_and_evaluate(config, workdir)`: the training loop around the step."""

import json
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
import tqdm
from absl import logging
from flax import jax_utils

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import losses, models
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib
from jaxgan.train import writers

_OPTIMIZERS = {
    "adam": lambda c: optax.inject_hyperparams(optax.adam)(
        learning_rate=c.learning_rate, b1=c.b1, b2=c.b2),
    "rmsprop": lambda c: optax.inject_hyperparams(optax.rmsprop)(
        learning_rate=c.learning_rate),
    "sgd": lambda c: optax.inject_hyperparams(optax.sgd)(learning_rate=c.learning_rate),
}

# Keys that may change when a run is resumed: how long, how often to log, and
# how the same computation is scheduled.
_RESUMABLE_KEYS = ("train.num_steps", "train.log_every", "train.sample_every",
                   "train.checkpoint_every", "train.steps_per_call", "data.on_device")

# Datasets up to this size are copied to every device, and batches are gathered
# there (only indices cross from the host); larger ones are batched on the host.
_MAX_DEVICE_DATA_BYTES = 2 << 30


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """One player's optimizer from `config.optimizer.g` or `.d`."""
  return _OPTIMIZERS[config.name](config)


def check_config(config: ml_collections.ConfigDict) -> None:
  """Rejects a config that cannot work, before any data is read or code compiled."""
  models.check(config.model)
  if config.data.source not in data_lib.SOURCES:
    raise ValueError(f"Unknown data source {config.data.source!r} (config.data.source); "
                     f"valid: {', '.join(data_lib.SOURCES)}.")
  if config.loss.name not in losses.names():
    raise ValueError(f"Unknown loss {config.loss.name!r} (config.loss.name); valid "
                     f"names: {', '.join(losses.names())}.")
  for player in ("g", "d"):
    opt = config.optimizer[player]
    if opt.name not in _OPTIMIZERS:
      raise ValueError(f"Unknown optimizer {opt.name!r} (config.optimizer.{player}."
                       f"name); valid names: {', '.join(sorted(_OPTIMIZERS))}.")
    if not opt.learning_rate > 0:
      raise ValueError(f"config.optimizer.{player}.learning_rate must be positive, "
                       f"got {opt.learning_rate}.")
  train = config.train
  for key in ("num_steps", "n_critic", "batch_size", "log_every", "sample_every",
              "checkpoint_every", "steps_per_call"):
    if train[key] <= 0:
      raise ValueError(f"config.train.{key} must be positive, got {train[key]}.")
  if train.batch_size % jax.device_count():
    raise ValueError(
        f"config.train.batch_size={train.batch_size} is not divisible by the "
        f"{jax.device_count()} devices; choose a multiple of {jax.device_count()}.")
  if not 0 <= train.ema_decay < 1:
    raise ValueError(f"config.train.ema_decay must be in [0, 1), got {train.ema_decay}.")
  if config.loss.gp_weight < 0:
    raise ValueError(f"config.loss.gp_weight must be >= 0, got {config.loss.gp_weight}.")
  if config.loss.gp_weight > 0 and config.model.d_batch_norm:
    logging.warning(
        "The gradient penalty is per-example, but the discriminator uses BatchNorm, "
        "which mixes examples; set config.model.d_batch_norm=False (as in WGAN-GP).")


def _flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
  out = {}
  for key, value in config.items():
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def _check_workdir_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a workdir that holds a run with a different config."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = _flatten(json.load(f))
  new = _flatten(json.loads(config.to_json_best_effort()))
  changed = sorted(k for k in old.keys() | new.keys()
                   if old.get(k) != new.get(k) and k not in _RESUMABLE_KEYS)
  if changed:
    diff = "\n  ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
    raise ValueError(
        f"{workdir} holds a run with a different config:\n  {diff}\n"
        "Resume it with the same config, or train in another --workdir.")


def _write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Saves the resolved config as workdir/config.json (atomically)."""
  path = os.path.join(workdir, "config.json")
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def shard_batch(x: np.ndarray, n_critic: int, num_devices: int | None = None) -> np.ndarray:
  """Global batches of K steps -> this process's per-device slices.

  (K, n_critic * B, ...) -> (local devices, K, n_critic, B_dev, ...): each
  process keeps its rows of every critic sub-batch, split over its devices.
  """
  k = x.shape[0]
  x = x.reshape(k, n_critic, -1, *x.shape[2:])
  per_process = x.shape[2] // jax.process_count()
  start = jax.process_index() * per_process
  x = x[:, :, start:start + per_process]
  num_devices = num_devices or jax.local_device_count()
  x = x.reshape(k, n_critic, num_devices, -1, *x.shape[3:])
  return np.moveaxis(x, 2, 0)


def _steps_until_event(step: int, train_cfg: ml_collections.ConfigDict) -> int:
  """Steps from `step` to the next log, sample, checkpoint or the end."""
  intervals = (train_cfg.log_every, train_cfg.sample_every, train_cfg.checkpoint_every)
  return min([train_cfg.num_steps - step] + [i - step % i for i in intervals])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> Any:
  """Trains a GAN as `config` says, writing samples, metrics and checkpoints to
  `workdir` and resuming from the latest checkpoint there.

  Returns:
    The final state (host copy, numpy arrays).
  """
  check_config(config)
  _check_workdir_config(config, workdir)
  is_main = jax.process_index() == 0
  train_cfg = config.train

  dataset = data_lib.load(config.data, image_size=config.model.get("image_size", 0),
                          channels=config.model.get("channels", 0))
  logging.info("Dataset %s: %d images of shape %s.", dataset.name, len(dataset),
               dataset.images.shape[1:])
  if dataset.is_image and dataset.images.shape[-1] != config.model.channels:
    raise ValueError(f"The data has {dataset.images.shape[-1]} channels but "
                     f"config.model.channels={config.model.channels}.")

  data_shape = dataset.images.shape[1:]
  generator, discriminator = models.create(config.model, data_shape,
                                           axis_name=step_lib.AXIS)
  state = state_lib.create(
      jax.random.PRNGKey(config.seed), generator, discriminator,
      make_optimizer(config.optimizer.g), make_optimizer(config.optimizer.d),
      latent_dim=config.model.latent_dim,
      image_shape=data_shape, ema_decay=train_cfg.ema_decay)
  state = jax.device_get(state)

  os.makedirs(workdir, exist_ok=True)
  if is_main:
    _write_config(config, workdir)
  checkpointer = checkpoint_lib.Checkpointer(
      os.path.join(workdir, "checkpoints"), max_to_keep=train_cfg.max_checkpoints)
  start_step = 0
  if checkpointer.latest_step() is not None:
    start_step, state, data_position = checkpointer.restore(state)
    if data_position["batches_seen"] != start_step:
      raise checkpoint_lib.CheckpointError(
          f"Checkpoint {start_step} in {checkpointer.directory} records "
          f"{data_position['batches_seen']} batches seen; it is inconsistent.")
    logging.info("Resumed from step %d in %s.", start_step, checkpointer.directory)

  global_batch = train_cfg.n_critic * train_cfg.batch_size
  on_device = config.data.on_device and dataset.images.nbytes <= _MAX_DEVICE_DATA_BYTES
  if config.data.on_device and not on_device:
    logging.warning("The dataset (%.1f GB) is too large to hold on each device; "
                    "batches are gathered on the host.", dataset.images.nbytes / 1e9)
  if on_device:  # Only indices travel to the devices; images are gathered there.
    device_images = jax_utils.replicate(dataset.images)
    batches = None
  else:
    device_images = None
    batches = data_lib.Batches(dataset, global_batch, seed=config.seed,
                               start_step=start_step)

  def next_batches(step: int, k: int) -> dict:
    """The batches of steps step+1 .. step+k, sharded for the local devices."""
    if on_device:
      indices = np.stack([data_lib.batch_indices(len(dataset), global_batch, config.seed, s)
                          for s in range(step, step + k)]).astype(np.int32)
      return {"index": shard_batch(indices, train_cfg.n_critic)}
    images = np.stack([next(batches)["image"] for _ in range(k)])
    return {"image": shard_batch(images, train_cfg.n_critic)}

  p_train_step = step_lib.make_train_step(generator, discriminator, config,
                                          num_devices=jax.device_count())
  step_rng = jax_utils.replicate(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1))
  state = jax_utils.replicate(state)

  # Samples use the batch statistics of the fixed latent batch (as the DCGAN
  # reference does): running averages belong to the raw, not the EMA, weights.
  sampler = jax.jit(lambda variables, z: models.create(config.model, data_shape)[0].apply(
      variables, z, train=True, mutable=["batch_stats"])[0])
  sample_z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2),
                               (train_cfg.num_samples, config.model.latent_dim))
  sample_dir = os.path.join(workdir, "samples")
  os.makedirs(sample_dir, exist_ok=True)
  writer = writers.MetricWriter(workdir, enabled=is_main)

  def save_samples(step: int) -> None:
    first = jax.tree.map(lambda x: x[0], state)
    samples = jax.device_get(sampler(state_lib.sampling_params(first), sample_z))
    if dataset.is_image:
      grid = writers.image_grid(samples)
    else:
      grid = writers.scatter_plot(samples, reference=dataset.images[:2500])
    if is_main:
      writers.save_png(os.path.join(sample_dir, f"step_{step:07d}.png"), grid)
      writer.write_image(step, "samples", grid)

  def save_checkpoint(step: int) -> None:
    checkpointer.save(step, checkpoint_lib.host_copy(state),
                      {"seed": config.seed, "batches_seen": step,
                       "global_batch": global_batch})

  progress = tqdm.tqdm(total=train_cfg.num_steps, initial=start_step, disable=not is_main,
                       desc="train", unit="step", dynamic_ncols=True)
  last_log_time, last_log_step = time.time(), start_step
  step = start_step
  while step < train_cfg.num_steps:
    k = min(train_cfg.steps_per_call, _steps_until_event(step, train_cfg))
    state, metrics = p_train_step(state, next_batches(step, k), step_rng, device_images)
    step += k
    progress.update(k)
    if step % train_cfg.log_every == 0 or step == train_cfg.num_steps:
      metrics = jax.device_get(jax.tree.map(lambda x: x[0], metrics))
      now = time.time()
      metrics["steps_per_sec"] = (step - last_log_step) / (now - last_log_time)
      last_log_time, last_log_step = now, step
      writer.write_scalars(step, metrics)
      progress.set_postfix(d_loss=f"{metrics['d_loss']:.3f}",
                           g_loss=f"{metrics['g_loss']:.3f}")
    if step % train_cfg.sample_every == 0 or step == train_cfg.num_steps:
      save_samples(step)
    if step % train_cfg.checkpoint_every == 0 or step == train_cfg.num_steps:
      save_checkpoint(step)
  progress.close()
  if batches is not None:
    batches.close()
  checkpointer.wait()
  checkpointer.close()
  writer.close()
  return checkpoint_lib.host_copy(state)
