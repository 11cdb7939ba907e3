"""A trained run's generator as an object: `load_generator(workdir)`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from jaxgan import data as data_lib
from jaxgan import evaluate, models
from jaxgan.train import sampling
from jaxgan.train import state as state_lib


def data_shape(config: ml_collections.ConfigDict) -> tuple:
  """The shape of one sample of a run of `config`, found without reading
  its data: 2-D points for the toy mixtures, else the model's image."""
  if config.data.get('source', '') == 'toy':
    return (2,)
  return (config.model.image_size, config.model.image_size, config.model.channels)


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
  """A trained generator with its restored variables.

  Attributes:
    config: the run's resolved config (its config.json).
    step: the checkpoint's training step.
    variables: the generator's Flax variables ('params', 'batch_stats').
    ema: whether `variables` hold the EMA parameters.
    data_shape: the shape of one sample: (H, W, C) images, or (2,) points.
    cond_shape: an image-to-image model's input shape (h, w, c), else None.
    sampler: `sampling.make_sampler`'s jitted function of (variables, z, ...).

  BatchNorm normalises with the statistics of each batch, as in training
  (the running averages belong to the raw weights, not the EMA ones), so a
  sample depends a little on the others of its batch: draw a few dozen at
  a time.
  """
  config: ml_collections.ConfigDict
  step: int
  variables: dict
  ema: bool
  data_shape: tuple
  cond_shape: tuple | None
  sampler: Callable

  @property
  def kind(self) -> str:
    """One of `jaxgan.models.KINDS`: what the generator is conditioned on."""
    return models.kind(self.config.model)

  @property
  def latent_dim(self) -> int:
    return int(self.config.model.latent_dim)

  @property
  def num_classes(self) -> int:
    """The classes of a class-conditional generator (0 for the others)."""
    return int(self.config.model.get('num_classes', 0)) if (
        self.kind == 'class_conditional') else 0

  def apply(self, z: jax.Array, cond: jax.Array | None = None, *,
            rng: jax.Array | None = None) -> jax.Array:
    """G(z) (or G(z, cond)) with the restored variables: a pure function, to
    jit, vmap or differentiate in another program.

    Args:
      z: latents (n, latent_dim).
      cond: int labels (n,) of a class-conditional generator, or the paired
        input images (n, h, w, c) in [-1, 1] of an image-to-image one.
      rng: the dropout noise of an image-to-image generator (default key 0).

    Returns:
      (n, *data_shape): images in [-1, 1], or points.
    """
    if self.kind == 'paired':
      if cond is None:
        raise ValueError('An image-to-image generator needs its input images (cond).')
      return self.sampler(self.variables, z, cond,
                          jax.random.PRNGKey(0) if rng is None else rng)
    if self.kind == 'class_conditional':
      if cond is None:
        raise ValueError(f'A class-conditional generator needs labels (cond) in '
                         f'[0, {self.num_classes}).')
      return self.sampler(self.variables, z, jnp.asarray(cond, jnp.int32))
    if cond is not None:
      raise ValueError(f'Model {self.config.model.name!r} takes no labels or inputs.')
    return self.sampler(self.variables, z)

  def latents(self, key: jax.Array, n: int, truncation: float | None = None
              ) -> jax.Array:
    """n latents as the trainer draws them; `truncation` psi as the model's
    spec declares (`jaxgan.models.TRUNCATIONS`; ValueError if it has none):
    'latent', drawn from the truncated normal; 'w', drawn as usual (G
    truncates, see `truncated`)."""
    self.check_truncation(truncation)
    if models.spec(self.config.model.name).truncation == 'w':
      truncation = None
    return sampling.latents(key, n, self.latent_dim, truncation)

  def truncated(self, truncation: float | None) -> Generator:
    """This generator with truncation psi applied in G where the model's
    spec says so ('w': w_avg + psi (w - w_avg) for every w); for the other
    models (or psi None) itself, as `latents` truncates their latents."""
    self.check_truncation(truncation)
    if truncation is None or models.spec(self.config.model.name).truncation != 'w':
      return self
    if not truncation >= 0:
      raise ValueError(f'The truncation psi must be >= 0, got {truncation}.')
    return dataclasses.replace(self, sampler=functools.partial(
        self.sampler, truncation=jnp.float32(truncation)))

  def check_truncation(self, truncation: float | None) -> None:
    """ValueError unless `truncation` is None or the model's spec allows it."""
    if truncation is not None and models.spec(self.config.model.name).truncation is None:
      raise ValueError(f'Model {self.config.model.name!r} ({self.kind}) does not '
                       'support truncation: its samples are not drawn from a latent.')

  def labels(self, n: int, labels=None) -> np.ndarray | None:
    """int32 labels (n,) for a class-conditional generator: `labels` (one
    class, or a sequence repeated to n), default i mod K as the evaluator
    draws them; None for the others (which refuse labels)."""
    if not self.num_classes:
      if labels is not None:
        raise ValueError(f'Model {self.config.model.name!r} is not class-conditional; '
                         'it takes no labels.')
      return None
    base = np.arange(self.num_classes) if labels is None else np.atleast_1d(labels)
    base = np.asarray(base, np.int32)
    if base.size == 0 or base.min() < 0 or base.max() >= self.num_classes:
      raise ValueError(f'Labels must be classes in [0, {self.num_classes}), got '
                       f'{base.tolist()}.')
    return np.resize(base, n)

  def sample(self, key: jax.Array, n: int, labels=None, *,
             truncation: float | None = None) -> np.ndarray:
    """n samples (n, *data_shape) in one batch, from latents drawn with `key`.

    Args:
      key: a JAX PRNG key.
      n: how many.
      labels: classes of a class-conditional generator: one int, or a
        sequence repeated to n (default i mod K).
      truncation: psi for `latents` (None: none).
    """
    if self.kind == 'paired':
      raise ValueError('An image-to-image generator translates inputs: use '
                       'translate(inputs).')
    z = self.latents(key, n, truncation)
    labels = self.labels(n, labels)
    return np.asarray(jax.device_get(self.truncated(truncation).apply(z, labels)))

  def translate(self, inputs: np.ndarray, key: jax.Array | None = None
                ) -> np.ndarray:
    """An image-to-image generator's outputs for input images (n, h, w, c),
    uint8 or in [-1, 1], of `cond_shape`."""
    if self.kind != 'paired':
      raise ValueError(f'Model {self.config.model.name!r} is not image-to-image; '
                       'it has no inputs to translate.')
    inputs = np.asarray(inputs)
    if tuple(inputs.shape[1:]) != tuple(self.cond_shape):
      raise ValueError(f'The generator takes inputs of shape {self.cond_shape}, got '
                       f'{inputs.shape[1:]}.')
    z = jnp.zeros((len(inputs), self.latent_dim))
    return np.asarray(jax.device_get(self.apply(z, data_lib.to_float(inputs), rng=key)))


