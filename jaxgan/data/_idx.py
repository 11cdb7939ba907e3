"""MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, ...) from a directory."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from jaxgan.data._images import ImageDataset, check_channels, resize_images

_PREFIXES = {'train': 'train', 'test': 't10k'}
# IDX type codes (the third magic byte) and the big-endian dtypes they name.
_DTYPES = {
    0x08: np.dtype('>u1'), 0x09: np.dtype('>i1'), 0x0B: np.dtype('>i2'),
    0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8'),
}


def _find(path: str, prefix: str, what: str, rank: int) -> str:
  """The IDX file of `what` ('images'/'labels') in `path`, gzipped or not."""
  stems = [f'{prefix}-{what}-idx{rank}-ubyte', f'{prefix}-{what}.idx{rank}-ubyte']
  candidates = [stem + ext for stem in stems for ext in ('.gz', '')]
  for name in candidates:
    full = os.path.join(path, name)
    if os.path.isfile(full):
      return full
  raise FileNotFoundError(
      f'No IDX file {stems[0]}[.gz] in {path} (looked for '
      f'{", ".join(candidates)}). data.path must be a directory holding the '
      'MNIST-format files, e.g. train-images-idx3-ubyte.gz and '
      'train-labels-idx1-ubyte.gz (t10k-* for data.split="test").')


def read_idx(filename: str) -> np.ndarray:
  """Parses one IDX file (gzipped or not) into a native-endian array.

  The format: two zero bytes, a type code, the number of dimensions d, then
  d big-endian uint32 sizes, then the data in row-major order.

  Raises:
    ValueError: naming the file, if it is not a complete IDX file.
  """
  try:
    with open(filename, 'rb') as f:
      raw = f.read()
    if raw[:2] == b'\x1f\x8b':
      raw = gzip.decompress(raw)
  except (OSError, EOFError, zlib.error) as e:
    raise ValueError(f'Cannot read IDX file {filename}: {e}') from e
  if len(raw) < 4 or raw[:2] != b'\0\0' or raw[2] not in _DTYPES:
    raise ValueError(
        f'{filename} is not an IDX file: expected a magic number 0x0000TTDD '
        f'(TT a type code in {sorted(_DTYPES)}, DD the rank), got '
        f'{raw[:4].hex() or "an empty file"}.')
  dtype, ndim = _DTYPES[raw[2]], raw[3]
  header = 4 + 4 * ndim
  if ndim == 0 or len(raw) < header:
    raise ValueError(f'{filename}: IDX header truncated or of rank 0.')
  shape = tuple(int(d) for d in np.frombuffer(raw, '>u4', ndim, offset=4))
  expected = header + int(np.prod(shape)) * dtype.itemsize
  if len(raw) != expected:
    raise ValueError(
        f'{filename}: the header announces shape {shape} ({expected} bytes '
        f'with the header) but the file holds {len(raw)} bytes: truncated or '
        'corrupt; download it again.')
  data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
  return data.astype(dtype.newbyteorder('='))


def load_idx(path: str | None, split: str, *, image_size: int,
             channels: int) -> ImageDataset:
  """Images and labels of `split` ('train' or 'test', i.e. t10k-*) from `path`."""
  if not path:
    raise ValueError(
        "data.source='idx' needs data.path: the directory holding the IDX "
        'files (train-images-idx3-ubyte.gz, ...).')
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f"data.path={path!r} is not a directory (data.source='idx').")
  if split not in _PREFIXES:
    raise ValueError(
        f'data.split={split!r} is not an IDX split; use one of '
        f'{sorted(_PREFIXES)}.')
  prefix = _PREFIXES[split]
  images_file = _find(path, prefix, 'images', 3)
  labels_file = _find(path, prefix, 'labels', 1)
  images, labels = read_idx(images_file), read_idx(labels_file)
  if images.ndim not in (3, 4) or images.dtype != np.uint8:
    raise ValueError(
        f'{images_file}: expected uint8 images (N, H, W) or (N, H, W, C), got '
        f'{images.dtype} {images.shape}.')
  if labels.ndim != 1 or len(labels) != len(images):
    raise ValueError(
        f'{labels_file}: expected {len(images)} labels to match {images_file}, '
        f'got shape {labels.shape}.')
  if images.ndim == 3:
    images = images[..., None]
  check_channels(images.shape[-1], channels, f'IDX data in {path}')
  labels = labels.astype(np.int32)
  return ImageDataset(
      images=resize_images(images, image_size),
      labels=labels,
      num_classes=int(labels.max()) + 1,
      name=f'idx:{path}')
