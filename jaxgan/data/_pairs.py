"""Paired data for image-to-image models: each target image with its input.

`config.data.pairs` picks how the inputs ('sources') are made:

- 'edges': the binary Sobel edge map of the target (the edges -> photo task
  of pix2pix, Isola et al. 2017, on digits);
- 'masked': the target with a square of half its side filled with grey, at a
  position drawn per image (inpainting);
- 'downsample4': the target shrunk 4x with antialiased bicubic resampling
  (the low-resolution input of SRGAN, Ledig et al. 2017);
- 'folder': the user's own aligned pairs in `data.path`, in either layout of
  the pix2pix code: subfolders `A/` and `B/` holding files with matching names,
  or single files holding input|target side by side (width = 2 x height).
  `data.direction='BtoA'` swaps input and target.

The first three are made from any other `data.source` and are deterministic
(the mask positions are drawn from `data.pair_seed`).
"""

from __future__ import annotations

import os

import ml_collections
import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from jaxgan.data._folder import list_images
from jaxgan.data._images import ImageDataset, resize_pil
from jaxgan.data._load import load

PAIRS = ('edges', 'masked', 'downsample4', 'folder')
DIRECTIONS = ('AtoB', 'BtoA')
SR_FACTOR = 4
_EDGE_THRESHOLD = 0.25  # of each image's largest gradient magnitude


def edge_maps(images: np.ndarray) -> np.ndarray:
  """Binary edges (0 or 255) of uint8 images (N, H, W, C): Sobel gradient
  magnitudes (of the channel mean) above a quarter of each image's largest."""
  grey = images.astype(np.float32).mean(-1)
  magnitude = np.hypot(ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=2))
  peak = magnitude.max(axis=(1, 2), keepdims=True)
  edges = magnitude > _EDGE_THRESHOLD * np.maximum(peak, 1e-6)
  edges = np.where(edges, 255, 0).astype(np.uint8)[..., None]
  return np.broadcast_to(edges, images.shape).copy()


def masked(images: np.ndarray, seed: int) -> np.ndarray:
  """Each image with a grey (128) square of half its side, at a position drawn
  from `np.random.default_rng(seed)`."""
  n, h, w = images.shape[:3]
  side_h, side_w = h // 2, w // 2
  rng = np.random.default_rng(seed)
  tops = rng.integers(0, h - side_h + 1, n)
  lefts = rng.integers(0, w - side_w + 1, n)
  rows = np.arange(h)[None, :, None]
  cols = np.arange(w)[None, None, :]
  inside = ((rows >= tops[:, None, None]) & (rows < tops[:, None, None] + side_h)
            & (cols >= lefts[:, None, None]) & (cols < lefts[:, None, None] + side_w))
  return np.where(inside[..., None], np.uint8(128), images)


