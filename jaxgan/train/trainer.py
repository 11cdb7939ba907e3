"""`train_and_evaluate(config, workdir)`: the training loop around the step."""

import json
import os
import shutil
import signal
import threading
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
import tqdm
from absl import logging
from jax.experimental import multihost_utils

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import evaluation, losses, models
from jaxgan.train import objective, writers
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib

_OPTIMIZERS = {
    "adam": lambda c: optax.inject_hyperparams(optax.adam)(
        learning_rate=c.learning_rate, b1=c.b1, b2=c.b2),
    "rmsprop": lambda c: optax.inject_hyperparams(optax.rmsprop)(
        learning_rate=c.learning_rate, decay=c.get("decay", 0.9)),
    "sgd": lambda c: optax.inject_hyperparams(optax.sgd)(learning_rate=c.learning_rate),
}

# Keys that may change when a run is resumed: how long, how often to log, how
# the same computation is scheduled, and whether non-finite steps are skipped
# (so a diverged run can go on with skipping).
_SCHEDULE_KEYS = ("train.num_steps", "train.log_every", "train.sample_every",
                  "train.checkpoint_every", "train.steps_per_call", "data.on_device")
_RESUMABLE_KEYS = _SCHEDULE_KEYS + ("train.skip_nonfinite",)

# Datasets up to this size are copied to every device, and batches are gathered
# there (only indices cross from the host); larger ones are batched on the host.
_MAX_DEVICE_DATA_BYTES = 2 << 30


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """One player's optimizer from `config.optimizer.g` or `.d`: `name` with its
  hyperparameters, after historical averaging (`historical_averaging`: the
  penalty's weight, 0 for none) and before WGAN weight clipping (`clip`: the
  bound c, 0 for none)."""
  chain = [_OPTIMIZERS[config.name](config)]
  if config.get("historical_averaging", 0.0) > 0:
    chain.insert(0, losses.historical_averaging(config.historical_averaging))
  if config.get("clip", 0.0) > 0:
    chain.append(losses.weight_clipping(config.clip))
  return chain[0] if len(chain) == 1 else optax.chain(*chain)


