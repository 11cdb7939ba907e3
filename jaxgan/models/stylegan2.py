"""StyleGAN2 (Karras et al. 2020, arXiv:1912.04958) in Flax.

Ported from NVlabs/stylegan2-ada-pytorch (training/networks.py, the StyleGAN2
of the ADA paper, Karras et al. 2020, arXiv:2006.06676); the names below are
that file's. Layout is NHWC; a conv weight (k, k, in, out) is torch's
(out, in, k, k) transposed.

Generator (`Generator`): z -> mapping network -> w, broadcast to `num_ws`
copies -> synthesis network -> image.

- Mapping (`MappingNetwork`): z normalised to unit second moment
  (`normalize_2nd_moment`), `mapping_layers` fully connected layers of w_dim
  features with leaky ReLU and learning-rate multiplier 0.01. With classes,
  a one-hot label is embedded (w_dim), normalised and concatenated to z.
  `w_avg`, the running mean of w (beta 0.995), lives in 'batch_stats'.
- Synthesis (`SynthesisNetwork`): a learned constant 4x4 input, then one block
  per resolution 4, 8, ..., S (`SynthesisBlock`): two modulated 3x3 convs
  (the first upsampling 2x, none at 4x4), each followed by per-pixel noise
  with a learned strength, bias and leaky ReLU; a modulated 1x1 ToRGB layer
  (no demodulation) per block whose outputs are summed over the upsampled
  image ('skip' architecture; 'orig' and 'resnet' as the reference allows).
- Modulated convolution (`modulated_conv2d`, `fused_modconv=False`): the
  input scaled by the styles s = affine(w) (bias initialised to 1), a plain
  convolution, the output scaled by the demodulation 1 / sqrt(sum_{i,k}
  (s_i w_{ikj})^2 + 1e-8). That equals a convolution with the per-example
  weights w'_{ikj} = s_i w_{ikj} / ||s w_{.j}||, without forming them.
- Resampling (`upfirdn2d`, `conv2d_resample`): the [1, 3, 3, 1] filter
  (outer product, normalised to sum 1); upsampling is a transposed stride-2
  conv then the filter with gain 4, downsampling the filter then a stride-2
  conv, with conv2d_resample.py's paddings.
- Equalized learning rate everywhere: weights drawn from N(0, 1) / lr_mul and
  scaled at run time by lr_mul / sqrt(fan_in); biases scaled by lr_mul.
  Activations are leaky ReLU (0.2) times sqrt(2) (bias_act.py `def_gain`),
  clamped to +-conv_clamp (256 in train.py) in the conv layers.

Discriminator (`Discriminator`): one block per resolution S, ..., 8
(`DiscriminatorBlock`: FromRGB 1x1 at the first block, conv 3x3, conv 3x3
with 2x downsampling; 'resnet' adds a 1x1 downsampling skip and scales both
paths by sqrt(1/2); 'orig' and 'skip' as the reference), then the epilogue
at 4x4 (`DiscriminatorEpilogue`): minibatch standard deviation, conv 3x3,
fully connected, output. With classes, the output is projected on a mapped
label embedding, <out, cmap> / sqrt(cmap_dim).

Differences from the reference, each for a reason:

- Minibatch standard deviation groups consecutive examples (0-3, 4-7, ...)
  where the reference groups example i with i + N/G, ...: the batch is in
  random order either way, and consecutive groups inside each device's rows
  make the layer independent of the number of devices (with the group size
  dividing the per-device batch), so a run on 8 devices equals one on 1.
- Random draws of a training pass (noise inputs, style mixing's second
  latent) are made for the global batch and sliced per device, for the same
  reason. They come from the 'dropout' rng (the step's per-call stream);
  without it (sampling), noise inputs are fixed per layer ('const' mode,
  generate.py's default) and there is no style mixing.
- `w_avg` and the path-length mean are averaged over all devices' examples
  (the reference keeps them per GPU).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan.models import layers

RESAMPLE_FILTER = (1, 3, 3, 1)
ARCHITECTURES = ("orig", "skip", "resnet")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
_NHWC = ("NHWC", "HWIO", "NHWC")


# -- Shapes of the networks ------------------------------------------------------

def block_resolutions(image_size: int) -> list[int]:
  """G's block resolutions 4, 8, ..., image_size (D's are the reverse, without 4)."""
  return [2**i for i in range(2, int(math.log2(image_size)) + 1)]


def channels(resolution: int, channel_base: int, channel_max: int) -> int:
  """Feature maps at a resolution: min(channel_base // res, channel_max)."""
  return min(channel_base // resolution, channel_max)


def num_ws(image_size: int) -> int:
  """How many w's the synthesis network takes: one per conv layer plus the
  last ToRGB (each other ToRGB shares the next block's first w)."""
  return 2 * int(math.log2(image_size)) - 2


# -- Ops -------------------------------------------------------------------------

def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  """x / sqrt(mean(x^2) + eps) over the last axis."""
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def setup_filter(taps=RESAMPLE_FILTER) -> np.ndarray:
  """The 2-D filter of 1-D taps: their outer product, normalised to sum 1."""
  f = np.asarray(taps, np.float32)
  f = np.outer(f, f)
  return f / f.sum()


_conv = layers.conv2d


def upfirdn2d(x: jax.Array, f: np.ndarray, *, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0),
              gain: float = 1.0) -> jax.Array:
  """upfirdn2d.py `upfirdn2d` on NHWC for a separable filter f (an outer
  product, as `setup_filter` makes): upsample by inserting up - 1 zeros
  after each pixel, pad by (x0, x1, y0, y1), convolve each channel with f
  times gain, keep every down-th pixel; one axis at a time (`layers.fir1d`)."""
  x0, x1, y0, y1 = padding
  taps = f.sum(axis=1)  # f = taps taps^T for a separable filter
  # fir1d's dilation leaves out the up - 1 zeros after the last pixel.
  x = layers.fir1d(x, taps * gain, 1, stride=down, dilation=up, padding=(y0, y1 + up - 1))
  return layers.fir1d(x, taps, 2, stride=down, dilation=up, padding=(x0, x1 + up - 1))


def upsample2d(x: jax.Array, f: np.ndarray) -> jax.Array:
  """upfirdn2d.py `upsample2d` (2x): padding ((fw + 1) // 2, (fw - 2) // 2), gain 4."""
  fw = f.shape[0]
  p0, p1 = (fw + 1) // 2, (fw - 2) // 2
  return upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4.0)


