"""What a run is built from: its data, models, optimizers, initial state, the
compiled step, and the batches that feed it."""

import functools
import json
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from absl import logging

from jaxgan import data as data_lib
from jaxgan import losses, models
from jaxgan.train import objective, polyak, sampling
from jaxgan.train import schedules as schedules_lib
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib
from jaxgan.train import workdir as workdir_lib

# name -> (optax optimizer, the config keys it takes): each is wrapped in
# `optax.inject_hyperparams`, so a key may be a schedule (`schedules` of the
# block, see jaxgan.train.schedules) or a sweep's per-member value.
OPTIMIZERS = {
    "adam": (optax.adam, ("learning_rate", "b1", "b2")),
    "rmsprop": (optax.rmsprop, ("learning_rate", "decay")),
    "sgd": (optax.sgd, ("learning_rate",)),
}
_DEFAULTS = {"decay": 0.9, "eps": 1e-8, "eps_root": 0.0}
# Constants of an optimizer, fixed for the run (never scheduled or swept):
# Adam's eps (outside the square root) and eps_root (inside; improved-gan's
# Theano Adam: eps 0, eps_root 1e-8). inject_hyperparams keeps every numeric
# argument in the state, these too (as it did with optax's defaults before
# they were options): the state, and a checkpoint's layout, are unchanged.
_CONSTANTS = {"adam": ("eps", "eps_root")}


def optimizer_schedules(config: ml_collections.ConfigDict, player: str) -> dict:
  """`config.optimizer.<player>.schedules`, parsed and checked against the
  optimizer's keys."""
  opt = config.optimizer[player]
  keys = OPTIMIZERS[opt.name][1]
  return schedules_lib.parse(opt.get("schedules", ""), keys, f"optimizer.{player}")

# Datasets up to this size are copied to every device, and batches are gathered
# there (only indices cross from the host); larger ones are batched on the host.
MAX_DEVICE_DATA_BYTES = 2 << 30



def model_kind(config: ml_collections.ConfigDict) -> str:
  """What the players of `config.model` are conditioned on, one of
  `models.KINDS`: nothing, class labels, a paired input image, or nothing for
  G and K+1 classes for D (semi-supervised)."""
  return models.kind(config.model)


def make_optimizer(config: ml_collections.ConfigDict, num_steps: int = 0,
                   updates_per_step: int = 1) -> optax.GradientTransformation:
  """One player's optimizer from `config.optimizer.g` or `.d`: `name` with its
  hyperparameters, each following its schedule if `schedules` names it
  (over `num_steps` training steps unless it says, `updates_per_step`
  updates per step), after historical averaging (`historical_averaging`: the
  penalty's weight, 0 for none) and before WGAN weight clipping (`clip`: the
  bound c, 0 for none) and a Polyak average of the parameters (`polyak`: its
  decay, 0 for none; `jaxgan.train.polyak`)."""
  make, keys = OPTIMIZERS[config.name]
  scheduled = schedules_lib.parse(config.get("schedules", ""), keys, "optimizer")
  hyperparams = {k: schedules_lib.fn(scheduled.get(k), config[k] if k in config else _DEFAULTS[k],
                                     num_steps, updates_per_step) for k in keys}
  constants = {k: config.get(k, _DEFAULTS[k]) for k in _CONSTANTS.get(config.name, ())}
  chain = [optax.inject_hyperparams(functools.partial(make, **constants))(**hyperparams)]
  if config.get("historical_averaging", 0.0) > 0:
    chain.insert(0, losses.historical_averaging(config.historical_averaging))
  if config.get("clip", 0.0) > 0:
    chain.append(losses.weight_clipping(config.clip))
  if config.get("polyak", 0.0) > 0:  # last: it averages the updated parameters
    chain.append(polyak.polyak_averaging(config.polyak))
  return chain[0] if len(chain) == 1 else optax.chain(*chain)


def make_optimizers(config: ml_collections.ConfigDict
                    ) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """(G's, D's) optimizer of `config`, with their schedules over the run."""
  return (make_optimizer(config.optimizer.g, config.train.num_steps),
          make_optimizer(config.optimizer.d, config.train.num_steps, config.train.n_critic))


def load_dataset(config: ml_collections.ConfigDict
                 ) -> tuple[data_lib.ImageDataset, data_lib.ImageDataset | None]:
  """The training data of `config.data`, checked against `config.model`, and
  for paired data (`data.pairs`) the held-out pairs that are scored, never
  trained on (else None)."""
  size, channels = config.model.get("image_size", 0), config.model.get("channels", 0)
  held_out = None
  if config.data.get("pairs", ""):
    dataset, held_out = data_lib.split_holdout(
        data_lib.load_paired(config.data, image_size=size, channels=channels),
        config.data.holdout)
  else:
    dataset = data_lib.load(config.data, image_size=size, channels=channels)
  logging.info("Dataset %s: %d images of shape %s.", dataset.name, len(dataset),
               dataset.images.shape[1:])
  if dataset.is_image and dataset.images.shape[-1] != config.model.channels:
    raise ValueError(f"The data has {dataset.images.shape[-1]} channels but "
                     f"config.model.channels={config.model.channels}.")
  return dataset, held_out


