"""Feature networks by name, and batched, jitted, data-parallel extraction.

A `FeatureNet` bundles a network, its variables, the SHA-256 of its weights
file and its input preprocessing. `extract` runs it over any number of images
in fixed-size batches, `jax.pmap`ped over the local devices (each device gets
an equal slice of every batch; the last batch is padded and trimmed, so one
program is compiled per batch size).

Images enter as uint8 (N, H, W, C). Generator outputs (float in [-1, 1]) are
first quantised to uint8 as if saved to PNG (`to_uint8`), so that samples and
dataset images take the same path and FID matches what pytorch-fid computes
on saved PNGs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import jax_utils

from jaxgan import compilation
from jaxgan.evaluation import _classifier, _inception


def to_uint8(images: np.ndarray) -> np.ndarray:
  """uint8 images unchanged; float images in [-1, 1] -> round((x + 1) * 127.5).

  Values outside [-1, 1] are clipped. The inverse of `jaxgan.data.to_float`
  on uint8 pixels, and what saving a [-1, 1] image as PNG does.
  """
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  if not np.issubdtype(images.dtype, np.floating):
    raise TypeError(f'Images must be uint8 or float in [-1, 1], got {images.dtype}.')
  return np.round(np.clip((images.astype(np.float32) + 1) * 127.5, 0, 255)
                  ).astype(np.uint8)


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureNet:
  """A feature network ready to apply.

  Attributes:
    name: its registry name ('inception', 'classifier_mnist', ...).
    apply: (variables, uint8 images (N, H, W, C)) -> {'features': (N, D),
      'logits': (N, K)}, jittable; does its own preprocessing.
    variables: the network's variables.
    weights_sha256: SHA-256 of the weights file ('' for random weights).
    channels: the channel counts it accepts.
    description: one line for reports: layer, input size, preprocessing.
  """
  name: str
  apply: Callable[[Any, jax.Array], dict[str, jax.Array]]
  variables: Any
  weights_sha256: str
  channels: tuple[int, ...]
  description: str

  def protocol(self) -> dict[str, str]:
    return {'feature_net': self.name, 'weights_sha256': self.weights_sha256,
            'feature_layer': self.description}

  def extract(self, images: np.ndarray, *, batch_size: int = 250
              ) -> dict[str, np.ndarray]:
    """Features and logits of uint8 (or [-1, 1] float) images, as float32 NumPy."""
    images = to_uint8(images)
    if images.ndim != 4 or images.shape[-1] not in self.channels:
      raise ValueError(f'{self.name} takes (N, H, W, C) images with C in '
                       f'{self.channels}, got shape {images.shape}.')
    run, num_devices, batch = _runner(self, batch_size)
    outputs: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), batch):
      chunk = images[start:start + batch]
      n = len(chunk)
      if n < batch:
        chunk = np.concatenate([chunk, np.zeros((batch - n, *chunk.shape[1:]),
                                                chunk.dtype)])
      out = run(chunk.reshape(num_devices, batch // num_devices, *chunk.shape[1:]))
      for key, value in jax.device_get(out).items():
        outputs.setdefault(key, []).append(value.reshape(batch, -1)[:n])
    return {k: np.concatenate(v) for k, v in outputs.items()}


@functools.lru_cache(maxsize=8)
def _runner(net: FeatureNet, batch_size: int):
  devices = jax.local_devices()
  num_devices = len(devices)
  batch = -(-batch_size // num_devices) * num_devices
  replicated = jax_utils.replicate(net.variables, devices)
  # Compiled as the training step is: on CPU the FID Inception ran 2.3x as
  # fast on Eigen's convolutions as on YNNPACK's (benchmarks/fid_features.py).
  compiled = compilation.CompiledStep(jax.pmap(net.apply, devices=devices),
                                      compilation.compiler_options())
  return functools.partial(compiled, replicated), num_devices, batch


def _inception_apply(module, variables, images):
  x = images.astype(jnp.float32) / 255.0  # pytorch-fid's ToTensor of a PNG
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)  # greyscale -> RGB, as PIL's convert('RGB')
  out = module.apply(variables, x)
  return {'features': out['pool'], 'logits': out['logits_unbiased']}


def inception(weights: str | None = None, *, download: bool = True) -> FeatureNet:
  """pytorch-fid's FID Inception (see `_inception`). weights: a .pth file;
  None for the published weights (downloaded once, verified)."""
  variables, digest = _inception.load_variables(weights, download=download)
  module = _inception.FIDInceptionV3()
  return FeatureNet(
      'inception', functools.partial(_inception_apply, module), variables, digest,
      (1, 3), 'pytorch-fid FID Inception-v3 (2015-12-05 weights): 2048-d pool_3; '
      'uint8/255, grey->RGB, bilinear resize to 299 (align_corners=False), '
      'x*2-1; IS logits = pool_3 . fc weights (1008 classes, no bias)')


def _resize_to(images: jax.Array, size: int) -> jax.Array:
  if images.shape[1:3] == (size, size):
    return images
  return jax.image.resize(images, (images.shape[0], size, size, images.shape[3]),
                          method='linear', antialias=True)


def _classifier_apply(module, variables, images):
  x = images.astype(jnp.float32) / 127.5 - 1.0  # jaxgan.data.to_float
  x = _resize_to(x, _classifier.INPUT_SIZE)
  return module.apply(variables, x)


def classifier(dataset: str, weights: str | None = None) -> FeatureNet:
  """The small CNN trained on `dataset` ('mnist' or 'fashion_mnist')."""
  variables, digest = _classifier.load(dataset, weights)
  module = _classifier.Classifier()
  return FeatureNet(
      f'classifier_{dataset}', functools.partial(_classifier_apply, module),
      variables, digest, (1,),
      f'jaxgan {dataset} CNN: 128-d penultimate layer (after ReLU); uint8/127.5-1, '
      'bilinear antialiased resize to 28x28 when needed; logits: its 10 classes')


FEATURE_NETS: dict[str, Callable[[], FeatureNet]] = {
    'inception': inception,
    'classifier_mnist': functools.partial(classifier, 'mnist'),
    'classifier_fashion_mnist': functools.partial(classifier, 'fashion_mnist'),
}


@functools.lru_cache(maxsize=4)
def get(name: str) -> FeatureNet:
  """The feature network `name` with its published weights (loaded once)."""
  if name not in FEATURE_NETS:
    raise ValueError(f'Unknown feature network {name!r}; valid: '
                     f'{", ".join(FEATURE_NETS)}.')
  return FEATURE_NETS[name]()