def load_generator(workdir: str, step: int | None = None, *,
                   ema: bool = True) -> Generator:
  """The generator of the run in `workdir` at checkpoint `step` (default:
  the latest), with its EMA parameters when the run keeps them and `ema`.

      G = jaxgan.load_generator('runs/dcgan')
      images = G.sample(jax.random.PRNGKey(0), 16)   # (16, 32, 32, 1) in [-1, 1]
      images = jax.jit(G.apply)(z)                   # z: (n, G.latent_dim)
  """
  config = evaluate.read_config(workdir)
  shape = data_shape(config)
  paired = models.kind(config.model) == 'paired'
  cond_shape = data_lib.source_shape(config.data, image_size=shape[0],
                                     channels=shape[-1]) if paired else None
  restored_step, state = evaluate.restore_state(config, workdir, step, shape, cond_shape)
  use_ema = ema and state.ema_params is not None
  variables = state_lib.sampling_params(state, ema)
  return Generator(config=config, step=int(restored_step), variables=variables,
                   ema=use_ema, data_shape=tuple(shape), cond_shape=cond_shape,
                   sampler=sampling.make_sampler(config, tuple(shape), paired=paired))


def render(generator: Generator, z: jax.Array, labels: np.ndarray | None = None,
           *, batch_size: int = 250, context: jax.Array | None = None,
           context_labels: np.ndarray | None = None) -> np.ndarray:
  """G's samples of the latents `z` (n, latent_dim), `batch_size` at a time.

  With `context` latents (and their labels), each batch is filled up to
  `batch_size` with them and only z's outputs are kept: BatchNorm then sees
  the statistics of a batch of ordinary latents, not of a few chosen ones.
  """
  outputs = []
  for start in range(0, len(z), batch_size):
    part = z[start:start + batch_size]
    part_labels = None if labels is None else labels[start:start + batch_size]
    n = len(part)
    if context is not None and n < batch_size:
      part = jnp.concatenate([part, context[:batch_size - n]])
      if part_labels is not None:
        part_labels = np.concatenate([part_labels, context_labels[:batch_size - n]])
    outputs.append(np.asarray(jax.device_get(generator.apply(part, part_labels)))[:n])
  return np.concatenate(outputs)


def sample_batches(generator: Generator, key: jax.Array, num: int, *,
                   batch_size: int = 250, labels=None,
                   truncation: float | None = None, progress: bool = False
                   ) -> tuple[np.ndarray, jax.Array, np.ndarray | None]:
  """`num` samples drawn `batch_size` at a time, batch i from the latents of
  `jax.random.fold_in(key, i)`, as `jaxgan.evaluation.Evaluator` draws them
  (the same seed and batch size give the same samples, whatever `num`).

  Returns:
    (samples (num, *data_shape), their latents (num, latent_dim), their
    labels (num,) or None).
  """
  labels = generator.labels(num, labels)
  truncated = generator.truncated(truncation)
  samples, latents = [], []
  batches = range(-(-num // batch_size))
  for i in tqdm.tqdm(batches, desc='generate', unit='batch', disable=not progress):
    start = i * batch_size
    n = min(batch_size, num - start)
    z = generator.latents(jax.random.fold_in(key, i), n, truncation)
    part = None if labels is None else labels[start:start + n]
    samples.append(np.asarray(jax.device_get(truncated.apply(z, part))))
    latents.append(z)
  return np.concatenate(samples), jnp.concatenate(latents), labels
