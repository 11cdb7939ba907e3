"""Residual generator and discriminator for 32x32 images (and 28x28).

One family reproduces two published architectures (CIFAR-10):

- WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028, appendix; the code's
  `gan_cifar_resnet.py`): G of width 128, D of width 128 without
  normalisation, global mean pooling. `WGANGPGenerator`, `WGANGPDiscriminator`.
- SNGAN (Miyato et al. 2018, arXiv:1802.05957, Table 4): G of width 256, D of
  width 128 with spectral normalisation on every layer, global sum pooling.
  `SNGANGenerator`, `SNGANDiscriminator`.

Both: z (128) -> linear to 4x4 -> three up-blocks (BN, ReLU, nearest-neighbour
2x upsampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: upsampling, 1x1 conv)
-> BN, ReLU, 3x3 conv, tanh. D: an 'optimized' first block (3x3 conv, ReLU,
3x3 conv, 2x2 mean pool; shortcut: mean pool, 1x1 conv), a down-block (ReLU,
3x3 conv, ReLU, 3x3 conv, mean pool; shortcut 1x1 conv, mean pool), two
blocks at 8x8, ReLU, global pooling, linear. (WGAN-GP's upsampling, the depth
to space of four copies, is nearest-neighbour upsampling; a 1x1 conv and mean
pooling commute, so the shortcut orders agree.) Weights: Glorot uniform,
scaled by sqrt(2) in the residual branches, as in the SNGAN code.

28x28 images (MNIST) start from 7x7 with two up-blocks; D is unchanged (its
second block ends at 7x7).

Class-conditional (`num_classes` > 0, `cond` = int labels (B,)): G's block
BatchNorms are conditional (a per-class scale and offset, de Vries et al.
2017; as in Miyato & Koyama 2018), and D is a projection discriminator
(Miyato & Koyama 2018, arXiv:1802.05637): logit = linear(h) + <embed(y), h>.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers

SUPPORTED_IMAGE_SIZES = (28, 32)
VARIANTS = ("wgan_gp", "sngan")
POOLINGS = ("mean", "sum")

_residual_init = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")
_shortcut_init = nn.initializers.xavier_uniform()


def layout(image_size: int) -> tuple[int, int]:
  """(base resolution, number of up-blocks) of the generator."""
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(f"The ResNet supports image sizes {SUPPORTED_IMAGE_SIZES}, got "
                     f"{image_size} (config.model.image_size).")
  return (7, 2) if image_size == 28 else (4, 3)


def _upsample(x):
  """Nearest-neighbour 2x upsampling."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _mean_pool(x):
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and offset are looked up per class (de Vries et
  al. 2017; Miyato & Koyama 2018): gamma[y] * normalised(x) + beta[y], with
  gamma initialised to 1 and beta to 0. Without labels, plain BatchNorm."""
  num_classes: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, y=None, *, train: bool):
    conditional = self.num_classes > 0
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     use_scale=not conditional, use_bias=not conditional,
                     dtype=self.dtype, axis_name=self.axis_name if train else None)(x)
    if not conditional:
      return x
    features = x.shape[-1]
    gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                     name="scale")(y)
    beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                    name="bias")(y)
    return (x * gamma[:, None, None] + beta[:, None, None]).astype(self.dtype)


class UpBlock(nn.Module):
  """Generator block: (B, H, W, C) -> (B, 2H, 2W, features)."""
  features: int
  num_classes: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, y=None, *, train: bool):
    norm = functools.partial(ConditionalBatchNorm, num_classes=self.num_classes,
                             dtype=self.dtype, axis_name=self.axis_name)
    conv = functools.partial(layers.Conv, self.features, dtype=self.dtype)
    h = nn.relu(norm()(x, y, train=train))
    h = conv((3, 3), kernel_init=_residual_init, name="conv1")(_upsample(h))
    h = nn.relu(norm()(h, y, train=train))
    h = conv((3, 3), kernel_init=_residual_init, name="conv2")(h)
    shortcut = conv((1, 1), kernel_init=_shortcut_init, name="shortcut")(_upsample(x))
    return h + shortcut


class Generator(nn.Module):
  """z (B, latent_dim) [, labels (B,)] -> images (B, S, S, channels) in [-1, 1].

  Attributes:
    image_size: 32 (three up-blocks from 4x4) or 28 (two from 7x7).
    channels: output channels.
    width: channels of every block (WGAN-GP: 128, SNGAN: 256).
    num_classes: > 0 for a class-conditional G (conditional BatchNorm).
    dtype: computation dtype (parameters stay float32).
    axis_name: pmap axis over which BatchNorm statistics are averaged.
  """
  image_size: int = 32
  channels: int = 3
  width: int = 128
  num_classes: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    if self.num_classes and y is None:
      raise ValueError(f"A class-conditional generator (num_classes="
                       f"{self.num_classes}) needs labels.")
    base, num_up = layout(self.image_size)
    x = nn.Dense(base * base * self.width, kernel_init=_shortcut_init,
                 dtype=self.dtype, name="project")(z.astype(self.dtype))
    x = x.reshape(z.shape[0], base, base, self.width)
    for i in range(num_up):
      x = UpBlock(self.width, num_classes=self.num_classes, dtype=self.dtype,
                  axis_name=self.axis_name, name=f"block{i}")(x, y, train=train)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     dtype=self.dtype, axis_name=self.axis_name if train else None)(x)
    x = layers.Conv(self.channels, (3, 3), kernel_init=_shortcut_init, dtype=self.dtype,
                name="out")(nn.relu(x))
    return jnp.tanh(x).astype(jnp.float32)


class DownBlock(nn.Module):
  """Discriminator block: (B, H, W, C) -> (B, H/2, W/2, features) when
  `down`, else (B, H, W, features). `optimized`: the first block, which
  takes the image (no ReLU before the first conv, pooling before the
  shortcut's conv). `layer` wraps each layer (spectral normalisation)."""
  features: int
  down: bool = True
  optimized: bool = False
  layer: Any = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    wrap = self.layer or (lambda module: module)
    conv = functools.partial(layers.Conv, self.features, dtype=self.dtype)
    h = x if self.optimized else nn.relu(x)
    h = wrap(conv((3, 3), kernel_init=_residual_init, name="conv1"))(h)
    h = wrap(conv((3, 3), kernel_init=_residual_init, name="conv2"))(nn.relu(h))
    if self.down:
      h = _mean_pool(h)
    shortcut = x
    if self.down or x.shape[-1] != self.features:
      shortcut = _mean_pool(x) if self.down else x
      shortcut = wrap(conv((1, 1), kernel_init=_shortcut_init, name="shortcut"))(shortcut)
    return h + shortcut


class Discriminator(nn.Module):
  """Images (B, S, S, C) [, labels (B,)] -> logits (B,).

  Attributes:
    width: channels of every block (128 in both papers).
    spectral_norm: spectral normalisation of every layer (SNGAN), the
      projection embedding included.
    pooling: the global pooling of the last features: 'mean' (WGAN-GP) or
      'sum' (SNGAN).
    num_classes: > 0 for a projection discriminator.
    minibatch_discrimination, minibatch_stddev: the 'Improved Techniques'
      layers (see `layers.minibatch_layers`; 0: off): the standard deviation
      channel on the last feature map, minibatch discrimination on the pooled
      features before the linear layer.
    dtype: computation dtype (parameters stay float32).
    axis_name: unused (no BatchNorm); kept for the common interface.
  """
  width: int = 128
  spectral_norm: bool = False
  pooling: str = "mean"
  num_classes: int = 0
  minibatch_discrimination: int = 0
  minibatch_stddev: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    if self.num_classes and y is None:
      raise ValueError(f"A projection discriminator (num_classes="
                       f"{self.num_classes}) needs labels.")
    if self.pooling not in POOLINGS:
      raise ValueError(f"Unknown pooling {self.pooling!r}; valid: {', '.join(POOLINGS)}.")

    def layer(module):
      if not self.spectral_norm:
        return module
      return functools.partial(nn.SpectralNorm(module), update_stats=train)

    x = x.astype(self.dtype)
    x = DownBlock(self.width, optimized=True, layer=layer, dtype=self.dtype,
                  name="block0")(x)
    x = DownBlock(self.width, layer=layer, dtype=self.dtype, name="block1")(x)
    x = DownBlock(self.width, down=False, layer=layer, dtype=self.dtype, name="block2")(x)
    x = DownBlock(self.width, down=False, layer=layer, dtype=self.dtype, name="block3")(x)
    if self.minibatch_stddev:
      x = layers.MinibatchStdDev(self.minibatch_stddev, name="minibatch_stddev")(x)
    x = nn.relu(x)
    h = x.sum((1, 2)) if self.pooling == "sum" else x.mean((1, 2))
    self.sow("intermediates", "features", h)  # feature matching
    features = h
    if self.minibatch_discrimination:
      features = layers.MinibatchDiscrimination(
          self.minibatch_discrimination, dtype=self.dtype,
          name="minibatch_discrimination")(h)
    logits = layer(nn.Dense(1, kernel_init=_shortcut_init, dtype=self.dtype,
                            name="linear"))(features)[:, 0]
    if self.num_classes:
      embed = layer(nn.Embed(self.num_classes, h.shape[-1],
                             embedding_init=_shortcut_init, name="embed"))(y)
      logits = logits + jnp.sum(embed * h, axis=-1)
    return logits.astype(jnp.float32)


WGANGPGenerator = functools.partial(Generator, width=128)
WGANGPDiscriminator = functools.partial(Discriminator, width=128, pooling="mean")
SNGANGenerator = functools.partial(Generator, width=256)
SNGANDiscriminator = functools.partial(Discriminator, width=128, spectral_norm=True,
                                       pooling="sum")