def downsample2d(x: jax.Array, f: np.ndarray) -> jax.Array:
  """upfirdn2d.py `downsample2d` (2x): padding ((fw - 1) // 2, (fw - 2) // 2)."""
  fw = f.shape[0]
  p0, p1 = (fw - 1) // 2, (fw - 2) // 2
  return upfirdn2d(x, f, down=2, padding=(p0, p1, p0, p1))


def _subpixel_transposed_conv3(x: jax.Array, w: jax.Array) -> jax.Array:
  """The full output of the stride-2 transposed conv with a 3x3 kernel
  (2H + 1 pixels, where input pixel p adds w[m] at 2p + m), plus a zero row
  and column: (N, 2H + 2, 2W + 2, F). In one axis, output 2r = x[r] w[0] +
  x[r - 1] w[2] and 2r + 1 = x[r] w[1]: each of the four phases (row and
  column parity) is a 2x2 correlation of the input padded by 1, so one
  stride-1 conv with 4F outputs computes them all (Shi et al. 2016's
  sub-pixel form), at a quarter of the work of a conv over the zero-filled
  input."""
  taps = ((2, 0), (None, 1))  # phase a: the kernel row at window offset t
  zero = jnp.zeros_like(w[0, 0])
  pick = lambda m, n: zero if m is None or n is None else w[m, n]
  kernel = jnp.concatenate([
      jnp.stack([jnp.stack([pick(taps[a][t], taps[b][u]) for u in (0, 1)]) for t in (0, 1)])
      for a in (0, 1) for b in (0, 1)], axis=-1)  # (2, 2, C, [a, b, F])
  y = _conv(x, kernel, padding=1)  # (N, H + 1, W + 1, 4F)
  n, h1, w1, _ = y.shape
  f = w.shape[-1]
  y = y.reshape(n, h1, w1, 2, 2, f).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, 2 * h1, 2 * w1, f)


