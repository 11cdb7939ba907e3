"""Datasets larger than memory: a folder converted once to ArrayRecord, then
read lazily, batch by batch.

    jaxgan prepare --input=photos/ --output=photos64/ --image_size=64
    # config.data.source='arrayrecord', config.data.path='photos64/'

`prepare` decodes a folder as `load_folder` does (RGB or greyscale, centre
crop, resize), in chunks and a thread pool so that its memory stays bounded,
and writes one encoded image per record to `images.array_record` (written
with group_size:1, so any record is read without its neighbours) and a JSON
sidecar `meta.json` (count, shape, encoding, a fingerprint of the records).

`load_arrayrecord` returns an `ImageDataset` whose `images` is an
`ArrayRecordImages`: a read-only array that reads and decodes only the rows it
is indexed with, so a training run holds a few batches, never the dataset.

ArrayRecord is the optional extra `pip install 'jaxgan[stream]'`; without
it this source and `prepare` fail at once, naming the extra.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import os
import shutil
import threading

import numpy as np
from absl import logging
from PIL import Image

from jaxgan.data._folder import (
    _DECODE_ERRORS,
    _check_mixed,
    _decode,
    _source_channels,
    list_images,
)
from jaxgan.data._images import ImageDataset, check_channels
from jaxgan.data._tfds import MissingExtraError

_EXTRA = "pip install 'jaxgan[stream]'"
FORMAT = 'jaxgan-arrayrecord'
VERSION = 1
RECORDS = 'images.array_record'
SIDECAR = 'meta.json'
ENCODINGS = ('jpeg', 'png')
# Every record is its own chunk: reading one record decodes nothing else.
_WRITER_OPTIONS = 'group_size:1'
# No readahead: batches read scattered records.
_READER_OPTIONS = 'readahead_buffer_size:0'
_EXIF_ORIENTATION = 0x0112
_DECODE_TASK = 16  # images per thread-pool task when decoding records


def _array_record_module():
  """array_record's reader and writer; MissingExtraError naming the extra."""
  try:
    from array_record.python import (  # pylint: disable=g-import-not-at-top
        array_record_module,
    )
  except ImportError as e:
    raise MissingExtraError(
        "data.source='arrayrecord' and `jaxgan prepare` need the array_record "
        f"package, which the core install leaves out: {_EXTRA}. The 'digits', "
        "'idx', 'folder' and 'toy' sources need nothing more.") from e
  return array_record_module


def _workers() -> int:
  """Decoding threads: one per core (decoding is CPU-bound and PIL releases
  the GIL; more threads than cores only add switching)."""
  return max(1, min(32, os.cpu_count() or 1))


# -- conversion ----------------------------------------------------------------


def _encode(filename: str, mode: str, size: int, encoding: str,
            quality: int) -> tuple[bytes, int, bool]:
  """(record bytes, the image's own channel count, kept verbatim?) of one file.

  A JPEG already at `size` x `size` in `mode`, with no EXIF rotation, is kept
  byte for byte: decoding it gives what `load_folder` gives, and encoding it
  again would only lose quality.
  """
  with Image.open(filename) as image:
    if (image.format == 'JPEG' and image.size == (size, size)
        and image.mode == mode
        and image.getexif().get(_EXIF_ORIENTATION, 1) == 1):
      image.load()  # truncated files fail here, as in load_folder
      channels = _source_channels(image)
      with open(filename, 'rb') as f:
        return f.read(), channels, True
  array, channels = _decode(filename, mode, size)
  pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
  buffer = io.BytesIO()
  if encoding == 'jpeg':
    # 4:4:4 chroma: subsampling halves the colour resolution of images that
    # are often small already.
    pil.save(buffer, format='JPEG', quality=quality, subsampling=0)
  else:
    pil.save(buffer, format='PNG')
  return buffer.getvalue(), channels, False


def _check_prepare_arguments(path: str, output: str, image_size: int,
                             channels: int, encoding: str, quality: int) -> None:
  if not path or not os.path.isdir(path):
    raise FileNotFoundError(f'The input {path!r} is not a directory of images.')
  if os.path.exists(output):
    raise FileExistsError(
        f'The output {output!r} already exists; prepare never overwrites. '
        'Choose a new output directory, or delete the old one first.')
  if image_size <= 0:
    raise ValueError(f'image_size must be positive, got {image_size}.')
  if channels not in (1, 3):
    raise ValueError(f'Images can be stored with 1 or 3 channels, not {channels}.')
  if encoding not in ENCODINGS:
    raise ValueError(f'Unknown encoding {encoding!r}; valid: {", ".join(ENCODINGS)}.')
  if not 1 <= quality <= 100:
    raise ValueError(f'JPEG quality must be in 1..100, got {quality}.')


