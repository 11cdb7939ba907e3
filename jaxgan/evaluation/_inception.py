"""The FID Inception-v3 of pytorch-fid, in Flax, and its weights.

FID (Heusel et al. 2017) is defined by one network: the TensorFlow Inception
graph `inception-2015-12-05` that the original TTUR code used. pytorch-fid
(Seitzer, github.com/mseitzer/pytorch-fid) ported it to PyTorch as
torchvision's Inception-v3 with four patched blocks (`FIDInceptionA`, `C`,
`E_1`, `E_2`: average pools that exclude padding, and a max pool in the last
block) and published the weights as `pt_inception-2015-12-05-6726825d.pth`.
`FIDInceptionV3` below is that network, layer for layer, so those weights
load unchanged (`params_from_torch`) and give pytorch-fid's features.

Inputs follow pytorch-fid's `InceptionV3(resize_input=True,
normalize_input=True)`: images in [0, 1], resized to 299x299 with bilinear
interpolation (`align_corners=False`, no antialiasing, as `F.interpolate`),
then scaled to [-1, 1]. Outputs: the 2048-d average pool ("pool_3", the FID
features) and the 1008-way logits of the network's `fc` layer.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import weights as torch_weights

WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/'
               'fid_weights/pt_inception-2015-12-05-6726825d.pth')
WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
# The file name carries the first 8 hex digits of this digest.
WEIGHTS_SHA256 = '6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2'
CACHE_ENV = 'JAXGAN_CACHE_DIR'
INPUT_SIZE = 299
NUM_FEATURES = 2048
NUM_CLASSES = 1008
_DOWNLOAD_TIMEOUT_S = 20


def cache_dir() -> str:
  """Where downloaded weights and reference statistics live.

  `$JAXGAN_CACHE_DIR` when set, else `$XDG_CACHE_HOME/jaxgan`, else
  `~/.cache/jaxgan`.
  """
  if os.environ.get(CACHE_ENV):
    return os.environ[CACHE_ENV]
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
      os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'jaxgan')


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def weights_path(*, download: bool = True, url: str = WEIGHTS_URL,
                 sha256: str = WEIGHTS_SHA256, directory: str | None = None) -> str:
  """The path of the verified pytorch-fid weights, downloading them if needed.

  Looks for `pt_inception-2015-12-05-6726825d.pth` in `directory` (default
  `cache_dir()`). When absent it makes one download attempt (a
  20-second connection timeout, no retries) and keeps the file only if its
  SHA-256 matches.

  Raises:
    FileNotFoundError: the file is absent and cannot be downloaded; the
      message says where to put it.
    ValueError: the file there has the wrong SHA-256.
  """
  directory = directory or cache_dir()
  path = os.path.join(directory, WEIGHTS_FILE)
  if not os.path.exists(path):
    if not download:
      raise FileNotFoundError(_missing_message(path, url, 'downloads are off'))
    os.makedirs(directory, exist_ok=True)
    try:
      with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
        with tempfile.NamedTemporaryFile(dir=directory, delete=False,
                                         suffix='.part') as tmp:
          shutil.copyfileobj(response, tmp, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
      raise FileNotFoundError(_missing_message(path, url, f'download failed: {e}')
                              ) from e
    actual = _sha256(tmp.name)
    if actual != sha256:
      os.remove(tmp.name)
      raise ValueError(f'Downloaded {url} has SHA-256 {actual}, expected {sha256}; '
                       'not kept.')
    os.replace(tmp.name, path)
    return path
  actual = _sha256(path)
  if actual != sha256:
    raise ValueError(
        f'{path} has SHA-256 {actual}, expected {sha256} (the pytorch-fid FID '
        f'weights). Delete it and download {url} again.')
  return path


def _missing_message(path: str, url: str, why: str) -> str:
  return (f'The FID Inception weights are not at {path} ({why}). Download\n  {url}\n'
          f'on a machine with network access and copy it to that path (or to '
          f'$${CACHE_ENV}/{WEIGHTS_FILE}, or pass its path as weights=...).'
          ).replace('$$', '$')


class BasicConv2d(nn.Module):
  """torchvision's BasicConv2d: conv without bias, BatchNorm(eps=1e-3), ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    pad = tuple((p, p) for p in self.padding)
    x = nn.Conv(self.features, self.kernel_size, self.strides, padding=pad,
                use_bias=False, dtype=self.dtype, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, dtype=self.dtype,
                     name='bn')(x)
    return nn.relu(x)