def conv2d_resample(x: jax.Array, w: jax.Array, f: np.ndarray, *, up: int = 1,
                    down: int = 1, padding: int = 0) -> jax.Array:
  """conv2d_resample.py `conv2d_resample` (NHWC, w (k, k, in, out)) for the
  cases StyleGAN2 uses: plain (same padding), up=2 (transposed stride-2 conv,
  then the filter with gain 4) and down=2 (the filter, then a stride-2 conv;
  for a 1x1 conv, filtering with stride 2 first)."""
  k = w.shape[0]
  fw = f.shape[0]
  if up == 1 and down == 1:
    return _conv(x, w, padding=padding)
  if up == 2 and down == 1:
    p0, p1 = padding + (fw + 1) // 2, padding + (fw - 2) // 2
    if k == 1:  # 1x1: convolve, then upsample
      return upfirdn2d(_conv(x, w), f, up=2, padding=(p0, p1, p0, p1), gain=4.0)
    if k != 3:
      raise ValueError(f"conv2d_resample: up=2 with a {k}x{k} kernel is not used by "
                       "StyleGAN2 (1x1 or 3x3).")
    # The full output (2H + 1) with a zero row and column after it: one less pad.
    p0, p1 = p0 - (k - 1), p1 - (k - 2) - 1
    return upfirdn2d(_subpixel_transposed_conv3(x, w), f, padding=(p0, p1, p0, p1), gain=4.0)
  if down == 2 and up == 1:
    p0, p1 = padding + (fw - 1) // 2, padding + (fw - 2) // 2
    if k == 1:
      return _conv(upfirdn2d(x, f, down=2, padding=(p0, p1, p0, p1)), w)
    return _conv(upfirdn2d(x, f, padding=(p0, p1, p0, p1)), w, stride=2)
  raise ValueError(f"conv2d_resample: up={up}, down={down} is not used by StyleGAN2.")


def bias_act(x: jax.Array, b: jax.Array | None, *, act: str = "linear",
             gain: float = 1.0, clamp: float | None = None) -> jax.Array:
  """bias_act.py `bias_act`: (x + b), activation, times its default gain
  (sqrt 2 for leaky ReLU) and `gain`, clamped to +-clamp."""
  if b is not None:
    x = x + b.astype(x.dtype)
  if act == "lrelu":
    x = jax.nn.leaky_relu(x, LRELU_SLOPE) * (LRELU_GAIN * gain)
  elif act == "linear":
    x = x * gain if gain != 1 else x
  else:
    raise ValueError(f"Unknown activation {act!r}.")
  if clamp is not None:
    x = jnp.clip(x, -clamp, clamp)
  return x


def modulated_conv2d(x: jax.Array, weight: jax.Array, styles: jax.Array, *,
                     demodulate: bool = True, up: int = 1, padding: int = 0,
                     f: np.ndarray | None = None) -> tuple[jax.Array, jax.Array | None]:
  """networks.py `modulated_conv2d` with fused_modconv=False: the input times
  the styles (N, in), the convolution with `weight` (k, k, in, out), and
  the demodulation coefficients (N, out), returned for the caller to apply
  (with the noise: x * dcoefs + noise, as the reference's fma)."""
  x = x * styles[:, None, None, :].astype(x.dtype)
  x = conv2d_resample(x, weight.astype(x.dtype), setup_filter() if f is None else f,
                      up=up, padding=padding)
  if not demodulate:
    return x, None
  # sum_{k,k,i} (s_i w_kki_o)^2 = (s^2) @ sum_kk(w^2), without the per-example weights.
  dcoefs = lax.rsqrt(jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1)) + 1e-8)
  return x, dcoefs