def check_config(config: ml_collections.ConfigDict) -> None:
  """Rejects a config that cannot work, before any data is read or code compiled."""
  models.check(config.model)
  if config.data.source not in data_lib.SOURCES:
    raise ValueError(f"Unknown data source {config.data.source!r} (config.data.source); "
                     f"valid: {', '.join(data_lib.SOURCES)}.")
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
              "checkpoint_every", "steps_per_call", "max_checkpoints", "num_samples"):
    if train[key] <= 0:
      raise ValueError(f"config.train.{key} must be positive, got {train[key]}.")
  if config.seed < 0:
    raise ValueError(f"config.seed must be >= 0, got {config.seed}.")
  if train.batch_size % jax.device_count():
    raise ValueError(
        f"config.train.batch_size={train.batch_size} is not divisible by the "
        f"{jax.device_count()} devices; choose a multiple of {jax.device_count()}.")
  pack = config.model.get("pack", 1)
  if pack > 1 and (train.batch_size // jax.device_count()) % pack:
    raise ValueError(
        f"config.train.batch_size={train.batch_size} gives {jax.device_count()} "
        f"device(s) {train.batch_size // jax.device_count()} samples each, which the "
        f"discriminator cannot split into packs of config.model.pack={pack}; choose "
        f"a batch size divisible by {pack * jax.device_count()}.")
  if not 0 <= train.ema_decay < 1:
    raise ValueError(f"config.train.ema_decay must be in [0, 1), got {train.ema_decay}.")
  objective.check_config(config, models.kind(config.model))
  if models.is_semi_supervised(config.model) and not config.loss.get(
      "semi_supervised_weight", 0.0) > 0:
    raise ValueError(f"Model {config.model.name!r} is trained semi-supervised: set "
                     "config.loss.semi_supervised_weight > 0 (the supervised loss weight).")
  _check_pairs(config)


def _check_pairs(config: ml_collections.ConfigDict) -> None:
  """Image-to-image models need paired data (`config.data.pairs`)."""
  pairs = config.data.get("pairs", "")
  paired_model = config.model.name in models.PAIRED
  if pairs and pairs not in data_lib.PAIRS:
    raise ValueError(f"Unknown config.data.pairs={pairs!r}; valid: "
                     f"{', '.join(data_lib.PAIRS)}.")
  if paired_model and not pairs:
    raise ValueError(f"Model {config.model.name!r} translates paired images: set "
                     f"config.data.pairs to one of {', '.join(data_lib.PAIRS)}.")
  if pairs and not paired_model:
    raise ValueError(f"config.data.pairs={pairs!r} needs an image-to-image model "
                     f"(config.model.name in {', '.join(models.PAIRED)}).")
  if pairs and config.get("evals") and config.evals.metrics:
    raise ValueError("config.evals.metrics score unconditional samples; paired models "
                     "are scored against their targets (L1, PSNR, SSIM on "
                     "config.data.holdout pairs): set config.evals.metrics=''.")
  if pairs and config.data.get("holdout", 0) <= 0:
    raise ValueError(f"config.data.holdout must be positive for paired data, got "
                     f"{config.data.get('holdout', 0)}.")


def _triptych(sources: np.ndarray, fakes: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Rows of source | generated | target (floats in [-1, 1]) for a sample
  grid; sources are enlarged (nearest) and given the targets' channels."""
  factor = targets.shape[1] // sources.shape[1]
  sources = sources.repeat(factor, axis=1).repeat(factor, axis=2)
  sources = np.broadcast_to(sources[..., :1], targets.shape) if (
      sources.shape[-1] != targets.shape[-1]) else sources
  return np.stack([sources, fakes, targets], axis=1).reshape(-1, *targets.shape[1:])


def paired_scores(fakes: np.ndarray, targets: np.ndarray,
                  sources: np.ndarray | None = None) -> dict:
  """L1 (in [-1, 1] units, as the loss), PSNR and SSIM (on 0..255 pixels) of
  generated images against their targets (floats in [-1, 1]), and, given
  smaller `sources` (uint8), of their bicubic enlargement, for comparison."""
  l1 = np.mean(np.abs(np.asarray(fakes, np.float64) - np.asarray(targets, np.float64)))
  pixels = lambda x: np.clip(np.round((np.asarray(x, np.float64) + 1) * 127.5), 0, 255)
  fakes, targets_f = pixels(fakes), pixels(targets)
  scores = {"l1": float(l1),
            "psnr": float(np.mean(evaluation.psnr(fakes, targets_f))),
            "ssim": float(np.mean(evaluation.ssim(fakes, targets_f)))}
  if sources is not None and sources.shape[1] < targets.shape[1]:
    bicubic = data_lib.upsample_bicubic(sources, targets.shape[1:3]).astype(np.float64)
    scores["bicubic_psnr"] = float(np.mean(evaluation.psnr(bicubic, targets_f)))
    scores["bicubic_ssim"] = float(np.mean(evaluation.ssim(bicubic, targets_f)))
  return scores


class DivergenceError(RuntimeError):
  """A training step produced a non-finite loss or gradient."""


class TrainingInterrupted(Exception):
  """Training stopped on SIGTERM or SIGINT, after saving a checkpoint.

  Attributes:
    signum: the signal received.
    step: the step training stopped at (and saved).
  """

  def __init__(self, signum: int, step: int, message: str):
    super().__init__(message)
    self.signum, self.step = signum, step


def _flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
  out = {}
  for key, value in config.items():
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def _check_workdir_config(config: ml_collections.ConfigDict, workdir: str,
                          override: bool = False) -> list[str]:
  """Refuses a workdir that holds a run with a different config, unless
  `override`; returns the differences, as 'key: old -> new' lines."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return []
  try:
    with open(path) as f:
      old = _flatten(json.load(f))
  except (OSError, ValueError) as e:
    if not override:
      raise ValueError(
          f"Cannot read {path} ({e}), the config of the run in {workdir}. Restore "
          "it, train in another --workdir, or pass --override_config to continue "
          "the run with this config (the file is kept as config.N.json).") from e
    return [f"config.json: unreadable ({e})"]
  new = _flatten(json.loads(config.to_json_best_effort()))
  changed = sorted(k for k in old.keys() | new.keys()
                   if old.get(k) != new.get(k) and k not in _RESUMABLE_KEYS
                   and not k.startswith("evals."))  # what is measured may change
  diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed]
  if diff and not override:
    raise ValueError(
        f"{workdir} holds a run with a different config:\n  " + "\n  ".join(diff)
        + "\nResume it with the same config, or train in another --workdir, or pass "
        "--override_config (train_and_evaluate(..., override_config=True)) to "
        "continue it with the new config; the old config.json is then kept as "
        "config.N.json.")
  if diff:
    logging.warning("Continuing the run in %s with a changed config "
                    "(--override_config):\n  %s", workdir, "\n  ".join(diff))
  return diff


def _write_config(config: ml_collections.ConfigDict, workdir: str,
                  keep_old: bool = False) -> None:
  """Saves the resolved config as workdir/config.json (atomically); with
  `keep_old`, the config.json there is first copied to config.N.json."""
  path = os.path.join(workdir, "config.json")
  if keep_old and os.path.exists(path):
    n = 1
    while os.path.exists(os.path.join(workdir, f"config.{n}.json")):
      n += 1
    kept = os.path.join(workdir, f"config.{n}.json")
    shutil.copy2(path, f"{kept}.tmp")
    os.replace(f"{kept}.tmp", kept)
    logging.warning("The previous config of %s is kept as %s.", workdir, kept)
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def _trim_metrics(workdir: str, step: int) -> None:
  """Moves the records after `step` (and a line cut short by a kill) from
  workdir/metrics.jsonl to metrics.dropped.jsonl: a run resumed from `step`
  writes them again."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return
  kept, dropped = [], []
  with open(path) as f:
    for line in f:
      try:
        keep = json.loads(line)["step"] <= step
      except (ValueError, KeyError, TypeError):
        keep = False
      (kept if keep else dropped).append(line.rstrip("\n") + "\n")
  if dropped:
    with open(os.path.join(workdir, "metrics.dropped.jsonl"), "a") as f:
      f.writelines(dropped)
    with open(f"{path}.tmp", "w") as f:
      f.writelines(kept)
    os.replace(f"{path}.tmp", path)
    logging.info("Moved %d records after step %d from %s to metrics.dropped.jsonl; "
                 "the resumed run writes them again.", len(dropped), step, path)


def _with_config_hyperparams(restored: state_lib.GANState,
                             template: state_lib.GANState) -> state_lib.GANState:
  """`restored` with the optimizer hyperparameters (learning rates, ...) of
  `template`: `optax.inject_hyperparams` keeps them in the optimizer state, so
  a checkpoint would otherwise bring back the old config's values."""
  def fix(restored_opt, template_opt):
    if hasattr(restored_opt, "hyperparams") and hasattr(restored_opt, "_replace"):
      return restored_opt._replace(hyperparams=template_opt.hyperparams)
    return restored_opt

  def fix_player(r, t):
    return r.replace(opt_state=jax.tree.map(
        fix, r.opt_state, t.opt_state, is_leaf=lambda x: hasattr(x, "hyperparams")))

  return restored.replace(
      generator=fix_player(restored.generator, template.generator),
      discriminator=fix_player(restored.discriminator, template.discriminator))


def _replicate(tree: Any) -> Any:
  """Copies a host pytree to every local device, laid out as the pmapped
  step lays out its outputs (so the step compiles once, not again on its
  second call as it does for `flax.jax_utils.replicate`'s layout)."""
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()), (step_lib.AXIS,))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(step_lib.AXIS))
  n = jax.local_device_count()
  return jax.tree.map(
      lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (n, *np.shape(x))),
                               sharding), tree)


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


