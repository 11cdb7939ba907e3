"""R3GAN generator and discriminator (Huang et al. 2024, "The GAN is dead;
long live the GAN! A Modern GAN Baseline", NeurIPS 2024, arXiv:2501.05441).

Ported from the official PyTorch code, github.com/brownvc/R3GAN (commit
19a7ddf): `R3GAN/Networks.py`, `R3GAN/Resamplers.py`, `R3GAN/FusedOperators.py`;
the CIFAR-10 preset is in its `train.py` (see configs/r3gan.py). Images are
NHWC here (NCHW there). What each piece does, and where it comes from:

- No normalisation layers anywhere; convolutions and linear layers have no
  bias. Every bias sits in a `BiasedActivation` (FusedOperators.py:
  leaky ReLU 0.2 of x + b, gain 1 in the forward pass).
- `ResidualBlock` (Networks.py `ResidualBlock`): x + conv1x1(act(grouped
  conv3x3(act(conv1x1(x))))), the 1x1 convs C -> C * expansion -> C, the 3x3
  conv with `cardinality` groups.
- Fix-up initialisation (Networks.py `MSRInitializer`, `ResidualBlock`):
  weights ~ N(0, gain^2 / fan_in) (fan_in = input channels per group x kernel
  area); gain 1 for every layer outside the blocks; in a block, gain =
  sqrt(2 / (1 + 0.2^2)) * L^(-1 / (2 * 3 - 2)) = ... * L^(-1/4) for the first
  two convs, with L = the number of residual blocks in the whole network
  (`VarianceScalingParameter = sum(BlocksPerStage)`); the last conv is zero, so
  every block is the identity at initialisation. Activation biases start at 0.
- Resampling (Resamplers.py `InterpolativeUpsampler`/`Downsampler`, the CUDA
  ones the code uses, `upfirdn2d.upsample2d`/`downsample2d` of torch_utils):
  the filter argument [1, 2, 1] is convolved with [1, 1] (`CreateLowpassKernel`
  with Inplace=False), so the applied 2D kernel is the outer product of
  [1, 3, 3, 1] / 8 with itself; upsampling inserts zeros and filters with 4x
  that kernel, downsampling filters and keeps every second pixel; zero padding.
- Transitions between stages (Networks.py `UpsampleLayer`, `DownsampleLayer`):
  G: a 1x1 conv to the next width (only when it changes), then upsampling;
  D: downsampling, then the 1x1 conv.
- G (Networks.py `Generator`, `GenerativeBasis`): a linear map of z (no bias)
  gives one coefficient per channel of a learned 4x4 basis (initialised
  N(0, 1)); stage i: transition, then its residual blocks; a 1x1 conv
  ("aggregation") to the image channels. No tanh: the output is unbounded,
  and the official code trains it against images in [-1, 1] (training_loop.py:
  x / 127.5 - 1) and clips only when saving; jaxgan's writers and feature
  networks clip to [-1, 1] too.
- D (Networks.py `Discriminator`, `DiscriminativeBasis`): a 1x1 conv
  ("extraction") from the image channels; stage i: its residual blocks, then
  the transition; the last stage ends with a depthwise 4x4 valid conv (the
  discriminative basis, to 1x1) and a linear layer to one logit.
- Class-conditional (`num_classes` > 0; Networks.py, the `ConditionDimension`
  branches, one-hot labels): G concatenates z with a linear embedding of the
  label (`embed_dim`, 0: latent_dim as train.py) before the basis; D's linear
  layer outputs `embed_dim` values (0: the last stage's width, as train.py),
  and the logit is their dot product with a label embedding whose init gain is
  1 / sqrt(embed_dim).

Not reproduced: the official bfloat16 stages (`FP16Stages`): here `dtype` is
one computation dtype for the whole network.
"""

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.models import layers