def const_noise(seed: int, resolution: int) -> np.ndarray:
  """A synthesis layer's fixed noise map (res, res, 1) for sampling (the
  reference's `noise_const` buffer): N(0, 1) from numpy's PCG64 with the
  layer's seed (2 res for a block's conv0, 2 res + 1 for its conv1)."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((resolution, resolution, 1)).astype(np.float32)


def _at_least_f32(dtype):
  """float32 for bfloat16 / float32 computation (float64 stays, for tests)."""
  return jnp.promote_types(dtype, jnp.float32)


# -- Equalized-learning-rate layers ------------------------------------------------

class FullyConnectedLayer(nn.Module):
  """networks.py `FullyConnectedLayer`: weight N(0, 1) / lr_multiplier
  scaled by lr_multiplier / sqrt(in), bias (init `bias_init`) by lr_multiplier."""
  features: int
  activation: str = "linear"
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel = self.param("kernel", lambda k, s: jax.random.normal(k, s) / self.lr_multiplier,
                        (fan_in, self.features))
    x = x @ (kernel * (self.lr_multiplier / math.sqrt(fan_in))).astype(x.dtype)
    bias = None
    if self.use_bias:
      bias = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
      bias = bias * self.lr_multiplier
    return bias_act(x, bias, act=self.activation)


class Conv2dLayer(nn.Module):
  """networks.py `Conv2dLayer`: weight N(0, 1) scaled by 1 / sqrt(in k^2),
  zero bias, optional 2x up/downsampling with the [1, 3, 3, 1] filter."""
  features: int
  kernel_size: int
  activation: str = "linear"
  use_bias: bool = True
  up: int = 1
  down: int = 1
  conv_clamp: float | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, gain: float = 1.0):
    k, c = self.kernel_size, x.shape[-1]
    weight = self.param("kernel", nn.initializers.normal(1.0), (k, k, c, self.features))
    w = (weight * (1.0 / math.sqrt(c * k * k))).astype(self.dtype)
    x = conv2d_resample(x.astype(self.dtype), w, setup_filter(), up=self.up,
                        down=self.down, padding=k // 2)
    bias = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, bias, act=self.activation, gain=gain, clamp=clamp)


# -- Generator -------------------------------------------------------------------

class MappingNetwork(nn.Module):
  """networks.py `MappingNetwork` without the broadcast and truncation (see
  `Generator`): z (N, z_dim) and/or labels (N,) -> w (N, w_dim)."""
  w_dim: int = 512
  num_layers: int = 8
  lr_multiplier: float = 0.01
  num_classes: int = 0

  @nn.compact
  def __call__(self, z, y=None):
    parts = [] if z is None else [normalize_2nd_moment(z.astype(jnp.float32))]
    if self.num_classes:
      embed = FullyConnectedLayer(self.w_dim, name="embed")(
          jax.nn.one_hot(y, self.num_classes, dtype=jnp.float32))
      parts.append(normalize_2nd_moment(embed))
    x = jnp.concatenate(parts, axis=-1)
    for i in range(self.num_layers):
      x = FullyConnectedLayer(self.w_dim, "lrelu", self.lr_multiplier, name=f"fc{i}")(x)
    return x


class SynthesisLayer(nn.Module):
  """networks.py `SynthesisLayer`: modulated conv (3x3, 2x up or not), noise
  input with learned strength (init 0), bias, leaky ReLU, clamp."""
  features: int
  resolution: int
  up: int = 1
  use_noise: bool = True
  conv_clamp: float | None = None
  noise_seed: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, w, train: bool, gain: float = 1.0):
    c = x.shape[-1]
    styles = FullyConnectedLayer(c, bias_init=1.0, name="affine")(w)
    weight = self.param("kernel", nn.initializers.normal(1.0), (3, 3, c, self.features))
    x, dcoefs = modulated_conv2d(x.astype(self.dtype), weight, styles, up=self.up, padding=1)
    x = x * dcoefs[:, None, None, :].astype(x.dtype)
    if self.use_noise:
      strength = self.param("noise_strength", nn.initializers.zeros, ())
      x = x + (self._noise(x.shape[0], train) * strength).astype(x.dtype)
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    clamp = None if self.conv_clamp is None else self.conv_clamp * gain
    return bias_act(x, bias, act="lrelu", gain=gain, clamp=clamp)

  def _noise(self, n: int, train: bool) -> jax.Array:
    """(n, res, res, 1): fresh per example in training ('random'), else this
    layer's fixed map ('const')."""
    shape = (n, self.resolution, self.resolution, 1)
    if train and self.has_rng("dropout"):
      return layers.global_normal(self.make_rng("dropout"), shape, self.axis_name)
    return jnp.broadcast_to(jnp.asarray(const_noise(self.noise_seed, self.resolution)),
                            shape)


