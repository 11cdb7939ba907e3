"""The in-memory dataset container and the image helpers every source shares."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

# Shrinking: bilinear, which PIL antialiases (its support grows with the scale
# factor). Enlarging (8x8 digits, 28x28 MNIST): bicubic, a little crisper.
_SHRINK = Image.Resampling.BILINEAR
_ENLARGE = Image.Resampling.BICUBIC
_CHUNK = 512  # images per thread-pool task


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """A whole dataset, already at the model's size: in host memory, or (for
  data.source='arrayrecord') images read from disk where indexed.

  Attributes:
    images: uint8 array (N, H, W, C), pixel values 0..255; or, for toy data,
      float32 points (N, D) used as they are; or a lazily read
      `ArrayRecordImages` (`is_lazy`), which has the array's shape, dtype and
      indexing but decodes only the rows asked for.
    labels: int32 array (N,), or None for unlabelled data.
    num_classes: the number of classes when labels exist, else None.
    name: where the data came from, e.g. 'digits', 'tfds:mnist', 'idx:/path'.
    sources: for paired (image-to-image) data, uint8 (N, h, w, c): the input
      image of each target in `images`, of any size and channel count (an
      edge map, a masked or low-resolution image); None for unpaired data.
  """

  images: np.ndarray
  labels: np.ndarray | None
  num_classes: int | None
  name: str
  sources: np.ndarray | None = None

  def __post_init__(self):
    is_image = self.images.dtype == np.uint8 and self.images.ndim == 4
    is_points = self.images.dtype == np.float32 and self.images.ndim == 2
    if not (is_image or is_points):
      raise ValueError(
          f'{self.name}: data must be uint8 images (N, H, W, C) or float32 '
          f'points (N, D), got {self.images.dtype} {self.images.shape}.')
    if len(self.images) == 0:
      raise ValueError(f'{self.name}: the dataset holds no images.')
    if self.labels is not None and self.labels.shape != (len(self.images),):
      raise ValueError(
          f'{self.name}: {len(self.images)} images but labels of shape '
          f'{self.labels.shape}.')
    if self.sources is not None:
      if not is_image:
        raise ValueError(f'{self.name}: paired sources need image targets.')
      if self.sources.dtype != np.uint8 or self.sources.ndim != 4:
        raise ValueError(
            f'{self.name}: sources must be uint8 images (N, h, w, c), got '
            f'{self.sources.dtype} {self.sources.shape}.')
      if len(self.sources) != len(self.images):
        raise ValueError(
            f'{self.name}: {len(self.images)} targets but {len(self.sources)} '
            'sources.')

  def __len__(self) -> int:
    return len(self.images)

  @property
  def is_image(self) -> bool:
    return self.images.dtype == np.uint8


def to_float(images):
  """Maps uint8 pixels 0..255 to float32 in [-1, 1]: x / 127.5 - 1. Float
  data (toy points) passes through unchanged.

  Works on NumPy and JAX arrays alike (returns the same kind).
  """
  if images.dtype != np.uint8:
    return images.astype(np.float32)
  return images.astype(np.float32) / 127.5 - 1.0


def check_channels(have: int, want: int, what: str) -> None:
  """Raises a ValueError saying how to fix a channel-count mismatch."""
  if have != want:
    raise ValueError(
        f'{what} has {have}-channel images but the model asks for {want} '
        f'channel(s). Set model.channels={have} (e.g. '
        f'--config.model.channels={have}) to train on this data.')


def resize_pil(image: Image.Image, size: int) -> Image.Image:
  """Crops the centred square and resizes it to `size` x `size`.

  The same as resizing the shorter side to `size` then centre-cropping, but
  with one resampling, and no pixel outside the crop bleeds into its edges.
  Bicubic when enlarging, antialiased bilinear when shrinking.
  """
  w, h = image.size
  if (w, h) == (size, size):
    return image
  side = min(w, h)
  if (w, h) != (side, side):
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
  return image.resize((size, size), _ENLARGE if size > side else _SHRINK)


def _resize_one(image: np.ndarray, size: int) -> np.ndarray:
  channels = image.shape[-1]
  if channels == 1:
    pil = Image.fromarray(image[..., 0], mode='L')
  elif channels == 3:
    pil = Image.fromarray(image, mode='RGB')
  else:
    raise ValueError(f'Cannot resize an image with {channels} channels.')
  out = np.asarray(resize_pil(pil, size))
  return out.reshape(size, size, channels)


def resize_images(images: np.ndarray | Sequence[np.ndarray],
                  size: int) -> np.ndarray:
  """Resizes (and centre-crops) uint8 (H, W, C) images to (size, size, C).

  Args:
    images: a uint8 array (N, H, W, C) or a sequence of (H, W, C) arrays that
      may differ in height and width but not in channels.
    size: the output height and width.

  Returns:
    uint8 array (N, size, size, C).
  """
  if isinstance(images, np.ndarray) and images.shape[1:3] == (size, size):
    return images
  n = len(images)
  if n == 0:
    raise ValueError('No images to resize.')
  out = np.empty((n, size, size, images[0].shape[-1]), np.uint8)

  def work(start):
    for i in range(start, min(start + _CHUNK, n)):
      out[i] = _resize_one(images[i], size)

  # PIL releases the GIL while it resamples.
  workers = min(8, os.cpu_count() or 1)
  starts = range(0, n, _CHUNK)
  if len(starts) == 1 or workers == 1:
    for start in starts:
      work(start)
  else:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      list(pool.map(work, starts))
  return out