RESAMPLING_FILTER = (1, 2, 1)
# FusedOperators.py `BiasedActivation.Gain`: the leaky ReLU's gain (slope 0.2).
ACTIVATION_GAIN = math.sqrt(2 / (1 + 0.2 ** 2))
NEGATIVE_SLOPE = 0.2
# Networks.py `ResidualBlock.NumberOfLinearLayers`.
LAYERS_PER_BLOCK = 3


def msr_init(gain: float = 1.0):
  """Networks.py `MSRInitializer`: N(0, gain^2 / fan_in); zeros for gain 0.
  Flax's kernels are (..., in / groups, out), so fan_in is what it should be."""
  if gain == 0:
    return nn.initializers.zeros
  return nn.initializers.variance_scaling(gain ** 2, "fan_in", "normal")


def block_gain(num_blocks: int) -> float:
  """The init gain of a residual block's first two convs (Networks.py
  `ResidualBlock`): the activation gain times L^(-1 / (2 * 3 - 2)), L the
  network's number of residual blocks."""
  return ACTIVATION_GAIN * num_blocks ** (-1 / (2 * LAYERS_PER_BLOCK - 2))


def lowpass_kernel(weights: Sequence[float] = RESAMPLING_FILTER) -> np.ndarray:
  """Resamplers.py `CreateLowpassKernel(weights, Inplace=False)`: the 2D
  kernel outer(f, f) / sum, f = weights convolved with [1, 1]."""
  taps = np.convolve(np.asarray(weights, np.float64), [1.0, 1.0])
  kernel = np.outer(taps, taps)
  return (kernel / kernel.sum()).astype(np.float32)


def _filter(x: jax.Array, kernel: np.ndarray, *, stride: int, dilation: int,
            padding: tuple[int, int]) -> jax.Array:
  """Depthwise convolution (not correlation: the kernel is flipped, as in
  upfirdn2d) of every channel of NHWC `x` with the 2D `kernel`, a separable
  outer(f, f) (`lowpass_kernel`): two 1-D passes of shifted, weighted sums.
  (XLA's CPU depthwise convolution and its gradient run 10-100x slower than
  these adds; see benchmarks/NOTES.md.)"""
  taps = np.sqrt(np.diag(kernel).astype(np.float64))
  if not np.allclose(np.outer(taps, taps), kernel, rtol=1e-6, atol=1e-9):
    raise ValueError("_filter takes separable kernels outer(f, f) with f >= 0.")
  for axis in (1, 2):
    x = layers.fir1d(x, taps, axis, stride=stride, dilation=dilation, padding=padding)
  return x


