"""A folder of the user's own images (png/jpg/...), of any size and mode."""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
from absl import logging
from PIL import Image, ImageOps

from jaxgan.data._images import ImageDataset, resize_pil

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.gif')
# What PIL raises for files it cannot decode (UnidentifiedImageError and
# truncated data are OSErrors).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError,
                  Image.DecompressionBombError)


def list_images(path: str) -> list[str]:
  """Image files under `path`, recursively, in a sorted (reproducible) order."""
  found = []
  for root, dirs, files in os.walk(path, followlinks=True):
    dirs.sort()
    found.extend(os.path.join(root, f) for f in files
                 if f.lower().endswith(EXTENSIONS) and not f.startswith('.'))
  return sorted(found, key=lambda f: os.path.relpath(f, path))


# PIL modes of one intensity channel (with alpha for 'LA', 'La').
_GREY_MODES = ('1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F')
MIXED_CHANNELS = ('convert', 'error')


def _source_channels(image: Image.Image) -> int:
  """1 for a greyscale image (a palette image whose used colours are grey
  too), 3 for a colour one; alpha does not count."""
  if image.mode in _GREY_MODES:
    return 1
  if image.mode in ('P', 'PA'):
    colours = image.getcolors(256) or []
    palette = np.asarray(image.getpalette() or [0, 0, 0], np.int32).reshape(-1, 3)
    used = palette[[min(i, len(palette) - 1) for _, i in colours]]
    return 1 if np.all(used == used[:, :1]) else 3
  return 3


def _decode(filename: str, mode: str, size: int) -> tuple[np.ndarray, int]:
  """The image at `filename` in `mode`, resized; and its own channel count."""
  with Image.open(filename) as image:
    image.load()  # decode now, so truncated files fail here
    image = ImageOps.exif_transpose(image)  # photos taken sideways
    channels = _source_channels(image)
    if image.mode == 'P' and 'transparency' in image.info:
      image = image.convert('RGBA')
    image = resize_pil(image.convert(mode), size)
  array = np.asarray(image, dtype=np.uint8)
  return (array[..., None] if array.ndim == 2 else array), channels


def _check_arguments(path: str | None, channels: int, mixed_channels: str) -> None:
  if not path:
    raise ValueError(
        "data.source='folder' needs data.path: a directory of images.")
  if not os.path.isdir(path):
    raise FileNotFoundError(
        f"data.path={path!r} is not a directory (data.source='folder').")
  if channels not in (1, 3):
    raise ValueError(
        f'Folder images can be read with 1 or 3 channels, not {channels} '
        '(model.channels).')
  if mixed_channels not in MIXED_CHANNELS:
    raise ValueError(
        f'Unknown data.mixed_channels={mixed_channels!r}; valid: '
        f'{", ".join(MIXED_CHANNELS)}.')


def _check_mixed(path: str, files: list[str], ok: np.ndarray,
                 source_channels: np.ndarray, channels: int,
                 mixed_channels: str) -> None:
  """Warns about (or, with mixed_channels='error', refuses) a folder whose
  decoded images are partly greyscale and partly colour."""
  kinds = sorted(set(source_channels[ok].tolist()))
  if len(kinds) <= 1:
    return
  counts = ', '.join(
      f'{np.sum(ok & (source_channels == c))} {"greyscale" if c == 1 else "colour"} '
      f'(e.g. {files[int(np.argmax(ok & (source_channels == c)))]})' for c in kinds)
  if mixed_channels == 'error':
    raise ValueError(
        f'The images under {path} mix greyscale and colour: {counts}. Remove '
        'the odd ones, or set data.mixed_channels=convert to convert them all to '
        f'model.channels={channels}.')
  logging.warning(
      'The images under %s mix greyscale and colour: %s; all are converted to '
      '%s (model.channels=%d). Set data.mixed_channels=error to refuse this.',
      path, counts, 'RGB' if channels == 3 else 'greyscale', channels)


def load_folder(path: str | None, *, image_size: int, channels: int,
                skip_corrupt: bool = True,
                mixed_channels: str = 'convert') -> ImageDataset:
  """Decodes every image under `path`, converted to `channels` and resized.

  Each image is converted to RGB (channels=3) or greyscale (channels=1), its
  shorter side resized to `image_size` and its centre cropped to a square.

  Args:
    path: the folder, searched recursively for EXTENSIONS.
    image_size: output height and width.
    channels: 1 or 3.
    skip_corrupt: skip files PIL cannot decode, with one warning that counts
      them; if False, raise on the first such file.
    mixed_channels: what to do when some images are greyscale and others
      colour: 'convert' them all to `channels`, with one warning that counts
      each kind, or raise an 'error' that counts them and names an example.

  Returns:
    An unlabelled ImageDataset in sorted file order.
  """
  _check_arguments(path, channels, mixed_channels)
  files = list_images(path)
  if not files:
    raise FileNotFoundError(
        f'No images ({", ".join(EXTENSIONS)}) found under {path}.')
  mode = 'RGB' if channels == 3 else 'L'

  out = np.empty((len(files), image_size, image_size, channels), np.uint8)
  ok = np.zeros(len(files), bool)
  source_channels = np.zeros(len(files), np.int8)
  errors = []

  def decode(i):
    try:
      out[i], source_channels[i] = _decode(files[i], mode, image_size)
      ok[i] = True
    except _DECODE_ERRORS as e:
      if not skip_corrupt:
        raise ValueError(
            f'Cannot decode image {files[i]}: {e}. Remove it, or set '
            'data.skip_corrupt=True to skip unreadable files.') from e
      errors.append(f'{files[i]}: {e}')

  pool = concurrent.futures.ThreadPoolExecutor(min(16, (os.cpu_count() or 1) + 4))
  try:
    list(pool.map(decode, range(len(files))))
  finally:
    pool.shutdown(cancel_futures=True)
  if not ok.any():
    raise ValueError(
        f'None of the {len(files)} image files under {path} could be decoded '
        f'(e.g. {min(errors)}).')
  if errors:
    logging.warning(
        'Skipped %d of %d image files under %s that could not be decoded '
        '(set data.skip_corrupt=False to fail instead), e.g. %s',
        len(errors), len(files), path, min(errors))
  _check_mixed(path, files, ok, source_channels, channels, mixed_channels)
  return ImageDataset(
      images=out if ok.all() else out[ok], labels=None, num_classes=None,
      name=f'folder:{path}')
