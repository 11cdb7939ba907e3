r"""Images from a trained run: `jaxgan generate --workdir=DIR` (or `python -m
jaxgan.generate`).

Reads DIR/config.json and the latest checkpoint (or `--step`), with the EMA
generator when the run keeps one (`--noema`: the raw one), and writes under
DIR/generated/ (or `--output`):

  # 64 samples as a folder of PNGs; .npz (uint8 images, latents, labels); a grid
  jaxgan generate --workdir=runs/dcgan --num=64 --seed=0
  jaxgan generate --workdir=runs/dcgan --num=10000 --format=npz
  jaxgan generate --workdir=runs/dcgan --format=grid --truncation=1.0
  # class-conditional: all of class 3; a grid has one row per class by default
  jaxgan generate --workdir=runs/cgan --labels=3
  # image-to-image: translate a folder of images
  jaxgan generate --workdir=runs/pix2pix --inputs=my_edges/
  # 8 strips of 10 steps between two latents (--interpolation=spherical: slerp)
  jaxgan generate --workdir=runs/dcgan --interpolate=10
  # DCGAN-paper arithmetic on the samples of --seed/--num (grid indices,
  # row-major): mean(3,17,22) - mean(5,9,40) + mean(11,12,13)
  jaxgan generate --workdir=runs/dcgan --arithmetic='3,17,22 - 5,9,40 + 11,12,13'
  # each of 8 samples beside its 5 nearest training images (pixels, features)
  jaxgan generate --workdir=runs/dcgan --nearest=5

Samples are drawn `--batch_size` at a time, batch i from
`fold_in(PRNGKey(seed), i)`, as the evaluator draws them: the same seed,
batch size and labels give the same images. BatchNorm normalises with each
batch's statistics, as in training. `--truncation=PSI` draws each latent
coordinate from N(0, 1) truncated to [-PSI, PSI] (BigGAN's truncation trick),
or, for a style-based generator (StyleGAN2), moves each w toward the tracked
mean, w_avg + PSI (w - w_avg), as the model's spec says
(`jaxgan.models.TRUNCATIONS`; not the image-to-image models).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from jaxgan import cli, evaluation, generation
from jaxgan import data as data_lib
from jaxgan.data import _folder
from jaxgan.train import sampling, writers

FORMATS = ('png', 'npz', 'grid')
VARIATIONS = 8  # noisy copies of an arithmetic result
VARIATION_SCALE = 0.25  # their noise's standard deviation
# --num by mode: samples; strips; candidate samples; samples with neighbours.
DEFAULT_NUM = {'samples': 64, 'interpolation': 8, 'arithmetic': 64, 'nearest': 8}
_VARIATION_STREAM = 2**31 - 1  # fold_in data of the variations' noise


def _to_uint8(images: np.ndarray) -> np.ndarray:
  return evaluation.to_uint8(images)


def _save_pngs(directory: str, images: np.ndarray, names: list[str]) -> None:
  os.makedirs(directory, exist_ok=True)
  for image, name in zip(_to_uint8(images), names):
    writers.save_png(os.path.join(directory, f'{name}.png'), image)


def _save_npz(path: str, **arrays) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})


def _save_grid(path: str, grid: np.ndarray) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  writers.save_png(path, grid)


def _output(workdir: str, output: str | None, name: str, fmt: str) -> str:
  """`output`, or DIR/generated/NAME with the format's extension."""
  if output:
    return output
  return os.path.join(workdir, 'generated', name) + {'png': '', 'npz': '.npz',
                                                     'grid': '.png'}[fmt]