def downsample(images: np.ndarray, factor: int = SR_FACTOR) -> np.ndarray:
  """Shrinks uint8 images (N, H, W, C) by `factor` with PIL's bicubic filter,
  antialiased (its support is widened by the factor)."""
  n, h, w, c = images.shape
  if h % factor or w % factor:
    raise ValueError(f'Super-resolution pairs need an image size divisible by '
                     f'{factor} (model.image_size), got {h}x{w}.')
  out = np.empty((n, h // factor, w // factor, c), np.uint8)
  for i, image in enumerate(images):
    pil = Image.fromarray(image[..., 0] if c == 1 else image)
    small = pil.resize((w // factor, h // factor), Image.Resampling.BICUBIC)
    out[i] = np.asarray(small).reshape(out.shape[1:])
  return out


def upsample_bicubic(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """Enlarges uint8 images (N, h, w, C) to `size` = (H, W) with PIL's bicubic
  filter: the baseline that super-resolution is compared with."""
  n, c = images.shape[0], images.shape[-1]
  out = np.empty((n, *size, c), np.uint8)
  for i, image in enumerate(images):
    pil = Image.fromarray(image[..., 0] if c == 1 else image)
    out[i] = np.asarray(pil.resize(size[::-1], Image.Resampling.BICUBIC)).reshape(
        out.shape[1:])
  return out


def make_pairs(dataset: ImageDataset, kind: str, *, seed: int = 0) -> ImageDataset:
  """`dataset` with the sources of `kind` ('edges', 'masked', 'downsample4')
  made from its images."""
  if kind == 'edges':
    sources = edge_maps(dataset.images)
  elif kind == 'masked':
    sources = masked(dataset.images, seed)
  elif kind == 'downsample4':
    sources = downsample(dataset.images)
  else:
    valid = ', '.join(p for p in PAIRS if p != 'folder')
    raise ValueError(f'Unknown data.pairs={kind!r} to make from images; valid: {valid}.')
  return ImageDataset(images=dataset.images, labels=dataset.labels,
                      num_classes=dataset.num_classes,
                      name=f'{dataset.name}:{kind}', sources=sources)


def _read(filename: str, mode: str) -> Image.Image:
  try:
    with Image.open(filename) as image:
      image.load()
      return ImageOps.exif_transpose(image).convert(mode)
  except (OSError, ValueError, SyntaxError, EOFError) as e:
    raise ValueError(f'Cannot decode image {filename}: {e}.') from e


def _as_array(image: Image.Image, size: int) -> np.ndarray:
  array = np.asarray(resize_pil(image, size), np.uint8)
  return array[..., None] if array.ndim == 2 else array


def _stem(path: str, root: str) -> str:
  return os.path.splitext(os.path.relpath(path, root))[0]


def _folder_files(path: str) -> list[tuple[str, str | None]]:
  """(input file, target file) pairs in `path`'s A/ and B/, or (file, None)
  for side-by-side files."""
  a_dir, b_dir = os.path.join(path, 'A'), os.path.join(path, 'B')
  if not (os.path.isdir(a_dir) and os.path.isdir(b_dir)):
    files = list_images(path)
    if not files:
      raise FileNotFoundError(
          f'No images under data.path={path!r}: data.pairs=folder needs subfolders '
          'A/ and B/ with matching file names, or side-by-side input|target images.')
    return [(f, None) for f in files]
  a_files = {_stem(f, a_dir): f for f in list_images(a_dir)}
  b_files = {_stem(f, b_dir): f for f in list_images(b_dir)}
  only_a, only_b = sorted(a_files.keys() - b_files), sorted(b_files.keys() - a_files)
  if only_a or only_b:
    raise ValueError(
        f'Unmatched pairs in {path}: {len(only_a)} file(s) only in A/ (e.g. '
        f'{only_a[:3]}), {len(only_b)} only in B/ (e.g. {only_b[:3]}). Each input '
        'in A/ needs a target in B/ with the same name (the extension may differ).')
  if not a_files:
    raise FileNotFoundError(f'No images in {a_dir} and {b_dir}.')
  return [(a_files[k], b_files[k]) for k in sorted(a_files)]


def load_pair_folder(path: str | None, *, image_size: int, channels: int,
                     source_channels: int | None = None,
                     direction: str = 'AtoB') -> ImageDataset:
  """Aligned (A, B) pairs from `path`, both resized to `image_size` square.

  Args:
    path: a folder with subfolders A/ and B/ of images with matching names
      (the extension may differ), or of images holding A|B side by side.
    image_size: height and width of inputs and targets.
    channels: channels of the targets (1 or 3).
    source_channels: channels of the inputs (default: `channels`).
    direction: 'AtoB' (A is the input) or 'BtoA'.

  Returns:
    An ImageDataset of the targets with their inputs as `sources`, in sorted
    file order.

  Raises:
    ValueError: unmatched names, a side-by-side file whose width is not twice
      its height, an undecodable file, bad channels or direction.
    FileNotFoundError: no folder or no images.
  """
  if not path or not os.path.isdir(path):
    raise FileNotFoundError(
        f'data.pairs=folder needs data.path, a directory of pairs; got {path!r}.')
  if direction not in DIRECTIONS:
    raise ValueError(f'Unknown data.direction={direction!r}; valid: '
                     f'{", ".join(DIRECTIONS)}.')
  source_channels = source_channels or channels
  for key, c in (('model.channels', channels), ('data.source_channels', source_channels)):
    if c not in (1, 3):
      raise ValueError(f'Pair images are read with 1 or 3 channels, not {c} ({key}).')
  mode_a, mode_b = ('RGB' if c == 3 else 'L' for c in (
      (source_channels, channels) if direction == 'AtoB' else (channels, source_channels)))
  a_images, b_images = [], []
  for a_file, b_file in _folder_files(path):
    if b_file is None:
      image = _read(a_file, 'RGB')
      w, h = image.size
      if w != 2 * h:
        raise ValueError(
            f'{a_file} is {w}x{h}: a side-by-side pair must be twice as wide as high '
            '(input|target), or put inputs in A/ and targets in B/.')
      a, b = image.crop((0, 0, h, h)), image.crop((h, 0, w, h))
      a, b = a.convert(mode_a), b.convert(mode_b)
    else:
      a, b = _read(a_file, mode_a), _read(b_file, mode_b)
    a_images.append(_as_array(a, image_size))
    b_images.append(_as_array(b, image_size))
  sources, targets = np.stack(a_images), np.stack(b_images)
  if direction == 'BtoA':
    sources, targets = targets, sources
  return ImageDataset(images=targets, labels=None, num_classes=None,
                      name=f'pairs:{path}', sources=sources)


def load_paired(config: ml_collections.ConfigDict, *, image_size: int,
                channels: int) -> ImageDataset:
  """The paired dataset that `config` (i.e. `config.data`) names with `pairs`:
  a folder of pairs, or pairs made from the images of `config.source`."""
  kind = config.get('pairs', '')
  if kind not in PAIRS:
    raise ValueError(f'Unknown data.pairs={kind!r}; valid: {", ".join(PAIRS)}.')
  if kind == 'folder':
    return load_pair_folder(config.get('path', None), image_size=image_size,
                            channels=channels,
                            source_channels=config.get('source_channels', 0) or None,
                            direction=config.get('direction', 'AtoB'))
  dataset = load(config, image_size=image_size, channels=channels)
  return make_pairs(dataset, kind, seed=int(config.get('pair_seed', 0)))


def source_shape(config: ml_collections.ConfigDict, *, image_size: int,
                 channels: int) -> tuple[int, int, int]:
  """The shape (h, w, c) of one input image of the pairs that `config` (i.e.
  `config.data`) makes, found without reading any: what a trained
  image-to-image generator takes."""
  kind = config.get('pairs', '')
  if kind == 'downsample4':
    return (image_size // SR_FACTOR, image_size // SR_FACTOR, channels)
  if kind == 'folder':
    return (image_size, image_size, config.get('source_channels', 0) or channels)
  return (image_size, image_size, channels)


def split_holdout(dataset: ImageDataset, num: int) -> tuple[ImageDataset, ImageDataset]:
  """(training pairs, held-out pairs): the last `num` examples are held out."""
  if not 0 < num < len(dataset):
    raise ValueError(f'data.holdout={num} must be in [1, {len(dataset) - 1}] for '
                     f'the {len(dataset)} pairs of {dataset.name}.')

  def part(s):
    return ImageDataset(
        images=dataset.images[s], sources=dataset.sources[s], name=dataset.name,
        labels=None if dataset.labels is None else dataset.labels[s],
        num_classes=dataset.num_classes)

  return part(slice(None, -num)), part(slice(-num, None))
