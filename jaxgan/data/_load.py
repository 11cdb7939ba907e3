"""`load`: a dataset from `config.data`, picked by `config.data.source`."""

from __future__ import annotations

import dataclasses
import time

import ml_collections
import numpy as np
from absl import logging

from jaxgan.data import _stacked_mnist
from jaxgan.data._digits import load_digits
from jaxgan.data._folder import load_folder
from jaxgan.data._idx import load_idx
from jaxgan.data._images import ImageDataset
from jaxgan.data._stream import is_lazy, load_arrayrecord
from jaxgan.data._toy import load_toy

SOURCES = ('digits', 'tfds', 'idx', 'folder', 'toy', 'stacked_mnist', 'arrayrecord')
# Sources that draw their data: num_examples is their size, not a subset.
GENERATED_SOURCES = ('toy', 'stacked_mnist')


def load(config: ml_collections.ConfigDict, *, image_size: int,
         channels: int) -> ImageDataset:
  """Loads the dataset that `config` (i.e. `config.data`) names, into memory
  (or, for 'arrayrecord', opens it to be read batch by batch).

  Fields of `config` (missing optional ones take the defaults shown):
    source: one of SOURCES.
    name: the TFDS name for source='tfds' ('mnist', 'cifar10', 'celeb_a').
    split: 'train' (default) or 'test' for 'tfds' and 'idx'; any TFDS split.
    path: the directory for 'idx', 'folder' and 'stacked_mnist' (MNIST's
      IDX files); for 'arrayrecord', the directory `jaxgan prepare` wrote
      (or the images.array_record file in it).
    num_examples, seed: the size of a 'toy' or 'stacked_mnist' dataset and
      the seed it is drawn with (defaults 100,000 / 128,000 and 0). For the
      other sources, a positive num_examples keeps that many images, drawn
      by `seed` (the same number of each class when the data has labels):
      the few-data setting of DiffAugment and ADA, e.g. 10% of a dataset.
    data_dir: the TFDS data_dir (None: TFDS's default).
    download: let TFDS download and prepare (default False).
    skip_corrupt: skip undecodable files in a folder (default True).
    mixed_channels: a folder mixing greyscale and colour images: 'convert'
      them all (default, with a warning that counts them) or 'error'.

  Images come back as uint8 (N, image_size, image_size, channels): resized
  (bilinear, antialiased when shrinking) after a centre crop to a square.
  'digits', 'tfds' and 'idx' data must already have `channels` channels (a
  ValueError says to set model.channels otherwise); folder images are
  converted to RGB or greyscale. 'arrayrecord' data was resized when it was
  converted (`jaxgan.data.prepare`): its size and channels must be the
  model's (a ValueError says what to change), and its `images` is an
  `ArrayRecordImages`, read and decoded only where indexed (needs
  `pip install 'jaxgan[stream]'`); a num_examples subset is a lazy view.

  Raises:
    ValueError: an unknown source or dataset name, a channel mismatch.
    FileNotFoundError: data that is not where the config says.
    ImportError, ConnectionError: a TFDS dataset that cannot be prepared here.
  """
  source = config.get('source', 'digits')
  if source not in SOURCES:
    raise ValueError(
        f'Unknown data.source={source!r}; valid sources: {", ".join(SOURCES)}.')
  if image_size <= 0 and source != 'toy':
    raise ValueError(f'image_size must be positive, got {image_size}.')
  split = config.get('split', None) or 'train'
  start = time.perf_counter()
  if source == 'digits':
    dataset = load_digits(image_size=image_size, channels=channels)
  elif source == 'toy':
    dataset = load_toy(config.get('name', None),
                       num_examples=int(config.get('num_examples', 0) or 100_000),
                       seed=int(config.get('seed', 0) or 0))
  elif source == 'stacked_mnist':
    dataset = _load_stacked_mnist(config, split, image_size=image_size,
                                  channels=channels)
  elif source == 'tfds':
    from jaxgan.data._tfds import load_tfds  # pylint: disable=g-import-not-at-top
    dataset = load_tfds(
        config.get('name', None), split, data_dir=config.get('data_dir', None),
        download=bool(config.get('download', False)), image_size=image_size,
        channels=channels)
  elif source == 'idx':
    dataset = load_idx(config.get('path', None), split, image_size=image_size,
                       channels=channels)
  elif source == 'arrayrecord':
    dataset = load_arrayrecord(config.get('path', None), image_size=image_size,
                               channels=channels)
  else:
    dataset = load_folder(
        config.get('path', None), image_size=image_size, channels=channels,
        skip_corrupt=bool(config.get('skip_corrupt', True)),
        mixed_channels=config.get('mixed_channels', None) or 'convert')
  num_examples = int(config.get('num_examples', 0) or 0)
  if num_examples and source not in GENERATED_SOURCES:
    dataset = subset(dataset, num_examples, int(config.get('seed', 0) or 0))
  logging.info('Loaded %s: %d images %s in %.1fs.', dataset.name, len(dataset),
               dataset.images.shape[1:], time.perf_counter() - start)
  return dataset


def subset(dataset: ImageDataset, num_examples: int, seed: int) -> ImageDataset:
  """`num_examples` images of `dataset` drawn without replacement by `seed`,
  num_examples / K of each of K classes when it has labels (which must
  divide), in their original order."""
  n = len(dataset)
  if not 0 < num_examples <= n:
    raise ValueError(f'data.num_examples={num_examples}: the dataset has {n} images; '
                     f'choose 1..{n} (0 keeps all).')
  rng = np.random.default_rng((seed, 11))
  if dataset.labels is None:
    keep = rng.choice(n, num_examples, replace=False)
  else:
    k = dataset.num_classes
    if num_examples % k:
      raise ValueError(f'data.num_examples={num_examples} must be a multiple of the '
                       f'{k} classes (the same number of each).')
    keep = np.concatenate([rng.choice(np.flatnonzero(dataset.labels == c), num_examples // k,
                                      replace=False) for c in range(k)])
  keep = np.sort(keep)
  images = dataset.images.view(keep) if is_lazy(dataset.images) else dataset.images[keep]
  return dataclasses.replace(
      dataset, images=images,
      labels=None if dataset.labels is None else dataset.labels[keep],
      sources=None if dataset.sources is None else dataset.sources[keep],
      name=f'{dataset.name}[{num_examples}]')


def _load_stacked_mnist(config: ml_collections.ConfigDict, split: str, *,
                        image_size: int, channels: int) -> ImageDataset:
  """Stacked MNIST (`jaxgan.data.stacked_mnist`): three MNIST digits
  from the IDX files in `config.path` as the channels, the same images for
  the same `config.seed`; labels are the 1000 modes."""
  if channels != 3:
    raise ValueError("data.source='stacked_mnist' makes 3-channel images; set "
                     f"model.channels=3 (got {channels}).")
  mnist = load_idx(config.get('path', None), split, image_size=image_size,
                   channels=1)
  return _stacked_mnist.stacked_mnist(
      mnist, int(config.get('num_examples', 0) or _stacked_mnist.NUM_TRAIN),
      seed=int(config.get('seed', 0) or 0))
