"""What a run shows of its generator: sample grids (plain, one row per class,
or source | generated | target for paired data) and the scores of paired
samples."""


from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from jaxgan import data as data_lib
from jaxgan import evaluation, models
from jaxgan.train import writers


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
  # labels (*cond) for class-conditional models; `truncation=psi` for a
  # style-based G (jaxgan.models.TRUNCATIONS 'w').
  return jax.jit(lambda variables, z, *cond, **kwargs: sample_generator.apply(
      variables, z, *cond, train=True, mutable=["batch_stats"], **kwargs)[0])


def sample_grid(samples: np.ndarray, dataset: data_lib.ImageDataset,
                num_classes: int = 0) -> np.ndarray:
  """What a person looks at: images tiled (one row per class when
  `num_classes`), or 2-D points over the data's."""
  if dataset.is_image:
    return writers.image_grid(samples, len(samples) // num_classes if num_classes else None)
  return writers.scatter_plot(samples, reference=dataset.images[:2500])


def class_grid_inputs(z: jax.Array, num_classes: int) -> tuple[jax.Array, np.ndarray]:
  """(z, labels) for a sample grid with one row per class: the first
  len(z) // num_classes latents (at least one) repeated in every row."""
  columns = max(1, len(z) // num_classes)
  return (jax.numpy.tile(z[:columns], (num_classes, 1)),
          np.repeat(np.arange(num_classes, dtype=np.int32), columns))


def triptych(sources: np.ndarray, fakes: np.ndarray,
             targets: np.ndarray | None = None) -> np.ndarray:
  """Rows of source | generated | target (floats in [-1, 1]) for a sample
  grid, or source | generated without targets; sources are enlarged
  (nearest) and given the outputs' channels."""
  shape = fakes.shape
  factor = shape[1] // sources.shape[1]
  sources = sources.repeat(factor, axis=1).repeat(factor, axis=2)
  sources = np.broadcast_to(sources[..., :1], shape) if (
      sources.shape[-1] != shape[-1]) else sources
  columns = [sources, fakes] + ([] if targets is None else [targets])
  return np.stack(columns, axis=1).reshape(-1, *shape[1:])


# `paint(generator variables) -> (grid, scalars)`: the grid to save and any
# scores of its samples, to log under eval/.
Painter = Callable[[dict], tuple[np.ndarray, dict]]


def make_painter(config: ml_collections.ConfigDict, sampler, dataset: data_lib.ImageDataset,
                 held_out: data_lib.ImageDataset | None = None) -> Painter:
  """The sample grids of a run of `config`, from fixed latents drawn by its
  seed: of `held_out` pairs (source | generated | target, scored against the
  targets) for paired data, one row per class for a class-conditional model,
  else plain."""
  num_samples = config.train.num_samples
  z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2),
                        (num_samples, config.model.latent_dim))
  if held_out is not None:
    return _paired_painter(sampler, z, held_out,
                           jax.random.fold_in(jax.random.PRNGKey(config.seed), 3))
  num_classes = config.model.get("num_classes", 0)
  # A class-conditional grid has one row per class, the same z down each column.
  inputs = class_grid_inputs(z, num_classes) if num_classes else (z,)

  def paint(variables: dict) -> tuple[np.ndarray, dict]:
    samples = jax.device_get(sampler(variables, *inputs))
    return sample_grid(samples, dataset, num_classes), {}

  return paint


def _paired_painter(sampler, z: jax.Array, held_out: data_lib.ImageDataset,
                    rng: jax.Array) -> Painter:
  """The source | generated | target grid of the first held-out pairs, and
  the scores of all held-out pairs."""
  n = len(z)

  def translate(variables, sources: np.ndarray) -> np.ndarray:
    """G's outputs for uint8 paired inputs, len(z) at a time."""
    outs = [sampler(variables, z[:len(part)], data_lib.to_float(part), rng)
            for part in (sources[i:i + n] for i in range(0, len(sources), n))]
    return np.concatenate(jax.device_get(outs))

  def paint(variables: dict) -> tuple[np.ndarray, dict]:
    fakes = translate(variables, held_out.sources)
    scores = evaluation.paired_scores(fakes, data_lib.to_float(held_out.images), held_out.sources)
    grid = writers.image_grid(
        triptych(data_lib.to_float(held_out.sources[:n]), fakes[:n],
                 data_lib.to_float(held_out.images[:n])),
        columns=3 * max(1, int(np.sqrt(min(n, len(fakes)) / 3))))
    return grid, scores

  return paint


def latents(rng: jax.Array, n: int, latent_dim: int,
            truncation: float | None = None) -> jax.Array:
  """n latents z ~ N(0, I) (n, latent_dim) as the trainer draws them; with
  `truncation` t > 0, from the normal truncated to [-t, t] in each coordinate
  (BigGAN's truncation trick: smaller t, less variety, more typical samples)."""
  if truncation is None:
    return jax.random.normal(rng, (n, latent_dim))
  if not truncation > 0:
    raise ValueError(f"The truncation must be positive, got {truncation}.")
  return jax.random.truncated_normal(rng, -truncation, truncation, (n, latent_dim))


def make_sample_fn(sampler, variables: dict, latent_dim: int,
                   truncation: float | None = None):
  """`sample_fn(rng, n, labels=None) -> samples` of the generator
  `variables`, as `evaluation.Evaluator` draws them (see `latents` for
  `truncation`)."""
  def sample_fn(rng, n, labels=None):
    z = latents(rng, n, latent_dim, truncation)
    cond = () if labels is None else (np.asarray(labels, np.int32),)
    return np.asarray(sampler(variables, z, *cond))
  return sample_fn