class ToRGBLayer(nn.Module):
  """networks.py `ToRGBLayer`: 1x1 modulated conv without demodulation
  (styles times 1 / sqrt(in)), bias, clamp."""
  channels: int
  conv_clamp: float | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    c = x.shape[-1]
    styles = FullyConnectedLayer(c, bias_init=1.0, name="affine")(w) / math.sqrt(c)
    weight = self.param("kernel", nn.initializers.normal(1.0), (1, 1, c, self.channels))
    x, _ = modulated_conv2d(x.astype(self.dtype), weight, styles, demodulate=False)
    bias = self.param("bias", nn.initializers.zeros, (self.channels,))
    return bias_act(x.astype(_at_least_f32(self.dtype)), bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
  """networks.py `SynthesisBlock`: (x, img, ws) -> (x, img) at `resolution`."""
  features: int
  resolution: int
  channels: int
  is_last: bool
  architecture: str = "skip"
  use_noise: bool = True
  conv_clamp: float | None = None
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, img, ws, train: bool):
    layer = functools.partial(SynthesisLayer, self.features, self.resolution,
                              use_noise=self.use_noise, conv_clamp=self.conv_clamp,
                              dtype=self.dtype, axis_name=self.axis_name)
    seed = 2 * self.resolution
    i = 0
    if x is None:  # the first block: a learned constant
      const = self.param("const", nn.initializers.normal(1.0),
                         (self.resolution, self.resolution, self.features))
      x = jnp.broadcast_to(const, (ws.shape[0], *const.shape)).astype(self.dtype)
      x = layer(noise_seed=seed + 1, name="conv1")(x, ws[:, 0], train)
      i = 1
    elif self.architecture == "resnet":
      y = Conv2dLayer(self.features, 1, use_bias=False, up=2, dtype=self.dtype,
                      name="skip")(x, gain=math.sqrt(0.5))
      x = layer(up=2, noise_seed=seed, name="conv0")(x, ws[:, 0], train)
      x = layer(noise_seed=seed + 1, name="conv1")(x, ws[:, 1], train, gain=math.sqrt(0.5))
      x, i = y + x, 2
    else:
      x = layer(up=2, noise_seed=seed, name="conv0")(x, ws[:, 0], train)
      x = layer(noise_seed=seed + 1, name="conv1")(x, ws[:, 1], train)
      i = 2
    if img is not None:
      img = upsample2d(img, setup_filter())
    if self.is_last or self.architecture == "skip":
      y = ToRGBLayer(self.channels, self.conv_clamp, self.dtype, name="torgb")(x, ws[:, i])
      img = y if img is None else img + y
    return x, img


class SynthesisNetwork(nn.Module):
  """networks.py `SynthesisNetwork`: ws (N, num_ws, w_dim) -> images (N, S, S, C)."""
  image_size: int
  channels: int
  channel_base: int = 32768
  channel_max: int = 512
  architecture: str = "skip"
  use_noise: bool = True
  conv_clamp: float | None = 256.0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, ws, train: bool):
    x = img = None
    w_idx = 0
    for res in block_resolutions(self.image_size):
      is_last = res == self.image_size
      num_conv = 1 if res == 4 else 2
      num_torgb = 1 if (is_last or self.architecture == "skip") else 0
      x, img = SynthesisBlock(
          channels(res, self.channel_base, self.channel_max), res, self.channels, is_last,
          self.architecture, self.use_noise, self.conv_clamp, self.dtype, self.axis_name,
          name=f"b{res}")(x, img, ws[:, w_idx:w_idx + num_conv + num_torgb], train)
      w_idx += num_conv
    return img.astype(_at_least_f32(self.dtype))