def upsample(x: jax.Array, weights: Sequence[float] = RESAMPLING_FILTER) -> jax.Array:
  """(B, H, W, C) -> (B, 2H, 2W, C): torch_utils `upfirdn2d.upsample2d(x, f)`
  with f = lowpass_kernel(weights): zeros inserted after every pixel, padded
  by ((n + 1) // 2, (n - 2) // 2) for an n-tap f, filtered with 4 f."""
  kernel = lowpass_kernel(weights)
  taps = kernel.shape[0]
  # lhs_dilation leaves out the zero after the last pixel: one more pad after.
  padding = ((taps + 1) // 2, (taps - 2) // 2 + 1)
  return _filter(x, 4 * kernel, stride=1, dilation=2, padding=padding)


def downsample(x: jax.Array, weights: Sequence[float] = RESAMPLING_FILTER) -> jax.Array:
  """(B, H, W, C) -> (B, H/2, W/2, C): torch_utils `upfirdn2d.downsample2d(x,
  f)`: padded by ((n - 1) // 2, (n - 2) // 2), filtered, every second pixel."""
  kernel = lowpass_kernel(weights)
  taps = kernel.shape[0]
  return _filter(x, kernel, stride=2, dilation=1, padding=((taps - 1) // 2, (taps - 2) // 2))


# Up to this many groups, GroupedConv on the CPU runs one dense convolution
# with a block-diagonal kernel (measured at 2 and 4 groups; see __call__).
_BLOCK_DIAGONAL_GROUPS = 4


class GroupedConv(nn.Module):
  """`nn.Conv(features, (k, k), padding='SAME', feature_group_count=groups,
  use_bias=False)` with the same 'kernel' parameter, (k, k, C / groups,
  features), computed by `layers.conv2d` (im2col matmuls on CPU, whose
  derivatives stay fast inside the training loop; XLA convolutions
  elsewhere). On CPU up to 4 groups are one dense matmul with a
  block-diagonal kernel, more a batched matmul over the groups."""
  features: int
  kernel_size: int
  groups: int = 1
  kernel_init: Callable = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, g = self.kernel_size, self.groups
    kernel = self.param("kernel", self.kernel_init,
                        (k, k, x.shape[-1] // g, self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if 1 < g <= _BLOCK_DIAGONAL_GROUPS and jax.default_backend() == "cpu":
      # g times the FLOPs in one plain matmul. 64 x 16 x 16 x C -> 64, forward
      # and backward, on the 2-core CPU (as lax convolutions): 2 groups
      # (C = 32) 72 ms against 279 ms for the batched form, 4 groups (C = 64)
      # 65 against 189.
      blocks = kernel.reshape(k, k, -1, g, self.features // g)  # (.., c, group, f)
      kernel = jnp.einsum("ijcgf,hg->ijhcgf", blocks, jnp.eye(g, dtype=kernel.dtype))
      kernel, g = kernel.reshape(k, k, x.shape[-1], self.features), 1
    return layers.conv2d(x, kernel, padding=((k - 1) // 2, k // 2), groups=g)


class DepthwiseBasis(nn.Module):
  """Networks.py `DiscriminativeBasis`'s depthwise 4x4 'valid' convolution of
  the 4x4 map, (B, 4, 4, C) -> (B, C), with nn.Conv's 'kernel' (4, 4, 1, C):
  a per-channel dot product, computed as one (avoiding XLA's slow CPU
  depthwise convolution)."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", msr_init(), (*x.shape[1:3], 1, x.shape[-1]), jnp.float32)
    return jnp.einsum("bijc,ijc->bc", x.astype(self.dtype), kernel[:, :, 0].astype(self.dtype))


def _conv(features: int, kernel_size: int, gain: float = 1.0, groups: int = 1, *,
          dtype: Any, name: str) -> nn.Module:
  """Networks.py `Convolution`: no bias, 'same' padding, MSR init."""
  return GroupedConv(features, kernel_size, groups, kernel_init=msr_init(gain),
                     dtype=dtype, name=name)


class BiasedActivation(nn.Module):
  """FusedOperators.py `BiasedActivation`: leaky_relu(x + b, 0.2), b from 0."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return nn.leaky_relu(x + bias.astype(self.dtype), NEGATIVE_SLOPE)


class ResidualBlock(nn.Module):
  """Networks.py `ResidualBlock`: (B, H, W, C) -> the same shape.

  Attributes:
    cardinality: groups of the 3x3 conv (C * expansion channels).
    expansion: the inner width C * expansion.
    num_blocks: L, the network's residual block count (init scaling).
    kernel_size: of the grouped conv.
    dtype: computation dtype.
  """
  cardinality: int
  expansion: int
  num_blocks: int
  kernel_size: int = 3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    expanded = channels * self.expansion
    gain = block_gain(self.num_blocks)
    conv = functools.partial(_conv, dtype=self.dtype)
    y = conv(expanded, 1, gain, name="linear1")(x)
    y = BiasedActivation(self.dtype, name="act1")(y)
    y = conv(expanded, self.kernel_size, gain, self.cardinality, name="linear2")(y)
    y = BiasedActivation(self.dtype, name="act2")(y)
    y = conv(channels, 1, 0.0, name="linear3")(y)
    return x + y


class GenerativeBasis(nn.Module):
  """Networks.py `GenerativeBasis`: (B, D) -> (B, 4, 4, features), a learned
  4x4 basis per channel times a linear map of the input (no bias)."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z):
    basis = self.param("basis", nn.initializers.normal(1.0), (4, 4, self.features))
    coefficients = nn.Dense(self.features, use_bias=False, kernel_init=msr_init(),
                            dtype=self.dtype, name="linear")(z)
    return basis.astype(self.dtype)[None] * coefficients[:, None, None, :]


def _check_lists(widths, blocks, cardinality) -> None:
  if not len(widths) == len(blocks) == len(cardinality) >= 1:
    raise ValueError(f"R3GAN needs one width, block count and cardinality per stage; "
                     f"got {len(widths)}, {len(blocks)} and {len(cardinality)}.")


class Generator(nn.Module):
  """z (B, latent_dim) [, labels (B,)] -> images (B, S, S, channels), S =
  4 * 2^(stages - 1); unbounded (no tanh, as the official G), trained on
  images in [-1, 1].

  Attributes:
    channels: image channels (the official code: 3).
    widths: channels of each stage, from 4x4 up (WidthPerStage).
    blocks: residual blocks of each stage (BlocksPerStage).
    cardinality: groups of each stage's grouped convs (CardinalityPerStage).
    expansion: inner width factor of the blocks (ExpansionFactor).
    kernel_size: of the grouped convs.
    resampling_filter: the filter argument of the resamplers.
    num_classes: > 0 for a class-conditional G (a label embedding beside z).
    embed_dim: the label embedding's size; 0: latent_dim (train.py).
    dtype: computation dtype (parameters stay float32).
    axis_name: unused (no BatchNorm); kept for the common interface.
  """
  channels: int = 3
  widths: Sequence[int] = (768, 768, 768, 768)
  blocks: Sequence[int] = (2, 2, 2, 2)
  cardinality: Sequence[int] = (96, 96, 96, 96)
  expansion: int = 2
  kernel_size: int = 3
  resampling_filter: Sequence[int] = RESAMPLING_FILTER
  num_classes: int = 0
  embed_dim: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    del train  # no BatchNorm, no dropout
    _check_lists(self.widths, self.blocks, self.cardinality)
    x = z.astype(self.dtype)
    if self.num_classes:
      if y is None:
        raise ValueError(f"A class-conditional generator (num_classes="
                         f"{self.num_classes}) needs labels.")
      embed = nn.Embed(self.num_classes, self.embed_dim or z.shape[-1],
                       embedding_init=msr_init(), name="embedding")(y)
      x = jnp.concatenate([x, embed.astype(self.dtype)], axis=-1)
    for i, width in enumerate(self.widths):
      x = self._stage(i, width, x)
    x = _conv(self.channels, 1, dtype=self.dtype, name="aggregation")(x)
    return x.astype(jnp.float32)

  def _stage(self, i: int, width: int, x):
    """Networks.py `GeneratorStage`: the basis (stage 0) or 1x1 conv (if the
    width changes) and upsampling, then the stage's residual blocks."""
    if i == 0:
      x = GenerativeBasis(width, self.dtype, name="basis")(x)
    else:
      if x.shape[-1] != width:
        x = _conv(width, 1, dtype=self.dtype, name=f"stage{i}_transition")(x)
      x = upsample(x, self.resampling_filter)
    for j in range(self.blocks[i]):
      x = ResidualBlock(self.cardinality[i], self.expansion, sum(self.blocks),
                        self.kernel_size, self.dtype, name=f"stage{i}_block{j}")(x)
    return x


class Discriminator(nn.Module):
  """Images (B, S, S, C) [, labels (B,)] -> logits (B,); S = 4 * 2^(stages - 1).

  Attributes:
    widths: channels of each stage, from the image's size down to 4x4 (the
      generator's list reversed, as train.py builds D_kwargs).
    blocks, cardinality, expansion, kernel_size, resampling_filter: as the
      generator's, per stage in this order.
    num_classes: > 0 for a class-conditional D (Networks.py: the logit is
      the dot product of the basis output with a label embedding).
    embed_dim: that embedding's size; 0: the last stage's width (train.py).
    dtype: computation dtype (parameters stay float32).
    axis_name: unused (no BatchNorm); kept for the common interface.
  """
  widths: Sequence[int] = (768, 768, 768, 768)
  blocks: Sequence[int] = (2, 2, 2, 2)
  cardinality: Sequence[int] = (96, 96, 96, 96)
  expansion: int = 2
  kernel_size: int = 3
  resampling_filter: Sequence[int] = RESAMPLING_FILTER
  num_classes: int = 0
  embed_dim: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    del train  # no BatchNorm, no dropout
    _check_lists(self.widths, self.blocks, self.cardinality)
    size = 4 * 2 ** (len(self.widths) - 1)
    if x.shape[1:3] != (size, size):
      raise ValueError(f"This R3GAN discriminator has {len(self.widths)} stages, for "
                       f"{size}x{size} images; got {x.shape[1]}x{x.shape[2]}.")
    if self.num_classes and y is None:
      raise ValueError(f"A class-conditional discriminator (num_classes="
                       f"{self.num_classes}) needs labels.")
    x = _conv(self.widths[0], 1, dtype=self.dtype, name="extraction")(x.astype(self.dtype))
    for i in range(len(self.widths)):
      x = self._stage(i, x)
    width = self.widths[-1]
    # Networks.py `DiscriminativeBasis`: a depthwise 4x4 valid conv, then linear.
    h = DepthwiseBasis(dtype=self.dtype, name="basis")(x)
    self.sow("intermediates", "features", h)  # feature matching
    embed_dim = (self.embed_dim or width) if self.num_classes else 1
    out = nn.Dense(embed_dim, use_bias=False, kernel_init=msr_init(), dtype=self.dtype,
                   name="linear")(h)
    if not self.num_classes:
      return out[:, 0].astype(jnp.float32)
    embed = nn.Embed(self.num_classes, embed_dim,
                     embedding_init=msr_init(1 / math.sqrt(embed_dim)), name="embedding")(y)
    return jnp.sum(out * embed.astype(self.dtype), axis=-1).astype(jnp.float32)

  def _stage(self, i: int, x):
    """Networks.py `DiscriminatorStage`: residual blocks, then (but in the
    last stage) downsampling and a 1x1 conv if the width changes."""
    for j in range(self.blocks[i]):
      x = ResidualBlock(self.cardinality[i], self.expansion, sum(self.blocks),
                        self.kernel_size, self.dtype, name=f"stage{i}_block{j}")(x)
    if i + 1 < len(self.widths):
      x = downsample(x, self.resampling_filter)
      if x.shape[-1] != self.widths[i + 1]:
        x = _conv(self.widths[i + 1], 1, dtype=self.dtype, name=f"stage{i}_transition")(x)
    return x


# -- Presets and the config check ---------------------------------------------

# train.py, preset 'CIFAR10' (lines 178-183): WidthPerStage = 3/4 x 1024,
# BlocksPerStage = 2 x 1, CardinalityPerStage = 3 x 32, ExpansionFactor 2
# (line 272), NoiseDimension 64. Per stage of G, from 4x4 up; D takes them reversed.
CIFAR10 = dict(stage_widths=(768,) * 4, stage_blocks=(2,) * 4,
               stage_cardinality=(96,) * 4, expansion=2)
# train.py, preset 'FFHQ-64' (lines 198-203): one more stage, 384 wide, 48 groups.
FFHQ64 = dict(stage_widths=(768, 768, 768, 768, 384), stage_blocks=(2,) * 5,
              stage_cardinality=(96, 96, 96, 96, 48), expansion=2)
# For tests: 16x16 images, one block per stage, a few channels.
TINY = dict(stage_widths=(16, 8, 8), stage_blocks=(1, 1, 1),
            stage_cardinality=(2, 2, 2), expansion=2)


STAGE_KEYS = ("stage_widths", "stage_blocks", "stage_cardinality")


def player_kwargs(config: Any) -> tuple[dict, dict]:
  """(G's, D's) architecture fields from `config.model` (or a preset dict):
  D takes the per-stage lists reversed, as train.py builds D_kwargs (lines
  275-278)."""
  g = dict(widths=tuple(config["stage_widths"]), blocks=tuple(config["stage_blocks"]),
           cardinality=tuple(config["stage_cardinality"]), expansion=config["expansion"])
  d = dict(g, **{k: g[k][::-1] for k in ("widths", "blocks", "cardinality")})
  return g, d


def num_stages(image_size: int) -> int:
  """The stages (4x4, 8x8, ... image_size) of `image_size` = 4 * 2^k; 0 if
  it is not of that form."""
  stages = 1
  while 4 * 2 ** (stages - 1) < image_size:
    stages += 1
  return stages if 4 * 2 ** (stages - 1) == image_size else 0


def _check_stage_lists(config: Any) -> None:
  widths, blocks, groups = (tuple(config[k]) for k in STAGE_KEYS)
  if not len(widths) == len(blocks) == len(groups) >= 1:
    raise ValueError(
        f"config.model.stage_widths, stage_blocks and stage_cardinality need one value "
        f"per stage; got {len(widths)}, {len(blocks)} and {len(groups)} values: give "
        "all three the same length (image_size = 4 * 2^(stages - 1)).")
  if min(widths) < 1 or min(groups) < 1 or config["expansion"] < 1:
    raise ValueError(f"config.model.stage_widths {widths}, stage_cardinality {groups} "
                     f"and expansion {config['expansion']} must be positive.")
  if min(blocks) < 0 or sum(blocks) < 1:
    raise ValueError(f"config.model.stage_blocks {blocks} must be >= 0 with at least "
                     "one residual block in all.")


def check(config: Any) -> None:
  """Raises ValueError for a `config.model` R3GAN cannot build, saying what
  to change."""
  _check_stage_lists(config)
  size, widths = config.image_size, tuple(config["stage_widths"])
  stages = num_stages(size)
  if not stages:
    raise ValueError(
        f"R3GAN grows images from a 4x4 basis by doubling: image sizes 4 * 2^k (4, 8, "
        f"16, 32, 64, ...); got config.model.image_size={size}. For 28x28 data "
        "(MNIST) set image_size=32: the data are resized to it.")
  if len(widths) != stages:
    raise ValueError(
        f"config.model.image_size={size} needs {stages} stages (4x4 up to {size}x"
        f"{size}), but config.model.stage_widths has {len(widths)}: give stage_widths, "
        f"stage_blocks and stage_cardinality {stages} values each, or set "
        f"image_size={4 * 2 ** (len(widths) - 1)}.")
  expansion = config["expansion"]
  for i, (width, groups) in enumerate(zip(widths, config["stage_cardinality"])):
    if (width * expansion) % groups:
      raise ValueError(
          f"Stage {i}: its grouped conv has stage_widths[{i}] * expansion = "
          f"{width * expansion} channels, which stage_cardinality[{i}]={groups} groups "
          f"do not divide; choose a divisor of {width * expansion}.")


CIFAR10Generator = functools.partial(Generator, **player_kwargs(CIFAR10)[0])
CIFAR10Discriminator = functools.partial(Discriminator, **player_kwargs(CIFAR10)[1])
TinyGenerator = functools.partial(Generator, **player_kwargs(TINY)[0])
TinyDiscriminator = functools.partial(Discriminator, **player_kwargs(TINY)[1])