def _avg_pool_same(x):
  # TensorFlow's average pool: padded zeros do not count (count_include_pad=False).
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool_valid(x):
  return nn.max_pool(x, (3, 3), (2, 2), padding='VALID')


class FIDInceptionA(nn.Module):
  """pytorch-fid's FIDInceptionA (torchvision InceptionA, TF average pool)."""
  pool_features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(BasicConv2d, dtype=self.dtype)
    b1 = conv(64, (1, 1), name='branch1x1')(x)
    b5 = conv(48, (1, 1), name='branch5x5_1')(x)
    b5 = conv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = conv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """torchvision's InceptionB (Mixed_6a): grid reduction 35 -> 17."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(BasicConv2d, dtype=self.dtype)
    b3 = conv(384, (3, 3), strides=(2, 2), name='branch3x3')(x)
    bd = conv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = conv(96, (3, 3), strides=(2, 2), name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_valid(x)], axis=-1)


class FIDInceptionC(nn.Module):
  """pytorch-fid's FIDInceptionC (torchvision InceptionC, TF average pool)."""
  channels_7x7: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(BasicConv2d, dtype=self.dtype)
    c7 = self.channels_7x7
    b1 = conv(192, (1, 1), name='branch1x1')(x)
    b7 = conv(c7, (1, 1), name='branch7x7_1')(x)
    b7 = conv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = conv(c7, (1, 1), name='branch7x7dbl_1')(x)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = conv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = conv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = conv(192, (1, 1), name='branch_pool')(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """torchvision's InceptionD (Mixed_7a): grid reduction 17 -> 8."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(BasicConv2d, dtype=self.dtype)
    b3 = conv(192, (1, 1), name='branch3x3_1')(x)
    b3 = conv(320, (3, 3), strides=(2, 2), name='branch3x3_2')(b3)
    b7 = conv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = conv(192, (3, 3), strides=(2, 2), name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_valid(x)], axis=-1)


class FIDInceptionE(nn.Module):
  """pytorch-fid's FIDInceptionE_1 (`max_pool=False`: TF average pool) and
  FIDInceptionE_2 (`max_pool=True`: the FID graph's 3x3 max pool)."""
  max_pool: bool
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = functools.partial(BasicConv2d, dtype=self.dtype)
    b1 = conv(320, (1, 1), name='branch1x1')(x)
    b3 = conv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([
        conv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = conv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = conv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([
        conv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], axis=-1)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_same(x)
    bp = conv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def resize_bilinear(images: jax.Array, size: int) -> jax.Array:
  """`F.interpolate(mode='bilinear', align_corners=False)` for NHWC images.

  Half-pixel centres, source coordinates clamped at 0, no antialiasing (also
  when shrinking), exactly as PyTorch computes it.
  """
  def axis_weights(n_in):
    scale = n_in / size
    src = np.maximum((np.arange(size) + 0.5) * scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (src - lo).astype(np.float32)
    return lo, hi, frac

  _, h, w, _ = images.shape
  if (h, w) == (size, size):
    return images
  lo, hi, frac = axis_weights(h)
  frac = jnp.asarray(frac)[None, :, None, None]
  images = images[:, lo] * (1 - frac) + images[:, hi] * frac
  lo, hi, frac = axis_weights(w)
  frac = jnp.asarray(frac)[None, None, :, None]
  return images[:, :, lo] * (1 - frac) + images[:, :, hi] * frac


class FIDInceptionV3(nn.Module):
  """pytorch-fid's `InceptionV3(use_fid_inception=True)` up to the pool and fc.

  Attributes:
    resize_input: resize to 299x299 first (pytorch-fid's `resize_input`).
    normalize_input: map [0, 1] inputs to [-1, 1] (`normalize_input`).
    dtype: computation dtype (float32 reproduces pytorch-fid).
  """
  resize_input: bool = True
  normalize_input: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    """Features of images `x`, float (N, H, W, 3) in [0, 1].

    Returns:
      {'pool': (N, 2048) average-pool features, 'logits': (N, 1008) fc
      outputs, 'logits_unbiased': (N, 1008) the same without the fc bias, as
      the original Inception Score code computes them}.
    """
    x = x.astype(jnp.float32)
    if self.resize_input:
      x = resize_bilinear(x, INPUT_SIZE)
    if self.normalize_input:
      x = 2 * x - 1
    x = x.astype(self.dtype)
    conv = functools.partial(BasicConv2d, dtype=self.dtype)
    x = conv(32, (3, 3), strides=(2, 2), name='Conv2d_1a_3x3')(x)
    x = conv(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = conv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool_valid(x)
    x = conv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = conv(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool_valid(x)
    x = FIDInceptionA(32, dtype=self.dtype, name='Mixed_5b')(x)
    x = FIDInceptionA(64, dtype=self.dtype, name='Mixed_5c')(x)
    x = FIDInceptionA(64, dtype=self.dtype, name='Mixed_5d')(x)
    x = InceptionB(dtype=self.dtype, name='Mixed_6a')(x)
    for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160),
                     ('Mixed_6e', 192)):
      x = FIDInceptionC(c7, dtype=self.dtype, name=name)(x)
    x = InceptionD(dtype=self.dtype, name='Mixed_7a')(x)
    x = FIDInceptionE(max_pool=False, dtype=self.dtype, name='Mixed_7b')(x)
    x = FIDInceptionE(max_pool=True, dtype=self.dtype, name='Mixed_7c')(x)
    pool = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    fc = nn.Dense(NUM_CLASSES, name='fc')
    logits = fc(pool)
    unbiased = pool @ fc.variables['params']['kernel']
    return {'pool': pool, 'logits': logits, 'logits_unbiased': unbiased}


def params_from_torch(state_dict: dict[str, np.ndarray]) -> dict[str, Any]:
  """Flax variables of `FIDInceptionV3` from pytorch-fid's state dict.

  Conv weights (O, I, kh, kw) become kernels (kh, kw, I, O); BatchNorm
  weight/bias/running_mean/running_var become scale/bias (params) and
  mean/var (batch_stats); fc.weight (1008, 2048) is transposed. Keys such as
  `num_batches_tracked` and the unused auxiliary classifier are ignored.

  Raises:
    KeyError: a weight the network needs is missing.
    ValueError: a weight has the wrong shape.
  """
  template = jax.eval_shape(
      lambda: FIDInceptionV3().init(jax.random.PRNGKey(0),
                                    jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3))))
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
    names = [p.key for p in path]
    collection, module, leaf_name = names[0], names[1:-1], names[-1]
    prefix = '.'.join(module)
    if module[-1] == 'conv':
      value = np.transpose(state_dict[f'{prefix}.weight'], (2, 3, 1, 0))
    elif module[-1] == 'bn':
      torch_name = {('params', 'scale'): 'weight', ('params', 'bias'): 'bias',
                    ('batch_stats', 'mean'): 'running_mean',
                    ('batch_stats', 'var'): 'running_var'}[collection, leaf_name]
      value = state_dict[f'{prefix}.{torch_name}']
    elif module == ['fc']:
      value = state_dict[f'fc.{"weight" if leaf_name == "kernel" else "bias"}']
      value = value.T if leaf_name == 'kernel' else value
    else:
      raise AssertionError(f'unexpected variable {names}')
    if value.shape != leaf.shape:
      raise ValueError(f'{prefix}.{leaf_name}: shape {value.shape} in the weights, '
                       f'{leaf.shape} in the network.')
    flat[tuple(names)] = np.asarray(value, np.float32)
  return _unflatten(flat)


def _unflatten(flat: dict[Sequence[str], Any]) -> dict[str, Any]:
  out: dict[str, Any] = {}
  for path, value in flat.items():
    node = out
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return out


def load_variables(weights: str | None = None, *,
                   download: bool = True) -> tuple[dict[str, Any], str]:
  """Loads (variables, sha256) of the FID Inception from a `.pth` file.

  Args:
    weights: a state-dict file in pytorch-fid's format; None for the
      published weights (verified; downloaded once to `cache_dir()`).
    download: whether a missing published file may be downloaded.
  """
  path = weights if weights is not None else weights_path(download=download)
  digest = _sha256(path)
  return params_from_torch(torch_weights.load(path)), digest