class Generator(nn.Module):
  """StyleGAN2's G: z (N, latent_dim) [, labels (N,)] -> images (N, S, S, C).

  Besides `__call__`, `styles(z[, y], train=)` gives the ws (N, num_ws, w_dim)
  of a training pass (mapping, w_avg update, style mixing) and
  `synthesize(ws, train=)` their images, for the path-length regularizer.

  Attributes:
    image_size: a power of 2, at least 8.
    channels: image channels.
    w_dim, mapping_layers, mapping_lr: the mapping network (w_dim features,
      layers, learning-rate multiplier 0.01).
    channel_base, channel_max: feature maps min(channel_base // res, channel_max).
    architecture: 'skip' (StyleGAN2's), 'orig' or 'resnet'.
    style_mixing: the probability that a training pass mixes two latents
      (loss.py `style_mixing_prob`, 0.9; 0: off).
    w_avg_beta: decay of `w_avg`, the tracked mean of w (for truncation).
    noise: per-pixel noise inputs on or off.
    conv_clamp: activations clamped to +- this (None: off).
    num_classes: > 0: a label embedding joins z in the mapping network.
    dtype: dtype of the synthesis convolutions (parameters stay float32).
    axis_name: the pmap axis of a training pass (random draws and w_avg are
      for the global batch).
  """
  image_size: int = 32
  channels: int = 3
  w_dim: int = 512
  mapping_layers: int = 8
  mapping_lr: float = 0.01
  channel_base: int = 32768
  channel_max: int = 512
  architecture: str = "skip"
  style_mixing: float = 0.9
  w_avg_beta: float = 0.995
  noise: bool = True
  conv_clamp: float | None = 256.0
  num_classes: int = 0
  dtype: Any = jnp.float32
  axis_name: str | None = None

  def setup(self):
    self.mapping = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr,
                                  self.num_classes)
    self.synthesis = SynthesisNetwork(
        self.image_size, self.channels, self.channel_base, self.channel_max,
        self.architecture, self.noise, self.conv_clamp, self.dtype, self.axis_name)
    self.w_avg = self.variable("batch_stats", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)

  @property
  def num_ws(self) -> int:
    return num_ws(self.image_size)

  def __call__(self, z, y=None, train: bool = True, truncation: Any = 1.0):
    """Images of z; `truncation` psi: w_avg + psi (w - w_avg) for every w."""
    ws = self.styles(z, y, train=train)
    ws = self.w_avg.value + truncation * (ws - self.w_avg.value)
    return self.synthesize(ws, train=train)

  def styles(self, z, y=None, train: bool = True):
    """ws (N, num_ws, w_dim) of z: the mapping, broadcast; in a training
    pass (the 'dropout' rng given) w_avg moves toward the batch's mean w and,
    with probability `style_mixing`, the ws from a random cutoff in [1,
    num_ws) on come from a second latent."""
    w = self.mapping(z, y)
    training = train and self.has_rng("dropout")
    if training and not self.is_initializing():
      mean = jnp.mean(w, axis=0)
      if self.axis_name is not None:
        mean = lax.pmean(mean, self.axis_name)
      self.w_avg.value = mean + self.w_avg_beta * (self.w_avg.value - mean)
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, self.w_dim))
    if training and self.style_mixing > 0:
      cut_key, mix_key, z_key = jax.random.split(self.make_rng("dropout"), 3)
      cutoff = jax.random.randint(cut_key, (), 1, self.num_ws)
      cutoff = jnp.where(jax.random.uniform(mix_key) < self.style_mixing, cutoff, self.num_ws)
      w2 = self.mapping(layers.global_normal(z_key, z.shape, self.axis_name), y)
      ws = jnp.where(jnp.arange(self.num_ws)[None, :, None] >= cutoff, w2[:, None], ws)
    return ws

  def synthesize(self, ws, train: bool = True):
    return self.synthesis(ws, train)


