"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017, "Photo-Realistic
Single Image Super-Resolution Using a Generative Adversarial Network",
arXiv:1609.04802).

Generator (SRResNet): a 9x9 convolution with PReLU, `num_blocks` (16) residual
blocks of conv3x3-BN-PReLU-conv3x3-BN with identity skips, a conv3x3-BN with a
skip from before the blocks, then two sub-pixel upsamplings (conv3x3 to 4x the
channels, pixel shuffle x2, PReLU; Shi et al. 2016) for 4x, and a 9x9
convolution to the output, with tanh (targets in [-1, 1]). It maps the
low-resolution input `cond` (B, H/4, W/4, C) to (B, H, W, C); z is ignored.

Discriminator: conv3x3 (LeakyReLU 0.2), then seven conv3x3-BN-LeakyReLU blocks
with widths 64, 128, 128, 256, 256, 512, 512 (x `width / 64`) and strides
2, 1, 2, 1, 2, 1, 2, a dense layer of 16 x width (1024) units, LeakyReLU and one
logit. It judges the image alone (the low-resolution input is ignored).
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

UPSCALE = 4


def pixel_shuffle(x, factor: int):
  """Depth-to-space: (B, H, W, C * f^2) -> (B, H f, W f, C), channel
  (i * f + j) * C + c going to the sub-pixel (i, j) of channel c."""
  b, h, w, c = x.shape
  out = c // (factor * factor)
  x = x.reshape(b, h, w, factor, factor, out)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * factor, w * factor, out)


class SRResNet(nn.Module):
  """Low-resolution `cond` (B, h, w, Cin) in [-1, 1] -> (B, 4h, 4w, channels).

  Attributes:
    channels: output channels.
    num_blocks: residual blocks (16 in the paper).
    width: channels of the residual blocks (64 in the paper).
    dtype, axis_name: computation dtype; pmap axis of the BatchNorm statistics.
  """
  channels: int = 3
  num_blocks: int = 16
  width: int = 64
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, cond, train: bool = True):
    del z  # a deterministic mapping
    conv = functools.partial(nn.Conv, kernel_size=(3, 3), dtype=self.dtype)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             dtype=self.dtype, axis_name=self.axis_name)
    prelu = functools.partial(nn.PReLU, negative_slope_init=0.25, param_dtype=jnp.float32)
    x = prelu()(nn.Conv(self.width, (9, 9), dtype=self.dtype)(cond.astype(self.dtype)))
    skip = x
    for _ in range(self.num_blocks):
      y = prelu()(norm()(conv(self.width)(x)))
      x = x + norm()(conv(self.width)(y))
    x = skip + norm()(conv(self.width)(x))
    for _ in range(UPSCALE // 2):
      x = prelu()(pixel_shuffle(conv(4 * self.width)(x), 2))
    x = nn.Conv(self.channels, (9, 9), dtype=self.dtype)(x)
    return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
  """SRGAN discriminator: images (B, H, W, C) -> logits (B,).

  Attributes:
    width: channels of the first convolution (64 in the paper).
    dtype, axis_name: computation dtype; pmap axis of the BatchNorm statistics.
  """
  width: int = 64
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, cond=None, train: bool = True):
    del cond  # the discriminator judges the high-resolution image alone
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             dtype=self.dtype, axis_name=self.axis_name)
    x = nn.leaky_relu(nn.Conv(self.width, (3, 3), dtype=self.dtype)(x.astype(self.dtype)),
                      0.2)
    for multiple, stride in ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)):
      x = nn.Conv(self.width * multiple, (3, 3), strides=(stride, stride),
                  use_bias=False, dtype=self.dtype)(x)
      x = nn.leaky_relu(norm()(x), 0.2)
    x = x.reshape(x.shape[0], -1)
    x = nn.leaky_relu(nn.Dense(16 * self.width, dtype=self.dtype)(x), 0.2)
    self.sow("intermediates", "features", x)
    return nn.Dense(1, dtype=self.dtype)(x)[:, 0].astype(jnp.float32)
