"""The InfoGAN-style networks of "Are GANs Created Equal?" (Lucic et al. 2018).

The large-scale study compares losses on one pair of networks for MNIST and
Fashion-MNIST (its Table 4), the InfoGAN architecture (Chen et al. 2016),
as in google/compare_gan `architectures/infogan.py` and `arch_ops.py`:

- G: z -> dense 1024, BatchNorm, LeakyReLU(0.2) -> dense 128 (h/4) (w/4),
  BatchNorm, LeakyReLU -> 4x4 stride-2 transposed conv to 64 channels,
  BatchNorm, LeakyReLU -> 4x4 stride-2 transposed conv to the image's
  channels, sigmoid. compare_gan's images are in [0, 1]; jaxgan's are in
  [-1, 1], so the output is 2 sigmoid - 1 (the same network up to that
  affine map of the data).
- D: 4x4 stride-2 conv to 64, LeakyReLU -> 4x4 stride-2 conv to 128,
  [BatchNorm], LeakyReLU -> dense 1024, [BatchNorm], LeakyReLU -> dense 1.
  The study searches D's normalisation ('batch' or 'none', `d_norm`).
- Every kernel from N(0, 0.02) and every layer with a bias, zero at start
  (arch_ops `weight_initializer`, `linear`, `conv2d`, `deconv2d`);
  BatchNorm with decay 0.999 and epsilon 1e-3, scale 1, offset 0
  (arch_ops `batch_norm`); TF's 'SAME' padding, which for a 4x4 stride-2
  convolution of an even size is one pixel on each side, as
  `layers.DownConv`/`UpConv`.

Widths scale with `g_width`/`d_width` (64, the default, is the paper's):
G's layers are 16, 2 and 1 times g_width, D's 1, 2 and 16 times d_width.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers

SUPPORTED_IMAGE_SIZES = (28, 32)
NORMS = ("batch", "none")

_init = nn.initializers.normal(0.02)


# compare_gan's batch_norm: decay 0.999 (Flax's momentum), epsilon 1e-3.
_batch_norm = functools.partial(layers.batch_norm, momentum=0.999, epsilon=1e-3)


def _check_size(image_size: int) -> None:
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(f"The InfoGAN networks support image sizes "
                     f"{SUPPORTED_IMAGE_SIZES} (two stride-2 layers), got "
                     f"{image_size} (config.model.image_size).")


class Generator(nn.Module):
  """z (B, latent_dim) -> images (B, S, S, channels) in [-1, 1]."""
  image_size: int = 28
  channels: int = 1
  width: int = 64
  conv_impl: str = "auto"
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, train: bool = True):
    _check_size(self.image_size)
    side = self.image_size // 4
    x = z.astype(self.dtype)
    x = nn.Dense(16 * self.width, kernel_init=_init, dtype=self.dtype, name="fc1")(x)
    x = nn.leaky_relu(_batch_norm(train, self.dtype, self.axis_name, "bn1")(x), 0.2)
    x = nn.Dense(2 * self.width * side * side, kernel_init=_init, dtype=self.dtype,
                 name="fc2")(x)
    x = nn.leaky_relu(_batch_norm(train, self.dtype, self.axis_name, "bn2")(x), 0.2)
    x = x.reshape(z.shape[0], side, side, 2 * self.width)
    x = layers.UpConv(self.width, kernel_init=_init, impl=self.conv_impl,
                      dtype=self.dtype, name="deconv3")(x)
    x = nn.leaky_relu(_batch_norm(train, self.dtype, self.axis_name, "bn3")(x), 0.2)
    x = layers.UpConv(self.channels, kernel_init=_init, impl=self.conv_impl,
                      dtype=self.dtype, name="deconv4")(x)
    return (2 * nn.sigmoid(x.astype(jnp.float32)) - 1).astype(jnp.float32)


class Discriminator(nn.Module):
  """Images (B, S, S, C) -> logits (B,). `norm`: 'batch' or 'none'."""
  image_size: int = 28
  width: int = 64
  norm: str = "batch"
  conv_impl: str = "auto"
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    _check_size(self.image_size)
    if self.norm not in NORMS:
      raise ValueError(f"Unknown norm {self.norm!r} (config.model.d_norm); valid: "
                       f"{', '.join(NORMS)}.")

    def norm(name):
      if self.norm == "none":
        return lambda h: h
      return _batch_norm(train, self.dtype, self.axis_name, name)

    x = x.astype(self.dtype)
    x = layers.DownConv(self.width, kernel_init=_init, impl=self.conv_impl,
                        dtype=self.dtype, name="conv1")(x)
    x = nn.leaky_relu(x, 0.2)
    x = layers.DownConv(2 * self.width, kernel_init=_init, impl=self.conv_impl,
                        dtype=self.dtype, name="conv2")(x)
    x = nn.leaky_relu(norm("bn2")(x), 0.2)
    x = x.reshape(x.shape[0], -1)
    x = nn.Dense(16 * self.width, kernel_init=_init, dtype=self.dtype, name="fc3")(x)
    x = nn.leaky_relu(norm("bn3")(x), 0.2)
    self.sow("intermediates", "features", x)  # feature matching
    x = nn.Dense(1, kernel_init=_init, dtype=self.dtype, name="fc4")(x)
    return x[:, 0].astype(jnp.float32)
