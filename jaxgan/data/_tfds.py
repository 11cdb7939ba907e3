"""TensorFlow Datasets by name, read with `tfds.data_source` (no TensorFlow).

TFDS itself is the optional extra `pip install 'jaxgan[tfds]'`; without it
this source fails at once, naming the extra. Reading a dataset prepared in the ArrayRecord (or Parquet) format needs only
NumPy and PIL. Two things need TensorFlow, the optional extra
`pip install 'jaxgan[tf]'`: preparing a dataset (TFDS encodes the images with
TensorFlow) and reading one prepared only as TFRecord files (`tfds.load`).

Every failure is raised at once with what to do: TFDS itself would retry an
unreachable network for minutes, so the network is checked first with a short
timeout.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import socket
import urllib.parse
import urllib.request

import numpy as np
from absl import logging

from jaxgan.data._images import ImageDataset, check_channels, resize_images

_TF_EXTRA = "pip install 'jaxgan[tf]'"
_TFDS_EXTRA = "pip install 'jaxgan[tfds]'"
_READ_CHUNK = 1024  # examples per batched read
# Where TFDS downloads most datasets from (GCS mirror and the checksummed URLs).
NETWORK_PROBE = ('storage.googleapis.com', 443)


def network_available(timeout: float = 3.0) -> bool:
  """Whether NETWORK_PROBE (or the HTTPS proxy, if one is set) accepts a TCP
  connection within `timeout` seconds."""
  address = NETWORK_PROBE
  proxy = urllib.request.getproxies().get('https')
  if proxy:
    parsed = urllib.parse.urlsplit(proxy if '://' in proxy else f'//{proxy}')
    if parsed.hostname:
      address = (parsed.hostname, parsed.port or 443)
  try:
    with socket.create_connection(address, timeout=timeout):
      return True
  except OSError:
    return False


def _tensorflow_installed() -> bool:
  return importlib.util.find_spec('tensorflow') is not None


class MissingExtraError(ImportError):
  """An optional dependency that the data asks for is not installed; the
  message names the extra that brings it."""


def _import_tfds():
  """The tensorflow_datasets module; ImportError naming the extra without it."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise MissingExtraError(
        "data.source='tfds' needs TensorFlow Datasets, which the core install "
        f"leaves out: {_TFDS_EXTRA}. The 'digits', 'idx', 'folder' and 'toy' "
        'sources need nothing more.') from e
  return tfds


def _builder(tfds, name: str, data_dir: str | None, **kwargs):
  """tfds.builder, with close matches when the name is unknown."""
  try:
    return tfds.builder(name, data_dir=data_dir, **kwargs)
  except tfds.core.registered.DatasetNotFoundError as e:
    base = name.split(':')[0].split('/')[0]
    known = tfds.list_builders(with_community_datasets=False)
    close = difflib.get_close_matches(base, known, n=5, cutoff=0.6)
    hint = f'Did you mean {", ".join(close)}? ' if close else ''
    raise ValueError(
        f'Unknown TFDS dataset data.name={name!r}. {hint}List the '
        "names with `python -c 'import tensorflow_datasets as tfds; "
        "print(tfds.list_builders())'` or see "
        'https://www.tensorflow.org/datasets/catalog/overview.') from e


def _not_prepared_error(name: str, builder, data_dir: str | None) -> Exception:
  where = (f'data.data_dir={data_dir!r}' if data_dir else
           'the TFDS default data_dir (data.data_dir=None: $TFDS_DATA_DIR or '
           '~/tensorflow_datasets)')
  return FileNotFoundError(
      f'TFDS dataset {name!r} is not prepared in {where}: looked in '
      f'{builder.data_dir}. Either set data.download=True on a machine with '
      f'network access and TensorFlow ({_TF_EXTRA}) to download and prepare '
      'it; or point data.data_dir at a directory where it was prepared '
      '(e.g. `tfds build ' + name + ' --file_format=array_record '
      "--data_dir=DIR` elsewhere); or, for MNIST-format files you already "
      "have, use data.source='idx' with data.path=<directory>.")


def _prepare(tfds, name: str, data_dir: str | None):
  """Downloads and prepares `name` as ArrayRecord, failing fast if it cannot."""
  if not _tensorflow_installed():
    raise ImportError(
        f'Preparing the TFDS dataset {name!r} (data.download=True) needs '
        f'TensorFlow, which TFDS uses to encode the images: {_TF_EXTRA}. '
        'Or prepare it on another machine with `tfds build ' + name +
        " --file_format=array_record` and set data.data_dir; or use "
        "data.source='idx' for MNIST-format files.")
  if not network_available():
    host, port = NETWORK_PROBE
    raise ConnectionError(
        f'data.download=True but {host}:{port} cannot be reached, so the TFDS '
        f'dataset {name!r} cannot be downloaded here (TFDS would retry for '
        'minutes). Download it on a machine with network access and set '
        "data.data_dir, or use data.source='idx' or 'digits' offline.")
  builder = _builder(tfds, name, data_dir, file_format='array_record')
  builder.download_and_prepare()
  return builder