def labeled_subset(labels: np.ndarray, num_labeled: int, num_classes: int,
                   seed: int) -> np.ndarray:
  """Indices of the labelled examples of a semi-supervised run: num_labeled /
  num_classes of each class, drawn by `seed` (sorted)."""
  rng = np.random.default_rng((seed, 7))
  per_class = num_labeled // num_classes
  return np.sort(np.concatenate([
      rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
      for c in range(num_classes)]))


def init_from_data(config: ml_collections.ConfigDict, state: state_lib.GANState,
                   dataset: data_lib.ImageDataset) -> state_lib.GANState:
  """`state` with D's data-dependent initialisation done
  (`models.data_init`), on `models.data_init_examples(config.model)` training
  images drawn by the seed (improved-gan: 500); the state unchanged for a
  model without one."""
  n = models.data_init_examples(config.model)
  if n == 0:
    return state
  n = min(n, len(dataset))
  _, discriminator = models.create(config.model, dataset.images.shape[1:])
  rng = np.random.default_rng((config.seed, 11))
  images = data_lib.to_float(dataset.images[np.sort(rng.choice(len(dataset), n, replace=False))])
  d_state = state.discriminator
  params = models.data_init(
      discriminator, {"params": d_state.params, "batch_stats": d_state.batch_stats},
      images, jax.random.PRNGKey(config.seed))
  return state.replace(discriminator=d_state.replace(params=jax.device_get(params)))


def example_cond(config: ml_collections.ConfigDict,
                 cond_shape: tuple | None = None) -> np.ndarray | None:
  """Conditions for initialising the players of `config.model` (a batch of
  2): labels, paired input images of `cond_shape`, or None when the players
  are unconditional."""
  if cond_shape is not None:
    return np.zeros((2, *cond_shape), np.float32)
  return np.zeros((2,), np.int32) if model_kind(config) == "class_conditional" else None


def replicate(tree: Any) -> Any:
  """Copies a host pytree to every local device, laid out as the pmapped
  step lays out its outputs (so the step compiles once, not again on its
  second call as it does for `flax.jax_utils.replicate`'s layout)."""
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()), (step_lib.AXIS,))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(step_lib.AXIS))
  n = jax.local_device_count()
  return jax.tree.map(
      lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (n, *np.shape(x))),
                               sharding), tree)


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


def local_rows(indices: np.ndarray, n_critic: int) -> np.ndarray:
  """One step's global batch indices (n_critic * B,) -> this process's, laid
  out as `shard_batch` lays out that step: (local devices, n_critic, B_dev)."""
  return shard_batch(indices[None], n_critic)[:, 0]


def on_device(config: ml_collections.ConfigDict, dataset: data_lib.ImageDataset) -> bool:
  """Whether the dataset is held on every device (`config.data.on_device`,
  and small enough); never for a dataset read lazily from disk."""
  if data_lib.is_lazy(dataset.images):
    return False
  fits = dataset.images.nbytes <= MAX_DEVICE_DATA_BYTES
  if config.data.on_device and not fits:
    logging.warning("The dataset (%.1f GB) is too large to hold on each device; "
                    "batches are gathered on the host.", dataset.images.nbytes / 1e9)
  return bool(config.data.on_device and fits)


