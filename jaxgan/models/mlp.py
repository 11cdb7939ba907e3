"""Multilayer-perceptron generator and discriminator.

The original GAN (Goodfellow et al. 2014) used MLPs on MNIST; the toy 2-D
mode-collapse benchmarks (Metz et al. 2017, Srivastava et al. 2017, Lin et al.
2018) use small MLPs on points. The generator's output has any shape: images
(H, W, C) in [-1, 1] through tanh, or points (D,) unbounded.

PacGAN packing (Lin et al. 2018, "PacGAN: The power of two samples in
generative adversarial networks", arXiv:1712.04086): the discriminator sees
`pack` samples of the same kind (all real or all generated) concatenated into
one input and returns one logit for them, so a generator that drops modes is
easier to tell apart. It is a change of the discriminator's input only: the
loss, the optimizer and the generator are those of the unpacked GAN.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers


class Generator(nn.Module):
  """z (B, latent_dim) -> (B, *output_shape).

  Attributes:
    output_shape: the shape of one sample, e.g. (28, 28, 1) or (2,).
    width: units per hidden layer.
    depth: number of hidden layers (ReLU).
    tanh: squash the output to [-1, 1] (for images).
    batch_norm: BatchNorm after every hidden layer (synchronised over
      `axis_name`), as in PacGAN's toy generators and most MLP GANs on images.
    dtype: computation dtype (parameters stay float32).
    axis_name: the pmap axis over which BatchNorm statistics are averaged.
  """
  output_shape: tuple[int, ...]
  width: int = 128
  depth: int = 3
  tanh: bool = False
  batch_norm: bool = False
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, train: bool = True):
    x = z.astype(self.dtype)
    for _ in range(self.depth):
      x = nn.Dense(self.width, dtype=self.dtype)(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         dtype=self.dtype, axis_name=self.axis_name if train else None)(x)
      x = nn.relu(x)
    x = nn.Dense(math.prod(self.output_shape), dtype=self.dtype)(x)
    if self.tanh:
      x = jnp.tanh(x)
    return x.reshape(z.shape[0], *self.output_shape).astype(jnp.float32)


class FeatureMatchingGenerator(nn.Module):
  """The MNIST generator of improved-gan's train_mnist_feature_matching.py
  (Salimans et al. 2016): z uniform in [0, 1)^latent_dim -> `depth` dense
  layers of `width` softplus units, each batch-normalised without a scale
  (its `nn.batch_norm(..., g=None)`: a learned shift, eps 1e-6, running
  averages with momentum 0.9) -> a dense sigmoid output, weight-normalised
  (`nn.l2normalize`: a learned scale per unit). Dense kernels Glorot-uniform
  (Lasagne's default).

  The step draws z ~ N(0, I); the uniform latent is Phi(z) (the normal CDF,
  exactly uniform). The sigmoid's [0, 1] is returned in jaxgan's [-1, 1]:
  2 sigmoid(a) - 1.

  Attributes:
    output_shape: the shape of one sample, e.g. (28, 28, 1).
    width, depth: hidden units and layers (500, 2).
    weight_norm: the output layer weight-normalised (the official), else plain.
    dtype: computation dtype (parameters stay float32).
    axis_name: the pmap axis over which BatchNorm statistics are averaged.
  """
  output_shape: tuple[int, ...]
  width: int = 500
  depth: int = 2
  weight_norm: bool = True
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, train: bool = True):
    x = jax.scipy.special.ndtr(z.astype(jnp.float32)).astype(self.dtype)
    glorot = nn.initializers.xavier_uniform()
    for _ in range(self.depth):
      x = nn.Dense(self.width, use_bias=False, kernel_init=glorot, dtype=self.dtype)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-6,
                       use_scale=False, dtype=self.dtype,
                       axis_name=self.axis_name if train else None)(x)
      x = nn.softplus(x)
    units = math.prod(self.output_shape)
    if self.weight_norm:
      x = layers.WeightNormDense(units, kernel_init=glorot, dtype=self.dtype,
                                 name="output")(x)
    else:
      x = nn.Dense(units, kernel_init=glorot, dtype=self.dtype, name="output")(x)
    x = 2.0 * nn.sigmoid(x) - 1.0
    return x.reshape(z.shape[0], *self.output_shape).astype(jnp.float32)


class Discriminator(nn.Module):
  """(B, ...) -> logits (B // pack,).

  Attributes:
    width: units per hidden layer.
    depth: number of hidden layers (LeakyReLU 0.2).
    pack: samples per logit (PacGAN); consecutive samples x[pack*i : pack*(i+1)]
      are flattened into one input. B must be a multiple of it.
    minibatch_discrimination, minibatch_stddev: the 'Improved Techniques'
      layers before the output (see `layers.minibatch_layers`; 0: off).
    dropout: dropout rate on the hidden layers in training (Goodfellow et
      al. 2014 used 0.5; 0: off).
    dtype: computation dtype (parameters stay float32).
  """
  width: int = 128
  depth: int = 3
  pack: int = 1
  minibatch_discrimination: int = 0
  minibatch_stddev: int = 0
  dropout: float = 0.0
  dtype: Any = jnp.float32
  axis_name: str | None = None  # unused: no BatchNorm

  @nn.compact
  def __call__(self, x, train: bool = True, features_only: bool = False):
    """features_only: return the last hidden features (B / pack, width)
    instead of logits, for discriminators that put their own heads on them."""
    layers.check_pack(x.shape[0], self.pack)
    x = x.reshape(x.shape[0] // self.pack, -1).astype(self.dtype)
    for _ in range(self.depth):
      x = nn.leaky_relu(nn.Dense(self.width, dtype=self.dtype)(x), 0.2)
      if self.dropout:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    if features_only:
      return x
    self.sow("intermediates", "features", x)  # for feature matching
    x = layers.minibatch_layers(x, discrimination=self.minibatch_discrimination,
                                stddev=self.minibatch_stddev, dtype=self.dtype)
    return nn.Dense(1, dtype=self.dtype)(x).reshape(x.shape[0]).astype(jnp.float32)