def _write_records(writer, encode, n: int, chunk_size: int, ok: np.ndarray,
                   source_channels: np.ndarray, fingerprint) -> int:
  """Writes `encode(i)` for i < n (None: skipped) in order, `chunk_size` files
  encoded at a time in a thread pool; fills ok and source_channels, feeds the
  records to `fingerprint`, closes the writer. Returns the verbatim count."""
  verbatim = 0
  with concurrent.futures.ThreadPoolExecutor(_workers()) as pool:
    for start in range(0, n, chunk_size):
      chunk = range(start, min(start + chunk_size, n))
      for i, result in zip(chunk, pool.map(encode, chunk)):
        if result is None:
          continue
        record, source_channels[i], kept = result
        ok[i] = True
        verbatim += kept
        writer.write(record)
        fingerprint.update(len(record).to_bytes(8, 'little'))
        fingerprint.update(record)
  writer.close()
  return verbatim


def _publish(tmp: str, output: str, meta: dict) -> None:
  """Writes the sidecar into `tmp` and renames `tmp` to `output`."""
  with open(os.path.join(tmp, SIDECAR), 'w') as f:
    json.dump(meta, f, indent=1)
  if os.path.exists(output):  # made meanwhile: rename would replace it
    raise FileExistsError(f'The output {output!r} appeared during the '
                          'conversion; prepare never overwrites.')
  os.rename(tmp, output)


def prepare(path: str, output: str, *, image_size: int, channels: int = 3,
            encoding: str = 'jpeg', quality: int = 95, skip_corrupt: bool = True,
            mixed_channels: str = 'convert', chunk_size: int = 256) -> dict:
  """Converts the folder of images at `path` into ArrayRecord at `output`.

  The images are those `load_folder(path, image_size=..., channels=...)`
  returns, in the same (sorted file) order, skipping the same undecodable
  files: converted to RGB or greyscale, centre-cropped to a square and
  resized. They are decoded `chunk_size` at a time in a thread pool and
  written as they come, so memory does not grow with the folder. Everything
  is written to a temporary directory beside `output` and renamed at the end:
  `output` either holds a whole conversion or does not exist.

  Args:
    path: the folder, searched recursively (`jaxgan.data._folder.EXTENSIONS`).
    output: a new directory; an existing one is an error (never overwritten).
    image_size: the stored height and width (the model's image_size).
    channels: 3 (RGB) or 1 (greyscale).
    encoding: 'jpeg' (lossy, `quality`) or 'png' (lossless). A source JPEG
      already at the size and mode is stored verbatim either way.
    quality: the JPEG quality, 1..100.
    skip_corrupt, mixed_channels: as for `load_folder`.
    chunk_size: images decoded per chunk.

  Returns:
    The sidecar written to output/meta.json.
  """
  output = os.path.normpath(output)
  _check_prepare_arguments(path, output, image_size, channels, encoding, quality)
  records_module = _array_record_module()
  files = list_images(path)
  if not files:
    raise FileNotFoundError(f'No images found under {path}.')
  mode = 'RGB' if channels == 3 else 'L'
  ok, source_channels = np.zeros(len(files), bool), np.zeros(len(files), np.int8)
  errors: list[str] = []
  def encode(i):
    try:
      return _encode(files[i], mode, image_size, encoding, quality)
    except _DECODE_ERRORS as e:
      if not skip_corrupt:
        raise ValueError(
            f'Cannot decode image {files[i]}: {e}. Remove it, or skip '
            'unreadable files (skip_corrupt=True).') from e
      errors.append(f'{files[i]}: {e}')
      return None

  tmp = f'{output}.partial-{os.getpid()}'
  os.makedirs(tmp)
  try:
    writer = records_module.ArrayRecordWriter(os.path.join(tmp, RECORDS),
                                              _WRITER_OPTIONS)
    fingerprint = hashlib.sha256(
        f'{FORMAT} {image_size} {image_size} {channels}'.encode())
    verbatim = _write_records(writer, encode, len(files), chunk_size, ok,
                              source_channels, fingerprint)
    count = int(ok.sum())
    if not count:
      raise ValueError(f'None of the {len(files)} image files under {path} could '
                       f'be decoded (e.g. {min(errors)}).')
    if errors:
      logging.warning('Skipped %d of %d image files under %s that could not be '
                      'decoded, e.g. %s', len(errors), len(files), path, min(errors))
    _check_mixed(path, files, ok, source_channels, channels, mixed_channels)
    meta = {
        'format': FORMAT, 'version': VERSION, 'count': count,
        'shape': [count, image_size, image_size, channels],
        'image_size': image_size, 'channels': channels, 'encoding': encoding,
        'quality': quality if encoding == 'jpeg' else None,
        'verbatim_jpegs': verbatim, 'skipped': len(errors),
        'labels': None, 'num_classes': None,  # load_folder's data is unlabelled
        'source': os.path.abspath(path), 'files': [RECORDS], 'counts': [count],
        'fingerprint': fingerprint.hexdigest()}
    _publish(tmp, output, meta)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  logging.info('Wrote %d images (%d JPEGs kept verbatim) to %s.', count,
               verbatim, output)
  return meta


