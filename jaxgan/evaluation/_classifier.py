"""Small MNIST / Fashion-MNIST classifiers whose features score samples.

The Inception network knows nothing of handwritten digits; on MNIST-like data
jaxgan scores samples in the feature space of a small CNN trained on the same
data (`scripts/train_classifier.py` reproduces the shipped weights):
features for FID, predicted labels for the class distribution and for the
Stacked MNIST mode count.

The network sees 28x28x1 images in [-1, 1] (`jaxgan.data.to_float` of uint8
pixels). Its features are the 128-d penultimate layer (after the ReLU).
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

INPUT_SIZE = 28
NUM_CLASSES = 10
DATASETS = ('mnist', 'fashion_mnist')


class Classifier(nn.Module):
  """conv5x5(16)-pool-conv5x5(32)-pool-dense(128)-dense(10), LeNet-like.

  ReLU after every layer but the last, 2x2 max pools, and dropout on the
  features while training.

  Attributes:
    widths: channels of the two convolutions.
    feature_dim: width of the penultimate (feature) layer.
    num_classes: number of outputs.
    dropout: dropout rate on the features while training.
  """
  widths: tuple[int, ...] = (16, 32)
  feature_dim: int = 128
  num_classes: int = NUM_CLASSES
  dropout: float = 0.3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> dict[str, jax.Array]:
    """x: (N, 28, 28, 1) float in [-1, 1] -> {'features': (N, feature_dim),
    'logits': (N, num_classes)}."""
    x = x.astype(self.dtype)
    for i, width in enumerate(self.widths):
      x = nn.relu(nn.Conv(width, (5, 5), padding='SAME', dtype=self.dtype,
                          name=f'conv{i}')(x))
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = x.reshape(len(x), -1)
    features = nn.relu(nn.Dense(self.feature_dim, dtype=self.dtype,
                                name='features')(x))
    h = nn.Dropout(self.dropout, deterministic=not train)(features)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name='logits')(h)
    return {'features': features.astype(jnp.float32),
            'logits': logits.astype(jnp.float32)}


def weights_file(dataset: str) -> str:
  """Path of the shipped weights for 'mnist' or 'fashion_mnist'."""
  if dataset not in DATASETS:
    raise ValueError(f'No classifier for {dataset!r}; valid: {", ".join(DATASETS)}.')
  return str(resources.files('jaxgan.evaluation') / 'weights' /
             f'classifier_{dataset}.msgpack')


def info(dataset: str) -> dict[str, Any]:
  """The sidecar record of the shipped weights (test accuracy, how trained)."""
  with open(weights_file(dataset).replace('.msgpack', '.json')) as f:
    return json.load(f)


def load(dataset: str, path: str | None = None) -> tuple[dict[str, Any], str]:
  """(variables, sha256) of a classifier: the shipped one or the file `path`."""
  path = path or weights_file(dataset)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'No classifier weights at {path}; run scripts/train_classifier.py '
        f'--dataset={dataset} to make them.')
  with open(path, 'rb') as f:
    raw = f.read()
  template = jax.eval_shape(lambda: Classifier().init(
      jax.random.PRNGKey(0), jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 1))))
  variables = flax.serialization.from_bytes(template, raw)
  return variables, hashlib.sha256(raw).hexdigest()