class Batches:
  """A single run's batches: `batches(step, k)` are those of steps step+1 ..
  step+k, sharded for the local devices, and `data` the dataset the step
  gathers them from when it is held on the devices (else None).

  What the step sees of each example: the image, and the label of a
  class-conditional model or the paired input of an image-to-image one; a
  semi-supervised run also gets batches from its labelled subset.
  """

  def __init__(self, config: ml_collections.ConfigDict, dataset: data_lib.ImageDataset,
               start_step: int):
    self._config, self._dataset = config, dataset
    self._n_critic = config.train.n_critic
    self._global_batch = config.train.n_critic * config.train.batch_size
    kind = model_kind(config)
    self._keys = ("image", "label") if kind == "class_conditional" else ("image",)
    if dataset.sources is not None:
      self._keys += ("source",)
    self._labeled = None
    if kind == "semi_supervised":
      self._labeled = labeled_subset(dataset.labels, config.data.num_labeled,
                                     config.model.d_classes, config.seed)
      logging.info("Semi-supervised: %d labelled examples (indices %s...).",
                   len(self._labeled), self._labeled[:5].tolist())
    self._host = None
    self._local = False
    self.data = None
    if on_device(config, dataset):  # only indices travel to the devices
      arrays = {"image": dataset.images, "label": dataset.labels,
                "source": dataset.sources}
      self.data = replicate({key: arrays[key] for key in self._keys})
    else:
      # A lazily read dataset: read and decode only this process's rows (those
      # shard_batch keeps, in its layout), several steps ahead.
      self._local = data_lib.is_lazy(dataset.images)
      select = functools.partial(local_rows, n_critic=self._n_critic) if self._local else None
      prefetch = max(2, config.train.steps_per_call) if self._local else 2
      self._host = data_lib.Batches(dataset, self._global_batch, seed=config.seed,
                                    start_step=start_step, prefetch=prefetch,
                                    select=select)

  def _labeled_batches(self, step: int, k: int) -> dict:
    size = self._n_critic * self._config.train.labeled_batch_size
    idx = self._labeled[np.stack([
        data_lib.batch_indices(len(self._labeled), size, self._config.seed, s)
        for s in range(step, step + k)])]
    return {"labeled_image": shard_batch(self._dataset.images[idx], self._n_critic),
            "labeled_label": shard_batch(self._dataset.labels[idx], self._n_critic)}

  def __call__(self, step: int, k: int) -> dict:
    extra = self._labeled_batches(step, k) if self._labeled is not None else {}
    if self._host is None:
      indices = np.stack([
          data_lib.batch_indices(len(self._dataset), self._global_batch,
                                 self._config.seed, s)
          for s in range(step, step + k)]).astype(np.int32)
      return {"index": shard_batch(indices, self._n_critic), **extra}
    host = [next(self._host) for _ in range(k)]
    if self._local:  # already (local devices, n_critic, B_dev, ...) per step
      return {**{key: np.stack([b[key] for b in host], axis=1) for key in self._keys},
              **extra}
    return {**{key: shard_batch(np.stack([b[key] for b in host]), self._n_critic)
               for key in self._keys}, **extra}

  def close(self) -> None:
    if self._host is not None:
      self._host.close()


# What `build` made, by config: a process that trains the same model again (a
# resumed run, a notebook, tests) reuses the initial state and the compiled
# step and sampler. (The state's static fields, its optimizers and `apply_fn`s,
# are part of the step's cache key, so reusing the step needs the same state.)
_CACHE: dict = {}
_CACHE_SIZE = 4


def _cached(key: tuple, build):
  if key not in _CACHE:
    while len(_CACHE) >= _CACHE_SIZE:
      _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = build()
  return _CACHE[key]


def build(config: ml_collections.ConfigDict, data_shape: tuple,
          cond_shape: tuple | None = None) -> tuple:
  """(initial host state, pmapped train step, jitted sampler) for `config`;
  `cond_shape`: the shape of one paired input image, for image-to-image models
  (whose sampler is `sampler(variables, z, cond, rng)`)."""
  flat = workdir_lib.flatten(json.loads(config.to_json_best_effort()))

  def key(kind, ignored):
    return (kind, json.dumps({k: v for k, v in flat.items() if k not in ignored},
                             sort_keys=True, default=repr),
            tuple(data_shape), cond_shape, tuple(d.id for d in jax.devices()))

  def build_state():
    generator, discriminator = models.create(config.model, data_shape,
                                             axis_name=step_lib.AXIS)
    return generator, discriminator, jax.device_get(state_lib.create(
        jax.random.PRNGKey(config.seed), generator, discriminator,
        *make_optimizers(config),
        latent_dim=config.model.latent_dim,
        image_shape=data_shape, ema_decay=config.train.ema_decay,
        cond=example_cond(config, cond_shape), terms=objective.initial_states(config.loss)))

  # skip_nonfinite changes the step, not the initial state.
  # A schedule without @STEPS runs over train.num_steps: the optimizers (in
  # the state) and the objective (in the step) depend on it then.
  scheduled = any(block.get("schedules", "") for block in
                  (config.optimizer.g, config.optimizer.d, config.loss))
  num_steps = ("train.num_steps",) if scheduled else ()
  ignored = lambda keys: tuple(k for k in keys if k not in num_steps)
  generator, discriminator, state = _cached(
      key("state", ignored(workdir_lib.RESUMABLE_KEYS)), build_state)

  def build_functions():
    p_train_step = step_lib.make_train_step(generator, discriminator, config,
                                            num_devices=jax.device_count())
    return p_train_step, sampling.make_sampler(config, data_shape,
                                               paired=cond_shape is not None)

  return (state, *_cached(key("functions", ignored(workdir_lib.SCHEDULE_KEYS)),
                          build_functions))