# -- Discriminator -----------------------------------------------------------------

def minibatch_stddev(x: jax.Array, group_size: int, num_channels: int = 1) -> jax.Array:
  """networks.py `MinibatchStdLayer` with groups of consecutive examples:
  per group of min(group_size, N) and per channel group (C / num_channels),
  the standard deviation over the group, averaged over channels and pixels,
  appended as num_channels feature maps: (N, H, W, C) -> (N, H, W, C + F)."""
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g:
    raise ValueError(f"Minibatch stddev: the per-device batch of {n} does not divide "
                     f"into groups of {g} (config.model.mbstd_group).")
  f = num_channels
  y = x.astype(jnp.float32).reshape(n // g, g, h, w, f, c // f)
  y = jnp.sqrt(jnp.var(y, axis=1) + 1e-8)  # (n/g, h, w, f, c/f)
  y = jnp.mean(y, axis=(1, 2, 4))  # (n/g, f)
  y = jnp.broadcast_to(y[:, None, None, None, :], (n // g, g, h, w, f)).reshape(n, h, w, f)
  return jnp.concatenate([x, y.astype(x.dtype)], axis=-1)


class DiscriminatorBlock(nn.Module):
  """networks.py `DiscriminatorBlock`: (x, img) at `resolution` -> at half."""
  tmp_features: int
  features: int
  first: bool
  architecture: str = "resnet"
  conv_clamp: float | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, img):
    conv = functools.partial(Conv2dLayer, conv_clamp=self.conv_clamp, dtype=self.dtype)
    if self.first or self.architecture == "skip":
      y = conv(self.tmp_features, 1, "lrelu", name="fromrgb")(img)
      x = y if x is None else x + y
      img = downsample2d(img, setup_filter()) if self.architecture == "skip" else None
    if self.architecture == "resnet":
      y = Conv2dLayer(self.features, 1, use_bias=False, down=2, dtype=self.dtype,
                      name="skip")(x, gain=math.sqrt(0.5))
      x = conv(self.tmp_features, 3, "lrelu", name="conv0")(x)
      x = conv(self.features, 3, "lrelu", down=2, name="conv1")(x, gain=math.sqrt(0.5))
      return y + x, img
    x = conv(self.tmp_features, 3, "lrelu", name="conv0")(x)
    return conv(self.features, 3, "lrelu", down=2, name="conv1")(x), img


class Discriminator(nn.Module):
  """StyleGAN2's D: images (N, S, S, C) [, labels (N,)] -> logits (N,).

  Attributes:
    image_size: a power of 2, at least 8.
    channel_base, channel_max: as G's.
    architecture: 'resnet' (StyleGAN2's), 'orig' (the CIFAR-10 config's) or 'skip'.
    mbstd_group: minibatch stddev group size (per device; 4, CIFAR-10: 32).
    mbstd_channels: its feature maps (0: off).
    conv_clamp: activations clamped to +- this (None: off).
    num_classes: > 0: the output is projected on a mapped label embedding.
    mapping_layers: layers of that label mapping (the reference's default 8).
    dtype: computation dtype of the blocks (the epilogue is float32).
    axis_name: unused (no cross-device state); kept for the common interface.
  """
  image_size: int = 32
  channel_base: int = 32768
  channel_max: int = 512
  architecture: str = "resnet"
  mbstd_group: int = 4
  mbstd_channels: int = 1
  conv_clamp: float | None = 256.0
  num_classes: int = 0
  mapping_layers: int = 8
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, img, y=None, train: bool = True):
    width = functools.partial(channels, channel_base=self.channel_base,
                              channel_max=self.channel_max)
    x, img = None, img.astype(self.dtype)
    for res in reversed(block_resolutions(self.image_size)[1:]):
      x, img = DiscriminatorBlock(width(res), width(res // 2), res == self.image_size,
                                  self.architecture, self.conv_clamp, self.dtype,
                                  name=f"b{res}")(x, img)
    c = width(4)
    x = x.astype(jnp.float32)
    if self.architecture == "skip":
      x = x + Conv2dLayer(c, 1, "lrelu", name="b4_fromrgb")(img.astype(jnp.float32))
    if self.mbstd_channels:
      x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = Conv2dLayer(c, 3, "lrelu", conv_clamp=self.conv_clamp, name="b4_conv")(x)
    x = FullyConnectedLayer(c, "lrelu", name="b4_fc")(x.reshape(x.shape[0], -1))
    self.sow("intermediates", "features", x)  # feature matching
    out = FullyConnectedLayer(c if self.num_classes else 1, name="b4_out")(x)
    if not self.num_classes:
      return out[:, 0]
    cmap = MappingNetwork(c, self.mapping_layers, 0.01, self.num_classes,
                          name="mapping")(None, y)
    return jnp.sum(out * cmap, axis=-1) / math.sqrt(c)


# -- Config ------------------------------------------------------------------------

# config.model keys of 'stylegan2' beyond the shared ones (jaxgan.models), at
# train.py's defaults; latent_dim (z_dim) is 512 there.
DEFAULTS = dict(w_dim=512, mapping_layers=8, mapping_lr=0.01, channel_base=32768,
                channel_max=512, g_architecture="skip", d_architecture="resnet",
                style_mixing=0.9, w_avg_beta=0.995, noise=True, conv_clamp=256.0,
                mbstd_group=4, mbstd_channels=1, d_mapping_layers=8)


def check(config: Any) -> None:
  """Raises ValueError for a config.model (with the defaults) that cannot be built."""
  size = config.image_size
  if size < 8 or size & (size - 1):
    raise ValueError(f"Model 'stylegan2' needs config.model.image_size a power of 2, "
                     f"at least 8; got {size}.")
  for key in ("g_architecture", "d_architecture"):
    if config[key] not in ARCHITECTURES:
      raise ValueError(f"Unknown config.model.{key} {config[key]!r}; valid: "
                       f"{', '.join(ARCHITECTURES)}.")
  if not 0 <= config.style_mixing <= 1:
    raise ValueError(f"config.model.style_mixing is a probability, got {config.style_mixing}.")
  for key in ("w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group"):
    if config[key] <= 0:
      raise ValueError(f"config.model.{key} must be positive, got {config[key]}.")
  if channels(size, config.channel_base, config.channel_max) <= 0:
    raise ValueError(f"config.model.channel_base={config.channel_base} leaves no feature "
                     f"maps at {size}x{size}; it must be at least the image size.")
  mbstd = config.mbstd_channels
  if mbstd < 0 or (mbstd and channels(4, config.channel_base, config.channel_max) % mbstd):
    raise ValueError(f"config.model.mbstd_channels={mbstd} must be >= 0 and divide D's "
                     "feature maps at 4x4.")


def build(config: Any, dtype, axis_name) -> tuple[Generator, Discriminator]:
  """(G, D) of a config.model with the defaults filled in."""
  clamp = config.conv_clamp or None
  common = dict(image_size=config.image_size, channel_base=config.channel_base,
                channel_max=config.channel_max, conv_clamp=clamp,
                num_classes=config.num_classes, dtype=dtype, axis_name=axis_name)
  generator = Generator(channels=config.channels, w_dim=config.w_dim,
                        mapping_layers=config.mapping_layers, mapping_lr=config.mapping_lr,
                        architecture=config.g_architecture, style_mixing=config.style_mixing,
                        w_avg_beta=config.w_avg_beta, noise=config.noise, **common)
  discriminator = Discriminator(architecture=config.d_architecture,
                                mbstd_group=config.mbstd_group,
                                mbstd_channels=config.mbstd_channels,
                                mapping_layers=config.d_mapping_layers, **common)
  return generator, discriminator
