"""Reads PyTorch `.pth` state dicts into NumPy arrays without PyTorch.

`torch.save` writes one of two formats:

* the zip format (PyTorch >= 1.6): a zip archive holding `<prefix>/data.pkl`,
  a pickle whose tensors refer by key to raw little-endian storages stored as
  `<prefix>/data/<key>`;
* the legacy format: five pickles in a row (a magic number, the protocol
  version, system info, the object, the sorted storage keys), then for each
  key an int64 element count and the storage's raw bytes.

Both are read here with a restricted unpickler that only builds plain
containers and tensors: a file that asks for any other class is refused, so
loading runs no code from the file.

Both the models (VGG19 for the perceptual loss) and the evaluation (the FID
Inception) read such files, so the reader belongs to neither: it imports
nothing from jaxgan and nothing heavier than NumPy.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _bfloat16():
  import ml_dtypes  # pylint: disable=g-import-not-at-top  (ships with JAX)
  return np.dtype(ml_dtypes.bfloat16)


_STORAGE_DTYPES: dict[str, Callable[[], np.dtype]] = {
    'DoubleStorage': lambda: np.dtype('<f8'),
    'FloatStorage': lambda: np.dtype('<f4'),
    'HalfStorage': lambda: np.dtype('<f2'),
    'BFloat16Storage': _bfloat16,
    'LongStorage': lambda: np.dtype('<i8'),
    'IntStorage': lambda: np.dtype('<i4'),
    'ShortStorage': lambda: np.dtype('<i2'),
    'CharStorage': lambda: np.dtype('i1'),
    'ByteStorage': lambda: np.dtype('u1'),
    'BoolStorage': lambda: np.dtype('?'),
}


class TorchFileError(ValueError):
  """The file is not a PyTorch checkpoint this reader understands."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
  dtype: np.dtype


@dataclasses.dataclass
class _Storage:
  key: str
  dtype: np.dtype
  numel: int
  data: np.ndarray | None = None  # 1-D, filled in when the bytes are read


@dataclasses.dataclass
class _Tensor:
  storage: _Storage
  offset: int
  shape: tuple[int, ...]
  stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *unused_args):
  return _Tensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused_args):
  return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
  """Builds containers and `_Tensor`s; refuses every other global."""

  def __init__(self, file, storages: dict[str, _Storage]):
    super().__init__(file, encoding='utf-8')
    self._storages = storages

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _ALLOWED:
      return _ALLOWED[module, name]
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _StorageType(_STORAGE_DTYPES[name]())
    raise TorchFileError(
        f'Refusing to unpickle {module}.{name}: only state dicts of tensors '
        'can be read without PyTorch.')

  def persistent_load(self, pid: Any) -> _Storage:
    if not isinstance(pid, tuple) or not pid or pid[0] != 'storage':
      raise TorchFileError(f'Unsupported persistent id {pid!r}.')
    storage_type, key, _, numel = pid[1:5]
    if not isinstance(storage_type, _StorageType):
      raise TorchFileError(f'Unsupported storage type {storage_type!r}.')
    if len(pid) > 5 and pid[5] is not None:
      raise TorchFileError('Storage views (PyTorch < 0.4 files) are not supported.')
    key = str(key)
    if key not in self._storages:
      self._storages[key] = _Storage(key, storage_type.dtype, int(numel))
    return self._storages[key]


def _materialise(obj: Any) -> Any:
  """Replaces each `_Tensor` in nested containers by a NumPy array (a copy)."""
  if isinstance(obj, _Tensor):
    data = obj.storage.data
    itemsize = data.dtype.itemsize
    if all(n > 0 for n in obj.shape):
      last = obj.offset + sum((n - 1) * s for n, s in zip(obj.shape, obj.stride))
      if last >= data.size or min(obj.stride, default=0) < 0:
        raise TorchFileError(f'Tensor of shape {obj.shape} runs past its storage '
                             f'{obj.storage.key} of {data.size} elements.')
    view = np.lib.stride_tricks.as_strided(
        data[obj.offset:], shape=obj.shape,
        strides=tuple(s * itemsize for s in obj.stride))
    return np.array(view)
  if isinstance(obj, dict):
    out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
    for k, v in obj.items():
      out[k] = _materialise(v)
    return out
  if isinstance(obj, (list, tuple)):
    return type(obj)(_materialise(v) for v in obj)
  return obj


def _load_zip(path: str) -> Any:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith('/data.pkl') or n == 'data.pkl']
    if len(pickles) != 1:
      raise TorchFileError(f'{path}: a zip without exactly one data.pkl.')
    prefix = pickles[0][:-len('data.pkl')]
    if f'{prefix}byteorder' in names:
      order = archive.read(f'{prefix}byteorder').decode().strip()
      if order != 'little':
        raise TorchFileError(f'{path}: {order}-endian storages are not supported.')
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
    for storage in storages.values():
      raw = archive.read(f'{prefix}data/{storage.key}')
      storage.data = np.frombuffer(raw, storage.dtype, count=storage.numel)
  return _materialise(obj)


def _load_legacy(path: str) -> Any:
  with open(path, 'rb') as f:
    try:
      magic = pickle.load(f)
    except Exception as e:  # not a pickle at all
      raise TorchFileError(f'{path} is neither a zip nor a legacy torch file.') from e
    if magic != _LEGACY_MAGIC:
      raise TorchFileError(f'{path}: not a PyTorch file (bad magic number).')
    if pickle.load(f) != _LEGACY_PROTOCOL:
      raise TorchFileError(f'{path}: unsupported legacy protocol version.')
    sys_info = pickle.load(f)
    if not sys_info.get('little_endian', True):
      raise TorchFileError(f'{path}: big-endian files are not supported.')
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
      storage = storages[str(key)]
      (numel,) = struct.unpack('<q', f.read(8))
      raw = f.read(numel * storage.dtype.itemsize)
      if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
        raise TorchFileError(f'{path}: storage {key} is truncated.')
      storage.data = np.frombuffer(raw, storage.dtype)
  return _materialise(obj)


def load(path: str | os.PathLike) -> Any:
  """Loads a `torch.save`d object of tensors (e.g. a state dict) as NumPy.

  Args:
    path: a `.pth`/`.pt` file in the zip or the legacy format.

  Returns:
    The saved object with every tensor replaced by a NumPy array of the same
    shape and dtype (float32 stays float32, int64 stays int64).

  Raises:
    TorchFileError: the file is not a PyTorch file, or holds something other
      than (nested dicts, lists or tuples of) tensors and plain values.
  """
  path = os.fspath(path)
  if zipfile.is_zipfile(path):
    return _load_zip(path)
  return _load_legacy(path)