def samples(G: generation.Generator, key: jax.Array, *, num: int, fmt: str,
            path: str, batch_size: int, labels=None,
            truncation: float | None = None) -> dict[str, Any]:
  """`num` samples as PNG files, an .npz or one grid (a class-conditional
  model without `labels`: one row per class, the same latent down each
  column)."""
  if fmt == 'grid' and G.num_classes and labels is None:
    z, grid_labels = sampling.class_grid_inputs(G.latents(key, num, truncation),
                                                G.num_classes)
    images = generation.render(G, z, grid_labels, batch_size=batch_size)
    _save_grid(path, writers.image_grid(images, len(images) // G.num_classes))
    return {'output': path, 'num': len(images), 'labels': 'one row per class'}
  images, z, labels = generation.sample_batches(
      G, key, num, batch_size=batch_size, labels=labels, truncation=truncation,
      progress=True)
  is_image = len(G.data_shape) == 3
  if fmt == 'npz':
    _save_npz(path, images=_to_uint8(images) if is_image else images,
              latents=np.asarray(z), labels=labels)
  elif fmt == 'grid':
    _save_grid(path, writers.image_grid(images) if is_image
               else writers.scatter_plot(images))
  elif not is_image:
    raise ValueError('The samples are points, not images: use --format=npz or grid.')
  else:
    names = [f'{i:06d}' if labels is None else f'{i:06d}_class{labels[i]}'
             for i in range(len(images))]
    _save_pngs(path, images, names)
  return {'output': path, 'num': len(images)}


def translate(G: generation.Generator, key: jax.Array, *, inputs: str, fmt: str,
              path: str, batch_size: int) -> dict[str, Any]:
  """An image-to-image generator's outputs for every image in the folder
  `inputs` (resized to its input shape), under the inputs' names."""
  if G.kind != 'paired':
    raise ValueError(f'--inputs: model {G.config.model.name!r} is not image-to-image.')
  h, _, c = G.cond_shape
  files = _folder.list_images(inputs) if os.path.isdir(inputs) else []
  if not files:
    raise FileNotFoundError(f'--inputs={inputs!r}: no images in that folder.')
  sources = data_lib.load(dict(source='folder', path=inputs, skip_corrupt=False),
                          image_size=h, channels=c).images
  outputs = np.concatenate([
      G.translate(sources[i:i + batch_size], jax.random.fold_in(key, i // batch_size))
      for i in range(0, len(sources), batch_size)])
  if fmt == 'npz':
    _save_npz(path, inputs=sources, images=_to_uint8(outputs))
  elif fmt == 'grid':
    grid = sampling.triptych(data_lib.to_float(sources), outputs)
    _save_grid(path, writers.image_grid(grid, columns=2))
  else:
    names = [os.path.splitext(os.path.relpath(f, inputs))[0].replace(os.sep, '_')
             for f in files]
    _save_pngs(path, outputs, names)
  return {'output': path, 'num': len(outputs)}


def interpolation(G: generation.Generator, key: jax.Array, *, rows: int, steps: int,
                  how: str, path: str, batch_size: int, labels=None,
                  truncation: float | None = None) -> dict[str, Any]:
  """`rows` strips of `steps` samples between pairs of latents (`how`:
  'linear' or 'spherical'); a class-conditional strip keeps one class."""
  z = G.latents(key, 2 * rows, truncation)
  strips = generation.interpolation_strips(z[:rows], z[rows:], steps, how)
  row_labels = G.labels(rows, labels)
  strip_labels = None if row_labels is None else np.repeat(row_labels, steps)
  images = generation.render(G, strips, strip_labels, batch_size=batch_size)
  _save_grid(path, writers.image_grid(images, steps))
  return {'output': path, 'rows': rows, 'steps': steps, 'interpolation': how}


def latent_arithmetic(G: generation.Generator, key: jax.Array, *, text: str,
                      num: int, path: str, batch_size: int, labels=None,
                      truncation: float | None = None) -> dict[str, Any]:
  """The DCGAN paper's latent arithmetic on the samples that `samples` draws
  with the same seed, num and batch size. One grid row per term (its
  samples, a blank, the image of their mean latent), then the result and
  VARIATIONS copies of it with N(0, VARIATION_SCALE^2) noise added."""
  terms = generation.parse_arithmetic(text)
  candidates, z, cand_labels = generation.sample_batches(
      G, key, num, batch_size=batch_size, labels=labels, truncation=truncation)
  means, result = generation.arithmetic(z, terms)
  noise = VARIATION_SCALE * jax.random.normal(
      jax.random.fold_in(key, _VARIATION_STREAM), (VARIATIONS, z.shape[1]))
  vectors = jnp.concatenate([means, result[None], result[None] + noise])
  new_labels = (None if cand_labels is None
                else np.full(len(vectors), cand_labels[terms[0][1][0]], np.int32))
  rendered = generation.render(G, vectors, new_labels, batch_size=batch_size,
                               context=z, context_labels=cand_labels)
  columns = max(max(len(i) for _, i in terms) + 2, VARIATIONS + 2)
  blank = np.ones((1, *G.data_shape), np.float32)
  rows = []
  for t, (_, indices) in enumerate(terms):
    pad = columns - len(indices) - 1
    rows.append(np.concatenate([candidates[indices], np.repeat(blank, pad, 0),
                                rendered[t:t + 1]]))
  rows.append(np.concatenate([rendered[len(terms):len(terms) + 1], blank,
                              rendered[len(terms) + 1:]]))
  _save_grid(path, writers.image_grid(np.concatenate(rows), columns))
  return {'output': path, 'terms': [[sign, idx] for sign, idx in terms],
          'layout': 'a row per term: its samples, the mean latent last; then the '
                    'result, and its variations'}


def _feature_net_name(config, channels: int, requested: str) -> str | None:
  """--feature_net, else the run's evaluation network, else a default."""
  if requested:
    return None if requested == 'none' else requested
  evals = config.get('evals', None)
  if evals is not None and evals.get('metrics', ''):
    return evals.feature_net
  return 'classifier_mnist' if channels == 1 else 'inception'


def _features(name: str, images: np.ndarray) -> np.ndarray:
  try:
    net = evaluation.feature_net(name)
  except (OSError, ValueError) as e:
    raise ValueError(f'Cannot load the feature network {name!r} ({e}); choose '
                     'another with --feature_net, or --feature_net=none for pixel '
                     'space only.') from e
  return net.extract(images)['features']


def nearest(G: generation.Generator, key: jax.Array, *, num: int, k: int, path: str,
            batch_size: int, feature_net: str = '', labels=None,
            truncation: float | None = None) -> dict[str, Any]:
  """Each of `num` samples beside its k nearest training images in pixel
  space and in `feature_net`'s feature space; the indices and distances go
  to a JSON file beside the grid."""
  if G.kind == 'paired' or len(G.data_shape) != 3:
    raise ValueError('--nearest compares generated images with training images: '
                     'not for image-to-image models or points.')
  samples_, _, _ = generation.sample_batches(
      G, key, num, batch_size=batch_size, labels=labels, truncation=truncation)
  samples_ = _to_uint8(samples_)
  config = G.config
  dataset = data_lib.load(config.data, image_size=config.model.image_size,
                          channels=config.model.channels)
  found = {'pixels': generation.nearest_neighbours(
      generation.pixels(samples_), generation.pixels(dataset.images), k)}
  name = _feature_net_name(config, G.data_shape[-1], feature_net)
  if name is not None:
    found[name] = generation.nearest_neighbours(
        _features(name, samples_), _features(name, dataset.images), k)
  tiles = generation.nearest_rows(samples_, dataset.images,
                                  [indices for indices, _ in found.values()])
  _save_grid(path, writers.image_grid(tiles, 1 + len(found) * (1 + k)))
  report = {'output': path, 'data': dataset.name, 'num': num, 'k': k,
            'layout': f'a row per sample: the sample, then {" | ".join(found)}',
            'neighbours': {space: {'indices': i.tolist(),
                                   'distances': np.round(d, 4).tolist()}
                           for space, (i, d) in found.items()}}
  with open(os.path.splitext(path)[0] + '.json', 'w') as f:
    json.dump(report, f, indent=1)
  return report


def _mode(interpolate: int, arithmetic_text: str, nearest_k: int, inputs: str) -> str:
  chosen = [m for m, on in (('interpolation', interpolate), ('arithmetic', arithmetic_text),
                            ('nearest', nearest_k), ('translated', inputs)) if on]
  if len(chosen) > 1:
    raise ValueError(f'Choose one of --interpolate, --arithmetic, --nearest and '
                     f'--inputs, not {", ".join(chosen)}.')
  return chosen[0] if chosen else 'samples'


def generate_workdir(workdir: str, *, step: int | None = None, num: int | None = None,
                     seed: int = 0, batch_size: int = 250, fmt: str | None = None,
                     output: str | None = None, labels=None, inputs: str = '',
                     interpolate: int = 0, how: str = 'linear', arithmetic: str = '',
                     truncation: float | None = None, nearest_k: int = 0,
                     feature_net: str = '', ema: bool = True) -> dict[str, Any]:
  """What `jaxgan generate` writes, from the run in `workdir` (see the
  module's docstring); returns what it wrote, as a dict."""
  mode = _mode(interpolate, arithmetic, nearest_k, inputs)
  if fmt is not None and mode in ('interpolation', 'arithmetic', 'nearest') and (
      fmt != 'grid'):
    raise ValueError(f'--{mode} writes a grid; --format={fmt} does not apply.')
  fmt = fmt or ('grid' if mode in ('interpolation', 'arithmetic', 'nearest') else 'png')
  if fmt not in FORMATS:
    raise ValueError(f'Unknown --format={fmt!r}; valid: {", ".join(FORMATS)}.')
  if batch_size <= 0 or (num is not None and num <= 0):
    raise ValueError('--num and --batch_size must be positive.')
  G = generation.load_generator(workdir, step, ema=ema).truncated(truncation)
  if labels is not None:
    G.labels(1, labels)  # a model without labels, or classes out of range, fail now
  if G.kind == 'paired' and mode != 'translated':
    raise ValueError(f'Model {G.config.model.name!r} translates images: give '
                     '--inputs=FOLDER.')
  num = num or DEFAULT_NUM.get(mode, 0)
  key = jax.random.PRNGKey(seed)
  name = f'{mode}_step_{G.step}' + ('' if mode == 'translated' else f'_seed_{seed}')
  path = _output(workdir, output, name, fmt)
  common = dict(path=path, batch_size=batch_size)
  sampled = dict(labels=labels, truncation=truncation, **common)
  if mode == 'translated':
    report = translate(G, key, inputs=inputs, fmt=fmt, **common)
  elif mode == 'interpolation':
    report = interpolation(G, key, rows=num, steps=interpolate, how=how, **sampled)
  elif mode == 'arithmetic':
    report = latent_arithmetic(G, key, text=arithmetic, num=num, **sampled)
  elif mode == 'nearest':
    report = nearest(G, key, num=num, k=nearest_k, feature_net=feature_net, **sampled)
  else:
    report = samples(G, key, num=num, fmt=fmt, **sampled)
  logging.info('Wrote %s', path)
  return {'mode': mode, 'step': G.step, 'generator': 'EMA' if G.ema else 'raw',
          **report}


def _parse_labels(text: str) -> list[int] | None:
  if not text:
    return None
  try:
    return [int(x) for x in text.split(',') if x.strip()]
  except ValueError:
    raise ValueError(f'--labels={text!r}: give class numbers, e.g. 3 or 3,5.') from None


def _define_flags() -> None:
  """The command's flags; defined only when it runs (absl's flags are global)."""
  flags.DEFINE_string('workdir', None, 'The run directory (holds config.json).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('num', None, 'Samples (default 64); with --interpolate, '
                       'strips (8); --arithmetic: candidate samples (64); '
                       '--nearest: samples shown (8).')
  flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
  flags.DEFINE_integer('batch_size', 250, 'Samples generated at a time.')
  flags.DEFINE_enum('format', None, FORMATS, 'png: a folder of PNG files; npz: '
                    'uint8 images with their latents and labels; grid: one PNG '
                    '(default: png; grid for the modes below).')
  flags.DEFINE_string('output', None, 'Output path (default '
                      'DIR/generated/<mode>_step_N_seed_S[.npz|.png]).')
  flags.DEFINE_string('labels', '', 'Class-conditional models: the class of every '
                      'sample (3), or classes repeated over them (3,5).')
  flags.DEFINE_string('inputs', '', 'Image-to-image models: a folder of input '
                      'images to translate.')
  flags.DEFINE_integer('interpolate', 0, 'Interpolation strips of this many steps.')
  flags.DEFINE_enum('interpolation', 'linear', generation.INTERPOLATIONS,
                    'How --interpolate walks: linear in z, or spherical (slerp).')
  flags.DEFINE_string('arithmetic', '', "Latent arithmetic on sample indices, "
                      "e.g. '3,17,22 - 5,9,40 + 11,12,13'.")
  flags.DEFINE_float('truncation', None, 'Truncation psi: latents drawn from '
                     'N(0, 1) truncated to [-psi, psi] (StyleGAN2: w_avg + psi '
                     '(w - w_avg)).')
  flags.DEFINE_integer('nearest', 0, 'Show each sample beside its K nearest '
                       'training images.')
  flags.DEFINE_string('feature_net', '', "--nearest's feature space: one of "
                      f"{', '.join(evaluation.FEATURE_NETS)}, or none (default: "
                      "the run's evals.feature_net, else classifier_mnist for "
                      "greyscale and inception for colour).")
  flags.DEFINE_bool('ema', True, 'Use the EMA generator when the run keeps one.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  F = flags.FLAGS
  try:
    report = generate_workdir(
        F.workdir, step=F.step, num=F.num, seed=F.seed, batch_size=F.batch_size,
        fmt=F.format, output=F.output, labels=_parse_labels(F.labels),
        inputs=F.inputs, interpolate=F.interpolate, how=F.interpolation,
        arithmetic=F.arithmetic, truncation=F.truncation, nearest_k=F.nearest,
        feature_net=F.feature_net, ema=F.ema)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f'jaxgan generate: {e}')
  report.pop('neighbours', None)
  print(json.dumps(report, indent=2))


def run(argv: list[str]) -> None:
  """The command (`jaxgan generate`, `python -m jaxgan.generate`) on argv."""
  cli.quiet_logging()
  _define_flags()
  flags.mark_flag_as_required('workdir')
  app.run(main, argv=argv)


if __name__ == '__main__':
  run(sys.argv)
