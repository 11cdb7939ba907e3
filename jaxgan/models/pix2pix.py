"""pix2pix: U-Net generator and PatchGAN discriminator (Isola et al. 2017,
"Image-to-Image Translation with Conditional Adversarial Networks",
arXiv:1611.07004).

Generator: an encoder of 4x4 stride-2 convolutions (LeakyReLU 0.2, BatchNorm
after all but the first and the innermost) down to 1x1, a mirrored decoder of
4x4 stride-2 transposed convolutions (ReLU, BatchNorm), each decoder block
concatenating the encoder features of its resolution (the skips), then tanh.
At 256x256 the paper uses 8 downsamplings with widths
64-128-256-512-512-512-512-512; here `num_downs` = log2(image size) (5 at
32x32) with widths `width * min(2^i, 8)`. The noise is dropout 0.5 in the
first three decoder blocks, kept on at test time as in the paper: z is ignored.

Discriminator: the PatchGAN on the input and the image concatenated along
channels: C64 (stride 2, no BatchNorm) - C128 - ... with `num_layers` stride-2
blocks, then a stride-1 block and a 1-channel stride-1 convolution, all 4x4,
LeakyReLU 0.2. It returns one logit per patch, (B, h, w); the losses average
over patches. Receptive fields: 70x70 for `num_layers=3` (the paper's choice
at 256x256), 34x34 for 2, 16x16 for 1 (the paper's "16x16 PatchGAN"). At 32x32
the default `num_layers=1` keeps the paper's proportion of patch to image
(about a quarter of the side at 256, half here: a 16x16 patch on a 28/32 digit
sees a stroke, not the whole digit).

The stride-2 layers are `layers.DownConv`/`UpConv` (the same function as
nn.Conv/ConvTranspose with PyTorch padding, computed the backend's fast way).
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import dcgan, layers

_init = nn.initializers.normal(0.02)  # the pix2pix code's init_type='normal'


def max_downs(image_size: int) -> int:
  """How many times a U-Net can halve `image_size` (to 1 for powers of 2)."""
  n = 0
  while image_size % 2 == 0 and image_size > 1:
    image_size //= 2
    n += 1
  return n


class UNetGenerator(nn.Module):
  """U-Net: `cond` (B, H, W, Cin) in [-1, 1] -> images (B, H, W, channels).

  Attributes:
    channels: output channels.
    num_downs: stride-2 downsamplings; H and W must be divisible by 2^num_downs.
    width: channels of the first encoder block (ngf, 64 in the paper).
    dropout: dropout rate of the first three decoder blocks (the noise).
    dtype, axis_name: computation dtype; pmap axis of the BatchNorm statistics.
  """
  channels: int = 3
  num_downs: int = 5
  width: int = 64
  dropout: float = 0.5
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, cond, train: bool = True):
    del z  # the noise is dropout, as in the paper
    norm = dcgan.batch_norm(train, self.dtype, self.axis_name)
    widths = [self.width * min(2 ** i, 8) for i in range(self.num_downs)]
    x = cond.astype(self.dtype)
    skips = []
    for i, w in enumerate(widths):
      if i > 0:
        x = nn.leaky_relu(x, 0.2)
      x = layers.DownConv(w, kernel_init=_init, use_bias=False, dtype=self.dtype)(x)
      if 0 < i < self.num_downs - 1:
        x = norm()(x)
      skips.append(x)
    skips.pop()  # the innermost features go straight up
    for i, w in enumerate(reversed(widths[:-1])):
      x = nn.relu(x)
      x = layers.UpConv(w, kernel_init=_init, use_bias=False, dtype=self.dtype)(x)
      x = norm()(x)
      if i < 3:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = jnp.concatenate([x, skips.pop()], axis=-1)
    x = nn.relu(x)
    x = layers.UpConv(self.channels, kernel_init=_init, dtype=self.dtype)(x)
    return jnp.tanh(x.astype(jnp.float32))


class PatchDiscriminator(nn.Module):
  """PatchGAN: (image (B, H, W, C), cond (B, H, W, Cin)) -> logits (B, h, w).

  Attributes:
    num_layers: stride-2 blocks (3: 70x70 patches; 1: 16x16).
    width: channels of the first block (ndf, 64 in the paper).
    dtype, axis_name: computation dtype; pmap axis of the BatchNorm statistics.
  """
  num_layers: int = 1
  width: int = 64
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, cond, train: bool = True):
    norm = dcgan.batch_norm(train, self.dtype, self.axis_name)
    conv = functools.partial(nn.Conv, kernel_size=(4, 4), padding=((1, 1), (1, 1)),
                             kernel_init=_init, dtype=self.dtype)
    x = jnp.concatenate([cond, x], axis=-1).astype(self.dtype)
    for i in range(self.num_layers):
      w = self.width * min(2 ** i, 8)
      x = layers.DownConv(w, kernel_init=_init, use_bias=i == 0, dtype=self.dtype)(x)
      if i > 0:
        x = norm()(x)
      x = nn.leaky_relu(x, 0.2)
    x = conv(self.width * min(2 ** self.num_layers, 8), use_bias=False)(x)
    x = nn.leaky_relu(norm()(x), 0.2)
    self.sow("intermediates", "features", x.reshape(x.shape[0], -1))
    return conv(1)(x)[..., 0].astype(jnp.float32)


def receptive_field(num_layers: int) -> int:
  """Side of the input patch each PatchGAN logit sees (70 for 3 layers)."""
  size = 4 + 3  # the two stride-1 4x4 convolutions
  for _ in range(num_layers):
    size = 2 * size + 2  # a 4x4 stride-2 convolution below
  return size


def check(config: Any) -> None:
  """Raises ValueError for a `config.model` the U-Net cannot build."""
  downs = config.get("num_downs", 0)
  if downs < 0 or config.image_size % 2 ** downs or max_downs(config.image_size) < 2:
    raise ValueError(
        f"pix2pix's U-Net halves config.model.image_size={config.image_size} "
        f"config.model.num_downs={downs} times (0: as often as it divides by 2, "
        f"at least twice); choose an image size divisible by 2^num_downs, e.g. 32.")
  if config.get("patch_layers", 1) < 0:
    raise ValueError(f"config.model.patch_layers must be >= 0, got "
                     f"{config.patch_layers}.")