def make_sampler(config: ml_collections.ConfigDict, data_shape: tuple,
                 paired: bool = False):
  """`sampler(generator variables, z[, labels]) -> samples`, jitted; for
  image-to-image models `sampler(variables, z, sources, rng)`.

  Samples use the batch statistics of the fixed latent batch (as the DCGAN
  reference does): running averages belong to the raw, not the EMA, weights.
  """
  sample_generator = models.create(config.model, data_shape)[0]
  if paired:  # pix2pix keeps its dropout noise on when sampling
    return jax.jit(lambda variables, z, cond, rng: sample_generator.apply(
        variables, z, cond, train=True, mutable=["batch_stats"],
        rngs={"dropout": rng})[0])
  # labels (*cond) for class-conditional models.
  return jax.jit(lambda variables, z, *cond: sample_generator.apply(
      variables, z, *cond, train=True, mutable=["batch_stats"])[0])


def sample_grid(samples: np.ndarray, dataset: data_lib.ImageDataset,
                num_classes: int = 0) -> np.ndarray:
  """What a person looks at: images tiled (one row per class when
  `num_classes`), or 2-D points over the data's."""
  if dataset.is_image:
    return writers.image_grid(samples, len(samples) // num_classes if num_classes else None)
  return writers.scatter_plot(samples, reference=dataset.images[:2500])


# What `_setup` built, by config: a process that trains the same model again (a
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


def check_data(config: ml_collections.ConfigDict, dataset: data_lib.ImageDataset) -> None:
  """Rejects data a class-conditional or semi-supervised model cannot use."""
  conditional = models.is_class_conditional(config.model)
  semi = models.is_semi_supervised(config.model)
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


def labeled_subset(labels: np.ndarray, num_labeled: int, num_classes: int,
                   seed: int) -> np.ndarray:
  """Indices of the labelled examples of a semi-supervised run: num_labeled /
  num_classes of each class, drawn by `seed` (sorted)."""
  rng = np.random.default_rng((seed, 7))
  per_class = num_labeled // num_classes
  return np.sort(np.concatenate([
      rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
      for c in range(num_classes)]))


def example_cond(config: ml_collections.ConfigDict,
                 cond_shape: tuple | None = None) -> np.ndarray | None:
  """Conditions for initialising the players of `config.model` (a batch of
  2): labels, paired input images of `cond_shape`, or None when the players
  are unconditional."""
  if cond_shape is not None:
    return np.zeros((2, *cond_shape), np.float32)
  return np.zeros((2,), np.int32) if models.is_class_conditional(config.model) else None


def class_grid_inputs(z: jax.Array, num_classes: int) -> tuple[jax.Array, np.ndarray]:
  """(z, labels) for a sample grid with one row per class: the first
  len(z) // num_classes latents (at least one) repeated in every row."""
  columns = max(1, len(z) // num_classes)
  return (jax.numpy.tile(z[:columns], (num_classes, 1)),
          np.repeat(np.arange(num_classes, dtype=np.int32), columns))


def _setup(config: ml_collections.ConfigDict, data_shape: tuple,
           cond_shape: tuple | None = None) -> tuple:
  """(initial host state, pmapped train step, jitted sampler) for `config`;
  `cond_shape`: the shape of one paired input image, for image-to-image models
  (whose sampler is `sampler(variables, z, cond, rng)`)."""
  flat = _flatten(json.loads(config.to_json_best_effort()))

  def key(kind, ignored):
    return (kind, json.dumps({k: v for k, v in flat.items() if k not in ignored},
                             sort_keys=True, default=repr),
            tuple(data_shape), cond_shape, tuple(d.id for d in jax.devices()))

  def build_state():
    generator, discriminator = models.create(config.model, data_shape,
                                             axis_name=step_lib.AXIS)
    return generator, discriminator, jax.device_get(state_lib.create(
        jax.random.PRNGKey(config.seed), generator, discriminator,
        make_optimizer(config.optimizer.g), make_optimizer(config.optimizer.d),
        latent_dim=config.model.latent_dim,
        image_shape=data_shape, ema_decay=config.train.ema_decay,
        cond=example_cond(config, cond_shape)))

  # skip_nonfinite changes the step, not the initial state.
  generator, discriminator, state = _cached(key("state", _RESUMABLE_KEYS), build_state)

  def build_functions():
    p_train_step = step_lib.make_train_step(generator, discriminator, config,
                                            num_devices=jax.device_count())
    return p_train_step, make_sampler(config, data_shape, paired=cond_shape is not None)

  return (state, *_cached(key("functions", _SCHEDULE_KEYS), build_functions))


class _StopSignals:
  """While active (in the main thread), the first SIGTERM or SIGINT only sets
  `received`, so that training can save a checkpoint and stop; a second one
  acts as it would otherwise (SIGINT: KeyboardInterrupt, SIGTERM: exit)."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self) -> "_StopSignals":
    if threading.current_thread() is threading.main_thread():
      for signum in self.SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def _handle(self, signum, frame) -> None:
    del frame
    self.received = signum
    self._restore()
    logging.warning("Received %s: stopping after this step, with a checkpoint. Send "
                    "it again to stop at once.", signal.Signals(signum).name)

  def _restore(self) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    self._previous = {}

  def __exit__(self, *exc_info) -> None:
    self._restore()


def _any_process(flag: bool) -> bool:
  """Whether `flag` is set on any process (all processes must call this)."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def _json_number(x: float) -> float | str:
  x = float(x)
  return x if np.isfinite(x) else str(x)  # 'nan', 'inf': JSON has no such numbers


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


def _steps_until_event(step: int, train_cfg: ml_collections.ConfigDict,
                       eval_every: int = 0) -> int:
  """Steps from `step` to the next log, sample, checkpoint, evaluation (every
  `eval_every` steps; 0 for none) or the end."""
  intervals = (train_cfg.log_every, train_cfg.sample_every, train_cfg.checkpoint_every,
               eval_every)
  return min([train_cfg.num_steps - step] + [i - step % i for i in intervals if i > 0])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       override_config: bool = False) -> Any:
  """Trains a GAN as `config` says, writing samples, metrics and checkpoints to
  `workdir` and resuming from the latest checkpoint there.

  Args:
    config: the experiment's config (see configs/dcgan.py).
    workdir: where the run's files go.
    override_config: continue a run in `workdir` whose config differs from
      `config` (the old config.json is kept as config.N.json); the checkpoint
      must still fit the new config's model and optimizer.

  Returns:
    The final state (host copy, numpy arrays).

  Raises:
    ValueError: a config that cannot work, or that differs from the run in
      `workdir` (without `override_config`); bad data.
    CheckpointError: checkpoints in `workdir` that cannot be read.
    DivergenceError: a step with a non-finite loss or gradient (unless
      `config.train.skip_nonfinite`); training stops there, and nothing after
      the last checkpoint is saved.
    TrainingInterrupted: SIGTERM or SIGINT; a checkpoint was saved first.
  """
  check_config(config)
  config_changes = _check_workdir_config(config, workdir, override_config)
  checkpoint_dir = os.path.join(workdir, "checkpoints")
  checkpoint_lib.check_directory(checkpoint_dir)
  is_main = jax.process_index() == 0
  train_cfg = config.train
  skip_nonfinite = bool(train_cfg.get("skip_nonfinite", False))

  dataset, held_out = load_dataset(config)
  check_data(config, dataset)
  data_shape = dataset.images.shape[1:]
  num_classes = config.model.get("num_classes", 0)
  # Built before compiling: unknown metrics or a missing feature network fail now.
  evaluator = evaluation.Evaluator(
      config.evals, dataset, workdir,
      reference_name=f"{dataset.name}:{config.data.get('split', 'train')}",
      num_classes=num_classes) if "evals" in config else None
  eval_every = evaluator.config.every if evaluator is not None else 0
  cond_shape = None if dataset.sources is None else dataset.sources.shape[1:]
  state, p_train_step, sampler = _setup(config, data_shape, cond_shape)

  os.makedirs(workdir, exist_ok=True)
  checkpointer = checkpoint_lib.Checkpointer(checkpoint_dir,
                                             max_to_keep=train_cfg.max_checkpoints)
  start_step = 0
  if checkpointer.latest_step() is not None:
    start_step, restored, data_position = checkpointer.restore(state)
    if data_position["batches_seen"] != start_step:
      raise checkpoint_lib.CheckpointError(
          f"Checkpoint {start_step} in {checkpointer.directory} records "
          f"{data_position['batches_seen']} batches seen; it is inconsistent.")
    state = _with_config_hyperparams(restored, state) if config_changes else restored
    logging.info("Resumed from step %d in %s.", start_step, checkpointer.directory)
  if is_main:
    _write_config(config, workdir, keep_old=bool(config_changes))
    _trim_metrics(workdir, start_step)

  global_batch = train_cfg.n_critic * train_cfg.batch_size
  on_device = config.data.on_device and dataset.images.nbytes <= _MAX_DEVICE_DATA_BYTES
  if config.data.on_device and not on_device:
    logging.warning("The dataset (%.1f GB) is too large to hold on each device; "
                    "batches are gathered on the host.", dataset.images.nbytes / 1e9)
  # What the step sees of each example: the image, and the label of a
  # class-conditional model or the paired input of an image-to-image one.
  step_keys = ("image", "label") if models.is_class_conditional(config.model) else ("image",)
  if dataset.sources is not None:
    step_keys += ("source",)
  if on_device:  # Only indices travel to the devices; images are gathered there.
    arrays = {"image": dataset.images, "label": dataset.labels,
              "source": dataset.sources}
    device_data = _replicate({key: arrays[key] for key in step_keys})
    batches = None
  else:
    device_data = None
    batches = data_lib.Batches(dataset, global_batch, seed=config.seed,
                               start_step=start_step)

  semi_supervised = models.is_semi_supervised(config.model)
  if semi_supervised:  # The labelled stream: batches from the labelled subset.
    labeled = labeled_subset(dataset.labels, config.data.num_labeled,
                             config.model.d_classes, config.seed)
    labeled_global = train_cfg.n_critic * train_cfg.labeled_batch_size
    logging.info("Semi-supervised: %d labelled examples (indices %s...).",
                 len(labeled), labeled[:5].tolist())

  def labeled_batches(step: int, k: int) -> dict:
    idx = labeled[np.stack([data_lib.batch_indices(len(labeled), labeled_global,
                                                   config.seed, s)
                            for s in range(step, step + k)])]
    return {"labeled_image": shard_batch(dataset.images[idx], train_cfg.n_critic),
            "labeled_label": shard_batch(dataset.labels[idx], train_cfg.n_critic)}

  def next_batches(step: int, k: int) -> dict:
    """The batches of steps step+1 .. step+k, sharded for the local devices."""
    extra = labeled_batches(step, k) if semi_supervised else {}
    if on_device:
      indices = np.stack([data_lib.batch_indices(len(dataset), global_batch, config.seed, s)
                          for s in range(step, step + k)]).astype(np.int32)
      return {"index": shard_batch(indices, train_cfg.n_critic), **extra}
    host = [next(batches) for _ in range(k)]
    return {**{key: shard_batch(np.stack([b[key] for b in host]), train_cfg.n_critic)
               for key in step_keys}, **extra}

  step_rng = _replicate(jax.random.fold_in(jax.random.PRNGKey(config.seed), 1))
  state = _replicate(state)

  sample_z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2),
                               (train_cfg.num_samples, config.model.latent_dim))
  # A class-conditional grid has one row per class, the same z down each column.
  sample_inputs = class_grid_inputs(sample_z, num_classes) if num_classes else (sample_z,)
  sample_dir = os.path.join(workdir, "samples")
  os.makedirs(sample_dir, exist_ok=True)
  writer = writers.MetricWriter(workdir, enabled=is_main)

  sample_rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 3)

  def translate(variables, sources: np.ndarray) -> np.ndarray:
    """G's outputs for uint8 paired inputs, train.num_samples at a time."""
    chunk = train_cfg.num_samples
    outs = [sampler(variables, sample_z[:len(part)], data_lib.to_float(part),
                    sample_rng)
            for part in (sources[i:i + chunk] for i in range(0, len(sources), chunk))]
    return np.concatenate(jax.device_get(outs))

  def save_paired_samples(step: int) -> None:
    """The source | generated | target grid of the first held-out pairs,
    and the scores of all held-out pairs."""
    variables = state_lib.sampling_params(checkpoint_lib.host_copy(state))
    fakes = translate(variables, held_out.sources)
    writer.write_scalars(step, {f"eval/{k}": v for k, v in paired_scores(
        fakes, data_lib.to_float(held_out.images), held_out.sources).items()})
    n = train_cfg.num_samples
    grid = writers.image_grid(
        _triptych(data_lib.to_float(held_out.sources[:n]), fakes[:n],
                  data_lib.to_float(held_out.images[:n])),
        columns=3 * max(1, int(np.sqrt(min(n, len(fakes)) / 3))))
    if is_main:
      writers.save_png(os.path.join(sample_dir, f"step_{step:07d}.png"), grid)
      writer.write_image(step, "samples", grid)

  def save_samples(step: int) -> None:
    if held_out is not None:
      return save_paired_samples(step)
    first = checkpoint_lib.host_copy(state)
    samples = jax.device_get(sampler(state_lib.sampling_params(first), *sample_inputs))
    grid = sample_grid(samples, dataset, num_classes)
    if is_main:
      writers.save_png(os.path.join(sample_dir, f"step_{step:07d}.png"), grid)
      writer.write_image(step, "samples", grid)

  def save_checkpoint(step: int) -> None:
    checkpointer.save(step, checkpoint_lib.host_copy(state),
                      {"seed": config.seed, "batches_seen": step,
                       "global_batch": global_batch})

  best_checkpointer = None

  def evaluate(step: int) -> None:
    """Runs config.evals' metrics; keeps the best checkpoint when asked to."""
    nonlocal best_checkpointer
    host_state = checkpoint_lib.host_copy(state)
    variables = state_lib.sampling_params(host_state)

    def sample_fn(rng, n, labels=None):
      z = jax.random.normal(rng, (n, config.model.latent_dim))
      cond = () if labels is None else (np.asarray(labels, np.int32),)
      return np.asarray(sampler(variables, z, *cond))

    results = evaluator(sample_fn, step)
    writer.write_scalars(step, {f"eval/{k}": v for k, v in results.items()})
    if evaluator.update_best(results, step):
      if best_checkpointer is None:
        best_checkpointer = checkpoint_lib.Checkpointer(
            os.path.join(workdir, "checkpoints_best"), max_to_keep=1)
      best_checkpointer.save(step, host_state, {"seed": config.seed,
                                                "batches_seen": step,
                                                "global_batch": global_batch})

  def diverged(step: int, metrics: dict) -> DivergenceError:
    """Writes workdir/divergence.json; the error to raise, naming what diverged."""
    metrics = checkpoint_lib.host_copy(metrics)
    first = ("d_loss", "g_loss", "gradient_penalty", "d_grad_norm", "g_grad_norm")
    bad = {k: float(metrics[k]) for k in sorted(
        metrics, key=lambda k: (first.index(k) if k in first else len(first), k))
           if not np.isfinite(metrics[k])}
    checkpointer.wait()
    last_good = checkpointer.latest_step()
    path = os.path.join(workdir, "divergence.json")
    if is_main:
      record = {
          "step": step, "nonfinite": list(bad),
          "metrics": {k: _json_number(v) for k, v in sorted(metrics.items())},
          "batch_indices": data_lib.batch_indices(
              len(dataset), global_batch, config.seed, step - 1).tolist(),
          "last_checkpoint": last_good, "checkpoint_dir": str(checkpointer.directory)}
      with open(f"{path}.tmp", "w") as f:
        json.dump(record, f, indent=2)
      os.replace(f"{path}.tmp", path)
    kept = (f"the last checkpoint, step {last_good} in {checkpointer.directory}, is "
            "kept" if last_good is not None else "there is no checkpoint yet")
    return DivergenceError(
        f"Training diverged at step {step}: non-finite "
        + ", ".join(f"{k}={v}" for k, v in bad.items())
        + f". Stopped there, saving nothing more; {kept}. The step's metrics and batch "
        f"are in {path}. Lower the learning rates, or set "
        "config.train.skip_nonfinite=True to skip such updates (also when resuming).")

  progress = tqdm.tqdm(total=train_cfg.num_steps, initial=start_step, disable=not is_main,
                       desc="train", unit="step", dynamic_ncols=True)
  last_log_time, last_log_step = time.time(), start_step
  step = saved_step = start_step
  skipped = 0  # non-finite updates skipped since the last log
  try:
    with _StopSignals() as signals:
      while step < train_cfg.num_steps:
        k = min(train_cfg.steps_per_call,
                _steps_until_event(step, train_cfg, eval_every))
        state, metrics = p_train_step(state, next_batches(step, k), step_rng,
                                      device_data)
        first_bad, num_bad = (int(x) for x in checkpoint_lib.host_copy(
            (metrics.pop("nonfinite_step"), metrics.pop("nonfinite_count"))))
        if num_bad and not skip_nonfinite:
          raise diverged(first_bad, metrics)
        if num_bad:
          skipped += num_bad
          logging.warning("Skipped %d update(s) with a non-finite loss or gradient in "
                          "steps %d-%d (first: step %d).", num_bad, step + 1, step + k,
                          first_bad)
        step += k
        progress.update(k)
        if step % train_cfg.log_every == 0 or step == train_cfg.num_steps:
          metrics = checkpoint_lib.host_copy(metrics)
          now = time.time()
          metrics["steps_per_sec"] = (step - last_log_step) / (now - last_log_time)
          if skip_nonfinite:
            metrics["skipped_updates"] = skipped
          last_log_time, last_log_step, skipped = now, step, 0
          writer.write_scalars(step, metrics)
          progress.set_postfix(d_loss=f"{metrics['d_loss']:.3f}",
                               g_loss=f"{metrics['g_loss']:.3f}")
        if step % train_cfg.sample_every == 0 or step == train_cfg.num_steps:
          save_samples(step)
        if evaluator is not None and evaluator.due(step, step == train_cfg.num_steps):
          evaluate(step)
        if step % train_cfg.checkpoint_every == 0 or step == train_cfg.num_steps:
          save_checkpoint(step)
          saved_step = step
        if _any_process(signals.received is not None):
          if saved_step != step:
            save_checkpoint(step)
          checkpointer.wait()
          signum = signals.received or signal.SIGTERM
          raise TrainingInterrupted(
              signum, step, f"Stopped by {signal.Signals(signum).name} at step {step}, "
              f"saved in {checkpointer.directory}; run the same command to resume.")
  finally:
    progress.close()
    if batches is not None:
      batches.close()
    checkpointer.wait()  # the last checkpoint is complete, whatever stopped us
    checkpointer.close()
    if best_checkpointer is not None:
      best_checkpointer.wait()
      best_checkpointer.close()
    writer.close()
  return checkpoint_lib.host_copy(state)