def _read_all(source, image_size: int, what: str):
  """Reads every example of a data source, resizing images chunk by chunk."""
  n = len(source)
  if n == 0:
    raise ValueError(f'{what} holds no examples.')
  getitems = getattr(source, '__getitems__', None)
  images = labels = None
  for start in range(0, n, _READ_CHUNK):
    keys = list(range(start, min(start + _READ_CHUNK, n)))
    examples = None
    if getitems is not None:
      try:
        examples = getitems(keys)
      except TypeError:
        # Some sources (e.g. the one tfds.testing.mock_data builds) do not
        # implement batched reads properly; read one by one.
        getitems = None
    if examples is None:
      examples = [source[k] for k in keys]
    chunk = [np.asarray(ex['image']) for ex in examples]
    chunk = resize_images(
        [im[..., None] if im.ndim == 2 else im for im in chunk], image_size)
    if images is None:  # allocate once: only resized images are kept
      images = np.empty((n,) + chunk.shape[1:], np.uint8)
      if 'label' in examples[0]:
        labels = np.empty(n, np.int32)
    images[start:start + len(keys)] = chunk
    if labels is not None:
      labels[start:start + len(keys)] = [ex['label'] for ex in examples]
  return images, labels


def _read_with_tensorflow(tfds, builder, split: str, image_size: int):
  ds = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  images = np.asarray(ds['image'])
  labels = np.asarray(ds['label'], np.int32) if 'label' in ds else None
  return resize_images(images, image_size), labels


def load_tfds(name: str | None, split: str, *, data_dir: str | None,
              download: bool, image_size: int, channels: int) -> ImageDataset:
  """Reads split `split` of TFDS dataset `name` into memory.

  Args:
    name: the TFDS name, optionally with config and version ('mnist',
      'celeb_a:2.1.0').
    split: a TFDS split ('train', 'test', 'train[:10%]', ...).
    data_dir: the TFDS data directory; None for TFDS's default.
    download: download and prepare the dataset if it is not prepared.
    image_size: output height and width.
    channels: the channels the model expects; must match the data.

  Returns:
    An ImageDataset, labelled when the dataset has a 'label' feature.
  """
  if not name:
    raise ValueError(
        "data.source='tfds' needs data.name, e.g. 'mnist' or 'cifar10'.")
  tfds = _import_tfds()
  data_dir = os.path.expanduser(data_dir) if data_dir else None
  builder = _builder(tfds, name, data_dir)
  features = builder.info.features
  if 'image' not in features:
    raise ValueError(
        f'TFDS dataset {name!r} has no "image" feature (it has '
        f'{sorted(features.keys())}).')
  declared_channels = features['image'].shape[-1]
  if declared_channels is not None:  # fail before reading anything
    check_channels(declared_channels, channels, f'TFDS dataset {name!r}')
  num_classes = None
  if 'label' in features:
    num_classes = getattr(features['label'], 'num_classes', None)

  if download and not builder.is_prepared():
    builder = _prepare(tfds, name, data_dir)
  what = f'TFDS dataset {name!r} split {split!r}'
  try:
    source = builder.as_data_source(split=split)
  except (NotImplementedError, KeyError, ValueError) as e:
    if not builder.is_prepared():
      raise _not_prepared_error(name, builder, data_dir) from e
    if not isinstance(e, NotImplementedError):
      raise ValueError(
          f'Cannot read {what} from {builder.data_dir} (available splits: '
          f'{sorted(builder.info.splits.keys())}): {e}') from e
    # Prepared only as TFRecord files, which need TensorFlow to read.
    if not _tensorflow_installed():
      raise ImportError(
          f'{what} is prepared in {builder.data_dir} only as TFRecord files, '
          f'which need TensorFlow to read: {_TF_EXTRA}. Or prepare it again '
          'with --file_format=array_record.') from e
    logging.info('Reading %s from TFRecord files with TensorFlow.', what)
    images, labels = _read_with_tensorflow(tfds, builder, split, image_size)
  else:
    logging.info('Reading %d examples of %s.', len(source), what)
    images, labels = _read_all(source, image_size, what)
  check_channels(images.shape[-1], channels, f'TFDS dataset {name!r}')
  if labels is None:
    num_classes = None
  return ImageDataset(images=images, labels=labels, num_classes=num_classes,
                      name=f'tfds:{name}')
