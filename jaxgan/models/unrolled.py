"""The small Stacked MNIST networks of Unrolled GAN (Metz et al. 2017), as
PacGAN ran them for its Table 3 (Lin et al. 2018).

PacGAN's Table 3 shows mode collapse where it is strong: a discriminator much
smaller than the generator. The networks follow the official code,
fjxmlzn/PacGAN `stacked_MNIST_experiments/unrolled_GAN_experiment/D=0.25G`
(and `D=0.5G`) `model.py` and `ops.py` (carpedm20's DCGAN-tensorflow layers):

- G: z -> dense 4x4x64, BatchNorm, ReLU -> 3x3 stride-2 transposed convs to
  7x7x32, 14x14x16 and 28x28x8, each with BatchNorm and ReLU -> 3x3 stride-1
  conv to the image's channels, tanh.
- D: three 3x3 stride-2 convs (28 -> 14 -> 7 -> 4) to 2, 4 and 8 channels
  ('D=0.25G'; 4, 8 and 16 in 'D=0.5G'), each with BatchNorm (the first one
  too) and LeakyReLU(0.3) -> dense 1. A packing D (PacGAN) reads the pack's
  samples concatenated along channels (`layers.pack_channels`).
- TensorFlow's 'SAME' padding (the extra row and column at the bottom and
  right); transposed convolutions are the adjoints of those convolutions with
  the output sizes the code names (7, 14, 28), as `tf.nn.conv2d_transpose`.
- Every layer has a bias, zero at start; kernels from N(0, 0.02) (ops.py:
  normal for transposed convs and dense layers, truncated at 2 std for convs,
  as `tf.truncated_normal_initializer(stddev=0.02)` and JAX's
  `truncated_normal(0.02)` both draw);
  BatchNorm as tf.contrib.layers.batch_norm with decay 0.9, epsilon 1e-5,
  scale and offset.

At 32x32 (not in the paper) the same layers run 4 -> 8 -> 16 -> 32, and D
ends at 4x4 as well. Widths scale with `g_width` and `d_width`: G's maps are 8, 4, 2 and 1 times
g_width (8 is the paper's), D's 1, 2 and 4 times d_width (2: 'D is 1/4 the
size of G', 4: 1/2).
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers

SUPPORTED_IMAGE_SIZES = (28, 32)

_normal = nn.initializers.normal(0.02)
_truncated = nn.initializers.truncated_normal(0.02)


def same_padding(size: int, kernel: int = 3, stride: int = 2) -> tuple[int, int]:
  """TensorFlow's 'SAME' padding of one axis: (before, after), the odd pixel
  after."""
  out = math.ceil(size / stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class _TransposedConv(nn.Module):
  """`tf.nn.conv2d_transpose` with a 3x3 kernel, stride 2, 'SAME' padding and
  output size `size`: the adjoint of the stride-2 convolution that maps a
  size x size map to this layer's input (`layers.conv2d`'s derivative)."""
  features: int
  size: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    if math.ceil(self.size / 2) != h or h != w:
      raise ValueError(f"A stride-2 transposed convolution to {self.size}x{self.size} "
                       f"needs a {math.ceil(self.size / 2)}x{math.ceil(self.size / 2)} "
                       f"input, got {x.shape}.")
    # (k, k, out, in): the kernel of the convolution this layer is the adjoint of.
    kernel = self.param("kernel", _normal, (3, 3, self.features, c)).astype(self.dtype)
    padding = same_padding(self.size)
    big = jnp.zeros((b, self.size, self.size, self.features), self.dtype)
    _, adjoint = jax.vjp(lambda y: layers.conv2d(y, kernel, 2, padding), big)
    (y,) = adjoint(x.astype(self.dtype))
    return y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)


class _Conv(nn.Module):
  """carpedm20's `conv2d`: 3x3, 'SAME', a bias, kernel from a truncated normal."""
  features: int
  stride: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", _truncated, (3, 3, x.shape[-1], self.features))
    padding = same_padding(x.shape[1], 3, self.stride)
    y = layers.conv2d(x.astype(self.dtype), kernel.astype(self.dtype), self.stride, padding)
    return y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)


# tf.contrib.layers.batch_norm(decay=0.9, epsilon=1e-5, scale=True).
_batch_norm = functools.partial(layers.batch_norm, momentum=0.9, epsilon=1e-5)


def _check_size(image_size: int) -> None:
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(f"The Unrolled GAN networks support image sizes "
                     f"{SUPPORTED_IMAGE_SIZES} (28: 4 -> 7 -> 14 -> 28), got "
                     f"{image_size} (config.model.image_size).")


class Generator(nn.Module):
  """z (B, latent_dim) -> images (B, S, S, channels) in [-1, 1]."""
  image_size: int = 28
  channels: int = 3
  width: int = 8
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, train: bool = True):
    _check_size(self.image_size)
    s = self.image_size
    sizes = (math.ceil(s / 4), math.ceil(s / 2), s)  # 7, 14, 28 at 28x28
    base = math.ceil(s / 8)
    x = nn.Dense(base * base * 8 * self.width, kernel_init=_normal, dtype=self.dtype,
                 name="fc0")(z.astype(self.dtype))
    x = x.reshape(z.shape[0], base, base, 8 * self.width)
    x = nn.relu(_batch_norm(train, self.dtype, self.axis_name, "bn0")(x))
    for i, (size, mult) in enumerate(zip(sizes, (4, 2, 1), strict=True), start=1):
      x = _TransposedConv(mult * self.width, size, self.dtype, name=f"deconv{i}")(x)
      x = nn.relu(_batch_norm(train, self.dtype, self.axis_name, f"bn{i}")(x))
    x = _Conv(self.channels, stride=1, dtype=self.dtype, name="conv4")(x)
    return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
  """Images (B, S, S, C) -> logits (B / pack,)."""
  image_size: int = 28
  width: int = 2
  pack: int = 1
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    _check_size(self.image_size)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"Discriminator built for {self.image_size}x{self.image_size} "
                       f"images got shape {x.shape}.")
    x = layers.pack_channels(x, self.pack).astype(self.dtype)
    for i, mult in enumerate((1, 2, 4)):
      x = _Conv(mult * self.width, dtype=self.dtype, name=f"conv{i}")(x)
      x = nn.leaky_relu(_batch_norm(train, self.dtype, self.axis_name, f"bn{i}")(x), 0.3)
      self.sow("intermediates", "layers", x)
    x = x.reshape(x.shape[0], -1)
    self.sow("intermediates", "features", x)  # feature matching
    x = nn.Dense(1, kernel_init=_normal, dtype=self.dtype, name="fc3")(x)
    return x[:, 0].astype(jnp.float32)