# -- reading -------------------------------------------------------------------

_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _decode_pool() -> concurrent.futures.ThreadPoolExecutor:
  """One thread pool for every lazy dataset (PIL decodes without the GIL)."""
  global _POOL
  with _POOL_LOCK:
    if _POOL is None:
      _POOL = concurrent.futures.ThreadPoolExecutor(
          _workers(), thread_name_prefix='jaxgan-decode')
    return _POOL


class ArrayRecordImages:
  """A read-only uint8 array (N, H, W, C) whose rows are decoded when indexed.

  Behaves like the NumPy array `load_folder` would give for the indexing a
  dataset needs: `images[i]` (negative too), `images[start:stop:step]` and
  `images[index_array]` (any shape, negative entries; or a boolean mask)
  return decoded uint8 NumPy arrays; `shape`, `dtype`, `ndim`, `nbytes` and
  `len` describe the whole. Turning it into one array (`np.asarray`) is a
  TypeError: that would hold the dataset in memory, which this class exists
  to avoid. Safe to index from several threads.

  Attributes:
    fingerprint: identifies the rows' content (the converter's record hash,
      and the rows of a subset view) without reading them.
  """

  dtype = np.dtype(np.uint8)
  ndim = 4

  def __init__(self, files: list[str], counts: list[int],
               image_shape: tuple[int, int, int], fingerprint: str,
               rows: np.ndarray | None = None):
    records_module = _array_record_module()
    self._files = list(files)
    self._readers = [records_module.ArrayRecordReader(f, _READER_OPTIONS)
                     for f in self._files]
    for f, reader, count in zip(self._files, self._readers, counts):
      if reader.num_records() != count:
        raise ValueError(f'{f} holds {reader.num_records()} records, its sidecar '
                         f'says {count}: convert the folder again.')
    self._counts = [int(c) for c in counts]
    self._offsets = np.cumsum([0, *self._counts])
    self._image_shape = tuple(image_shape)
    self._mode = 'RGB' if image_shape[-1] == 3 else 'L'
    self._rows = rows
    self._lock = threading.Lock()
    self._base_fingerprint = fingerprint
    self.fingerprint = fingerprint if rows is None else hashlib.sha256(
        f'{fingerprint}:'.encode() + np.asarray(rows, np.int64).tobytes()).hexdigest()

  @property
  def shape(self) -> tuple[int, int, int, int]:
    return (len(self), *self._image_shape)

  @property
  def size(self) -> int:
    return int(np.prod(self.shape))

  @property
  def nbytes(self) -> int:
    return self.size

  def __len__(self) -> int:
    return int(self._offsets[-1]) if self._rows is None else len(self._rows)

  def __repr__(self) -> str:
    return (f'ArrayRecordImages(shape={self.shape}, dtype=uint8, '
            f'files={self._files})')

  def __array__(self, dtype=None, copy=None):
    raise TypeError(
        f'{self!r} is read lazily and is not turned into one array (that would '
        'hold the whole dataset in memory); index it instead, e.g. '
        'images[start:stop] or images[index_array].')

  def view(self, rows) -> ArrayRecordImages:
    """A lazy view of rows `rows` (int array) of this array; nothing is read."""
    rows = self._positions(np.asarray(rows)).reshape(-1)
    physical = rows if self._rows is None else self._rows[rows]
    out = object.__new__(ArrayRecordImages)
    out.__dict__.update(self.__dict__)
    out._rows = physical
    out.fingerprint = hashlib.sha256(
        f'{self._base_fingerprint}:'.encode()
        + np.asarray(physical, np.int64).tobytes()).hexdigest()
    return out

  def _positions(self, key: np.ndarray) -> np.ndarray:
    """An index array (or boolean mask) -> non-negative int64 positions."""
    n = len(self)
    if key.dtype == bool:
      if key.shape != (n,):
        raise IndexError(f'A boolean index must have shape ({n},), got {key.shape}.')
      return np.flatnonzero(key)
    if key.size == 0:
      return key.astype(np.int64)
    if not np.issubdtype(key.dtype, np.integer):
      raise IndexError(f'Only integers, slices and integer or boolean arrays are '
                       f'valid indices of {type(self).__name__}, got {key.dtype}.')
    bad = key[(key < -n) | (key >= n)]
    if bad.size:
      raise IndexError(f'index {int(bad.flat[0])} is out of bounds for axis 0 '
                       f'with size {n}')
    return np.where(key < 0, key + n, key).astype(np.int64)

  def __getitem__(self, key) -> np.ndarray:
    if isinstance(key, (int, np.integer)):
      return self._read(self._positions(np.asarray([key])))[0]
    if isinstance(key, slice):
      return self._read(np.arange(*key.indices(len(self)), dtype=np.int64))
    if isinstance(key, tuple):
      raise TypeError(f'{type(self).__name__} is indexed along its first axis '
                      'only: index the decoded rows for the rest, e.g. '
                      'images[rows][:, ::2].')
    key = np.asarray(key)
    positions = self._positions(key)
    out = self._read(positions.reshape(-1))
    return out.reshape(*positions.shape, *self._image_shape)

  def _read(self, positions: np.ndarray) -> np.ndarray:
    """Decodes the rows at non-negative `positions` (1-D) of this view."""
    physical = positions if self._rows is None else self._rows[positions]
    out = np.empty((len(physical), *self._image_shape), np.uint8)
    if not len(physical):
      return out
    which = np.searchsorted(self._offsets, physical, side='right') - 1
    records: list = [None] * len(physical)
    with self._lock:
      for f in np.unique(which):
        at = np.flatnonzero(which == f)
        local = (physical[at] - self._offsets[f]).tolist()
        for i, record in zip(at, self._readers[f].read(local)):
          records[i] = record

    def decode(start):
      for i in range(start, min(start + task, len(records))):
        with Image.open(io.BytesIO(records[i])) as image:
          if image.mode != self._mode:
            image = image.convert(self._mode)
          out[i] = np.asarray(image).reshape(self._image_shape)

    # As many tasks as threads (at least _DECODE_TASK images each): fewer,
    # larger tasks cost less to hand out (19.4k vs 15.1k images/s on 2 cores
    # for 64x64 JPEGs, 64 vs 16 per task).
    task = max(_DECODE_TASK, -(-len(records) // _workers()))
    starts = range(0, len(records), task)
    if len(starts) == 1:
      decode(0)
    else:
      list(_decode_pool().map(decode, starts))
    return out


def is_lazy(images) -> bool:
  """Whether `images` (an `ImageDataset.images`) is read lazily from disk."""
  return isinstance(images, ArrayRecordImages)


def _locate(path: str | None) -> tuple[str, dict]:
  """(directory, sidecar) of data.path: the converter's output directory or
  the .array_record file in it."""
  if not path:
    raise ValueError(
        "data.source='arrayrecord' needs data.path: the directory `jaxgan "
        "prepare` wrote (or its images.array_record).")
  directory = path if os.path.isdir(path) else os.path.dirname(path)
  sidecar = os.path.join(directory, SIDECAR)
  if not os.path.exists(path) or not os.path.exists(sidecar):
    raise FileNotFoundError(
        f'data.path={path!r} holds no ArrayRecord dataset (looked for {sidecar}). '
        'Convert a folder of images first: jaxgan prepare --input=FOLDER '
        f'--output={path} --image_size=SIZE.')
  with open(sidecar) as f:
    meta = json.load(f)
  if meta.get('format') != FORMAT or meta.get('version') != VERSION:
    raise ValueError(f'{sidecar} is not a {FORMAT} version {VERSION} sidecar: '
                     'convert the folder again with jaxgan prepare.')
  return directory, meta


def load_arrayrecord(path: str | None, *, image_size: int,
                     channels: int) -> ImageDataset:
  """The dataset `prepare` wrote at `path`, as a lazily read ImageDataset.

  Raises:
    FileNotFoundError: nothing (or no sidecar) at `path`.
    ValueError: images stored at another size or channel count than the
      model's (the message says which setting to change), or records that
      do not match the sidecar.
    MissingExtraError: array_record is not installed.
  """
  directory, meta = _locate(path)
  stored = int(meta['image_size'])
  if stored != image_size:
    raise ValueError(
        f'data.path={path!r} holds {stored}x{stored} images but '
        f'model.image_size={image_size}. Set model.image_size={stored} '
        f'(--config.model.image_size={stored}), or convert the folder '
        f"({meta.get('source')}) again at this size into a new directory: "
        f'jaxgan prepare --input=FOLDER --output=NEW_DIR --image_size={image_size}.')
  check_channels(int(meta['channels']), channels, f'data.path={path!r}')
  images = ArrayRecordImages(
      [os.path.join(directory, f) for f in meta['files']], meta['counts'],
      tuple(meta['shape'][1:]), meta['fingerprint'])
  labels = meta.get('labels')
  return ImageDataset(
      images=images, labels=None if labels is None else np.asarray(labels, np.int32),
      num_classes=meta.get('num_classes'), name=f'arrayrecord:{path}')
