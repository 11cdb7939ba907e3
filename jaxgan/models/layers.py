"""Layers the architectures share: the DCGAN's stride-2 convolutions, fast
on every backend, and the minibatch layers of 'Improved Techniques'.

`UpConv` (PyTorch's ConvTranspose2d(k=4, s=2, p=1)), `DownConv` (Conv2d(k=4,
s=2, p=1)) and `DenseConv` have the parameters of the Flax layer each replaces
(same names, shapes and meaning) and compute the same function (tested, with
first and second derivatives), so checkpoints are interchangeable. What
differs is how XLA computes them, set by `impl`:

- 'conv' (the default on CPU): XLA convolutions whose derivatives are written
  by hand (`strided_conv`, `transposed_conv`, `conv_kernel_grad`, each the
  derivative of the others), every one in the NHWC/HWIO layout that XLA:CPU
  runs on its fast libraries (Eigen, as the training step is compiled with
  `jaxgan.compilation.compiler_options()`; else YNNPACK). XLA's own
  derivatives of a strided convolution are convolutions in other layouts,
  which XLA:CPU rewrites into that layout outside loops only: inside a loop
  (`lax.fori_loop`, as every training call is) it runs them in a generic
  emitter, many times slower. Transposed convolutions go to Eigen's
  transposed convolution while its column buffer is at most
  `EIGEN_TRANSPOSED_CONV_BYTES` (it slows down beyond), and otherwise to the
  sub-pixel form below as one stride-1 convolution.
- 'matmul' (the default on GPU and TPU): matrix multiplies over gathered
  patches (`_conv`), so forward and backward passes are matmuls and shifted
  adds. `UpConv` uses the sub-pixel form (Shi et al. 2016): output phase
  (row parity a, column parity b) of the transposed convolution is a 2x2
  convolution of the input with the taps k[a::2, b::2], one 2x2 convolution
  with 4x the output channels computes all four, and the phases are
  interleaved (depth-to-space). `DownConv`: space-to-depth of the padded input
  turns the stride-2 4x4 convolution into a stride-1 2x2 convolution with 4x
  the input channels. `DenseConv`: a VALID convolution whose kernel covers the
  input is a dense layer (both impls).

`MinibatchDiscrimination` (Salimans et al. 2016) and `MinibatchStdDev`
(Karras et al. 2018) let a discriminator compare the examples of a batch, so
that a generator collapsing to few modes is easy to spot. Under `jax.pmap`
they see the batch on their device only (the global batch / device count):
the statistics are per-device ones, not synchronised.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

IMPLS = ("auto", "conv", "matmul")

# Eigen's transposed convolution keeps a column buffer of
# batch x input pixels x 16 x output channels floats; past this size the
# sub-pixel convolution is the faster of the two on CPU.
EIGEN_TRANSPOSED_CONV_BYTES = 16 * 2**20

_NHWC = ("NHWC", "HWIO", "NHWC")


def resolve_impl(impl: str) -> str:
  """'auto' -> 'conv' on CPU, 'matmul' elsewhere (the faster one on GPU);
  other names as they are, after a check."""
  if impl not in IMPLS:
    raise ValueError(f"Unknown conv impl {impl!r}; valid: {', '.join(IMPLS)}.")
  if impl == "auto":
    return "conv" if jax.default_backend() == "cpu" else "matmul"
  return impl


def _flip(kernel):
  """The kernel of the adjoint: taps reversed, input and output swapped."""
  return kernel[::-1, ::-1].transpose(0, 1, 3, 2)


@jax.custom_vjp
def strided_conv(x, kernel):
  """nn.Conv(F, (4, 4), strides=2, padding=1) without bias:
  (B, H, W, C) * (4, 4, C, F) -> (B, H/2, W/2, F), H and W even."""
  return lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                  dimension_numbers=_NHWC)


@jax.custom_vjp
def transposed_conv(x, kernel):
  """nn.ConvTranspose(F, (4, 4), strides=2, padding=((2, 2), (2, 2))) without
  bias: (B, H, W, C) * (4, 4, C, F) -> (B, 2H, 2W, F). The adjoint of
  `strided_conv` with the kernel `_flip`ped."""
  b, h, w, _ = x.shape
  if b * h * w * 16 * kernel.shape[-1] * x.dtype.itemsize > EIGEN_TRANSPOSED_CONV_BYTES:
    return _subpixel_transposed_conv(x, kernel)
  return lax.conv_general_dilated(x, kernel, (1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2),
                                  dimension_numbers=_NHWC)


@jax.custom_vjp
def conv_kernel_grad(x, dy):
  """The gradient of sum(dy * strided_conv(x, k)) with respect to k:
  (B, H, W, C), (B, H/2, W/2, F) -> (4, 4, C, F), as a convolution of the
  channels-first input with dy as a dilated kernel."""
  # XLA would fuse the transposes into the ops that make x and dy, where they
  # run slower than plain transposes: the barrier keeps them plain.
  x, dy = lax.optimization_barrier((x, dy))
  k = lax.conv_general_dilated(x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), (1, 1),
                               ((1, 1), (1, 1)), rhs_dilation=(2, 2),
                               dimension_numbers=_NHWC)
  return k.transpose(1, 2, 0, 3)


# Each is bilinear and the others compute its derivatives, so derivatives of
# any order (the gradient penalty's) stay in the fast layouts.
strided_conv.defvjp(
    lambda x, k: (strided_conv(x, k), (x, k)),
    lambda res, dy: (transposed_conv(dy, _flip(res[1])), conv_kernel_grad(res[0], dy)))
transposed_conv.defvjp(
    lambda x, k: (transposed_conv(x, k), (x, k)),
    lambda res, dy: (strided_conv(dy, _flip(res[1])), _flip(conv_kernel_grad(dy, res[0]))))
conv_kernel_grad.defvjp(
    lambda x, dy: (conv_kernel_grad(x, dy), (x, dy)),
    lambda res, dk: (transposed_conv(res[1], _flip(dk)), strided_conv(res[0], dk)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def padded_conv(x, kernel, padding: int):
  """Stride-1 convolution with `padding` zeros on every side: (B, H, W, C) *
  (k, k, C, F) -> (B, H + 2p - k + 1, W + 2p - k + 1, F), as `strided_conv`
  with derivatives written by hand so that all of them stay NHWC/HWIO
  convolutions (the input's: a padded convolution with the `_flip`ped kernel;
  the kernel's: `padded_conv_kernel_grad`)."""
  return lax.conv_general_dilated(x, kernel, (1, 1), ((padding, padding),) * 2,
                                  dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def padded_conv_kernel_grad(x, dy, padding: int):
  """The gradient of sum(dy * padded_conv(x, k, padding)) with respect to k:
  a convolution of the channels-first input with dy as the kernel."""
  x, dy = lax.optimization_barrier((x, dy))  # as in conv_kernel_grad
  k = lax.conv_general_dilated(x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), (1, 1),
                               ((padding, padding),) * 2, dimension_numbers=_NHWC)
  return k.transpose(1, 2, 0, 3)


def _adjoint_padding(kernel, padding):
  return kernel.shape[0] - 1 - padding


padded_conv.defvjp(
    lambda x, k, p: (padded_conv(x, k, p), (x, k)),
    lambda p, res, dy: (padded_conv(dy, _flip(res[1]), _adjoint_padding(res[1], p)),
                        padded_conv_kernel_grad(res[0], dy, p)))
padded_conv_kernel_grad.defvjp(
    lambda x, dy, p: (padded_conv_kernel_grad(x, dy, p), (x, dy)),
    lambda p, res, dk: (padded_conv(res[1], _flip(dk), _adjoint_padding(dk, p)),
                        padded_conv(res[0], dk, p)))


def _subpixel_kernel(kernel):
  """(4, 4, C, F) -> the 2x2 kernel (2, 2, C, [a, b, F]) of the four phases:
  phase (a, b) uses taps k[a::2, b::2]."""
  c, f = kernel.shape[2:]
  phases = kernel.reshape(2, 2, 2, 2, c, f)  # (i, a, j, b, C, F)
  return phases.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, c, 4 * f)


def _interleave_phases(y, h, w):
  """(B, H + 1, W + 1, [a, b, F]) phases -> (B, 2H, 2W, F): output pixel
  (2r + a, 2q + b) is phase (a, b) of position (r + a, q + b)."""
  b, f = y.shape[0], y.shape[-1] // 4
  y = y.reshape(b, h + 1, w + 1, 2, 2, f)
  rows = [jnp.stack([y[:, a:a + h, c:c + w, a, c] for c in (0, 1)], axis=3)
          for a in (0, 1)]  # each (B, H, W, 2, F)
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, f)  # (B, H, 2, W, 2, F)


def _subpixel_transposed_conv(x, kernel):
  """`transposed_conv` as one stride-1 2x2 convolution and an interleave."""
  y = lax.conv_general_dilated(x, _subpixel_kernel(kernel), (1, 1), ((1, 1), (1, 1)),
                               dimension_numbers=_NHWC)
  return _interleave_phases(y, x.shape[1], x.shape[2])


def _conv(x, kernel, padding):
  """Stride-1 convolution (B, H, W, C) * (kh, kw, C, F) as one matrix multiply.

  The patches are gathered by slicing (im2col), so the forward pass and both
  gradients are plain matrix multiplies plus shifted adds: XLA:CPU computes the
  weight gradient of a convolution with a slow generic loop, but a matmul fast.
  """
  x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  kh, kw, c, f = kernel.shape
  h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  patches = jnp.concatenate([x[:, i:i + h, j:j + w] for i in range(kh)
                             for j in range(kw)], axis=-1)
  return patches @ kernel.reshape(kh * kw * c, f)


def conv2d(x: jax.Array, w: jax.Array, stride: int = 1,
           padding: int | tuple[int, int] = 0, groups: int = 1) -> jax.Array:
  """Correlation of NHWC x with w (k, k, in / groups, out), zero padding
  (`padding` on every side, or (before, after) on both spatial axes), stride
  1 or 2, `groups` feature groups (as `feature_group_count`).

  On CPU, stride 1 with equal padding on both sides is `padded_conv`: XLA
  convolutions whose derivatives of every order are NHWC/HWIO convolutions
  too, which XLA:CPU runs on Eigen inside the training loop, where it runs
  XLA's own derivatives of a conv in a generic, many times slower emitter (the
  module docstring says more). Other strides, paddings and feature groups are
  matrix multiplies over patches gathered by slicing (im2col), whose
  derivatives are matmuls and slices; feature groups become one batched
  matmul. (im2col at stride 1 kept a patch tensor of k*k times the input per
  layer: SNGAN's step planned 3.5 GB of temporaries, 1.0 GB with
  `padded_conv`, and took 1.4x the time.) Elsewhere an XLA convolution."""
  lo, hi = (padding, padding) if isinstance(padding, int) else padding
  if jax.default_backend() != "cpu":
    return lax.conv_general_dilated(x, w, (stride, stride), ((lo, hi),) * 2,
                                    dimension_numbers=_NHWC, feature_group_count=groups)
  k = w.shape[0]
  if stride == 1 and groups == 1 and k > 1 and lo == hi:
    return padded_conv(x, w, lo)
  if lo or hi:
    x = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
  h = (x.shape[1] - k) // stride + 1
  wd = (x.shape[2] - k) // stride + 1
  if k == 1 and stride == 1 and groups == 1:
    return x @ w[0, 0]
  patches = jnp.stack(
      [x[:, i:i + stride * (h - 1) + 1:stride, j:j + stride * (wd - 1) + 1:stride]
       for i in range(k) for j in range(k)], axis=-2)  # (B, h, w, k * k, in)
  if groups == 1:
    return patches.reshape(*patches.shape[:3], -1) @ w.reshape(-1, w.shape[3])
  cg, fg = w.shape[2], w.shape[3] // groups
  patches = patches.reshape(*patches.shape[:3], k * k, groups, cg)
  out = jnp.einsum("bhwtgc,tcgd->bhwgd", patches, w.reshape(k * k, cg, groups, fg))
  return out.reshape(*out.shape[:3], groups * fg)


class Conv(nn.Module):
  """`nn.Conv(features, kernel_size, padding='SAME')` (stride 1, odd square
  kernel) with its parameters ('kernel' (k, k, in, features), 'bias'), so
  checkpoints are interchangeable, computed by `conv2d`: on CPU
  `padded_conv`, whose derivatives of every order stay fast inside the
  training loop (gradient penalties, spectral norm's wrapped layers)."""
  features: int
  kernel_size: tuple[int, int] = (3, 3)
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size[0]
    if self.kernel_size != (k, k) or k % 2 == 0:
      raise ValueError(f"layers.Conv takes an odd square kernel, got {self.kernel_size}.")
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), padding=k // 2)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
    return y


def fir1d(x: jax.Array, taps, axis: int, *, stride: int = 1, dilation: int = 1,
          padding: tuple[int, int] = (0, 0)) -> jax.Array:
  """`lax.conv_general_dilated` of one axis of `x` with the flipped `taps`
  (a convolution, as upfirdn2d's): zeros inserted (lhs dilation), zero
  padding, the taps, then the stride; as shifted, weighted sums of slices,
  which XLA's CPU backend runs 10-100x faster than a depthwise convolution
  and its gradient (benchmarks/NOTES.md). The FIR filters of R3GAN's and
  StyleGAN2's resampling, one axis at a time."""
  if dilation > 1:  # x0, 0, x1, 0, ..., x_{n-1} (no zero after the last)
    zeros = jnp.zeros_like(x)
    x = jnp.stack([x] + [zeros] * (dilation - 1), axis=axis + 1)
    shape = list(x.shape)
    x = x.reshape(shape[:axis] + [shape[axis] * dilation] + shape[axis + 2:])
    x = lax.slice_in_dim(x, 0, x.shape[axis] - (dilation - 1), axis=axis)
  pad = [(0, 0)] * x.ndim
  pad[axis] = padding
  x = jnp.pad(x, pad)
  n = len(taps)
  out_len = (x.shape[axis] - n) // stride + 1
  flipped = taps[::-1]
  out = None
  for t in range(n):  # output[i] = sum_t flipped[t] * x[i * stride + t]
    part = lax.slice_in_dim(x, t, t + (out_len - 1) * stride + 1, stride, axis=axis)
    part = part * jnp.asarray(flipped[t], x.dtype)
    out = part if out is None else out + part
  return out


def global_normal(key: jax.Array, local_shape: tuple, axis_name: str | None,
                  dtype=jnp.float32) -> jax.Array:
  """N(0, 1) of `local_shape` (n, ...): this device's n rows of a draw for the
  whole batch over `axis_name` (all devices draw it with the same key), so
  that a pass does not depend on how the batch is split."""
  if axis_name is None:
    return jax.random.normal(key, local_shape, dtype)
  n = local_shape[0]
  full = jax.random.normal(key, (n * lax.axis_size(axis_name), *local_shape[1:]), dtype)
  return lax.dynamic_slice_in_dim(full, lax.axis_index(axis_name) * n, n)


class UpConv(nn.Module):
  """Same function as nn.ConvTranspose(features, (4, 4), strides=(2, 2),
  padding=((2, 2), (2, 2))): (B, H, W, C) -> (B, 2H, 2W, features).

  `impl`: 'conv', 'matmul' or 'auto' (see the module docstring).
  """
  features: int
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32
  impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    in_features = x.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (4, 4, in_features, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if resolve_impl(self.impl) == "conv":
      y = transposed_conv(x, kernel)
    else:
      y = _conv(x, _subpixel_kernel(kernel), ((1, 1), (1, 1)))  # (B, H + 1, W + 1, 4F)
      y = _interleave_phases(y, x.shape[1], x.shape[2])
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
    return y


class DownConv(nn.Module):
  """Same function as nn.Conv(features, (4, 4), strides=(2, 2),
  padding=((1, 1), (1, 1))): (B, H, W, C) -> (B, H/2, W/2, features), H, W even.

  `impl`: 'conv', 'matmul' or 'auto' (see the module docstring).
  """
  features: int
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32
  impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    if h % 2 or w % 2:
      raise ValueError(f"DownConv needs even height and width, got {x.shape}.")
    kernel = self.param("kernel", self.kernel_init, (4, 4, c, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if resolve_impl(self.impl) == "conv":
      y = strided_conv(x, kernel)
    else:
      x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
      # Space-to-depth: (B, H/2 + 1, W/2 + 1, [a, b, C]) holding x[2m + a, 2n + b].
      x = x.reshape(b, h // 2 + 1, 2, w // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
      x = x.reshape(b, h // 2 + 1, w // 2 + 1, 4 * c)
      # Tap (2i + a, 2j + b) of the 4x4 kernel is tap (i, j) on channel (a, b, c).
      kernel = kernel.reshape(2, 2, 2, 2, c, self.features).transpose(0, 2, 1, 3, 4, 5)
      y = _conv(x, kernel.reshape(2, 2, 4 * c, self.features), ((0, 0), (0, 0)))
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
    return y


class DenseConv(nn.Module):
  """Same function as nn.Conv(features, (k, k), padding='VALID') on a k x k
  input (a 1x1 output): one matrix multiply."""
  features: int
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    kernel = self.param("kernel", self.kernel_init, (h, w, c, self.features))
    bias = self.param("bias", self.bias_init, (self.features,))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    y = x.reshape(b, h * w * c) @ kernel.reshape(h * w * c, self.features)
    return (y + bias.astype(self.dtype)).reshape(b, 1, 1, self.features)


class GaussianNoise(nn.Module):
  """x + N(0, std^2) noise while training (`train=True`), from the 'dropout'
  rng; the identity otherwise. The regulariser of improved-gan's
  discriminators (nn.GaussianNoiseLayer, Salimans et al. 2016)."""
  std: float

  @nn.compact
  def __call__(self, x, train: bool):
    if not train or self.std == 0:
      return x
    return x + self.std * jax.random.normal(self.make_rng("dropout"), x.shape, x.dtype)


class WeightNormDense(nn.Module):
  """A dense layer with weight normalisation (Salimans & Kingma 2016):
  y = g * (x V / ||V||_col) + b, V initialised N(0, 0.1^2), g = 1, b = 0, as
  improved-gan's `nn.DenseLayer` (mnist_svhn_cifar10/nn.py).

  Data-dependent initialisation: applied with the 'params' collection
  mutable (outside `init`: `jaxgan.models.data_init`), the layer sets g and
  b so that its pre-activations on the batch it sees have mean 0 and
  standard deviation 1 per unit (g <- g / std, b <- -mean / std, the
  official `init_updates`), and returns those normalised pre-activations, so
  that the layers above initialise on them in the same pass.

  Attributes:
    features: output units.
    train_scale: whether g is trained; improved-gan's MNIST discriminator
      keeps its hidden layers' g at the data-dependent value
      (`train_scale=False`) and trains the output layer's.
    kernel_init: V's initialiser (improved-gan's generator output layer:
      Lasagne's Glorot-uniform).
    dtype: computation dtype (parameters stay float32).
  """
  features: int
  train_scale: bool = True
  kernel_init: Any = nn.initializers.normal(0.1)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    v = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    g = self.param("scale", nn.initializers.ones, (self.features,))
    b = self.param("bias", nn.initializers.zeros, (self.features,))
    direction = v / jnp.sqrt(jnp.sum(jnp.square(v), axis=0))
    t = jnp.dot(x.astype(self.dtype), direction.astype(self.dtype))
    if self.is_mutable_collection("params") and not self.is_initializing():
      a = t.astype(jnp.float32) * g  # the pre-activation without bias
      mean = jnp.mean(a, axis=0)
      std = jnp.sqrt(jnp.mean(jnp.square(a - mean), axis=0))
      g, b = g / std, -mean / std
      self.put_variable("params", "scale", g)
      self.put_variable("params", "bias", b)
    if not self.train_scale:
      g = lax.stop_gradient(g)
    return t * g.astype(self.dtype) + b.astype(self.dtype)


def batch_norm(train: bool, dtype: Any, axis_name: str | None, name: str, *,
               momentum: float, epsilon: float) -> nn.BatchNorm:
  """nn.BatchNorm with a source's decay (`momentum`, Flax's convention) and
  epsilon: batch statistics over the pmap axis `axis_name` while training,
  the running averages otherwise."""
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                      dtype=dtype, axis_name=axis_name if train else None, name=name)


def check_pack(batch: int, pack: int) -> None:
  """Raises a ValueError when a batch cannot be split into PacGAN packs."""
  if batch % pack:
    raise ValueError(f"The discriminator packs {pack} samples per input "
                     f"(config.model.pack) but got a batch of {batch}; use a "
                     f"per-device batch size divisible by {pack}.")


def pack_channels(x: jax.Array, pack: int) -> jax.Array:
  """PacGAN's packing for a convolutional discriminator (Lin et al. 2018):
  images (B, H, W, C) -> (B / pack, H, W, pack * C), each pack the
  consecutive samples x[pack*i : pack*(i+1)] concatenated along channels in
  order (channel j*C + k is channel k of the pack's j-th sample), as the
  official code stacks them (stacked_MNIST_experiments: `tf.concat(G_sep, 3)`
  and `X_stacked[..., j * 3 + k]`)."""
  if pack == 1:
    return x
  check_pack(x.shape[0], pack)
  b, h, w, c = x.shape
  x = x.reshape(b // pack, pack, h, w, c).transpose(0, 2, 3, 1, 4)
  return x.reshape(b // pack, h, w, pack * c)


class MinibatchDiscrimination(nn.Module):
  """Minibatch discrimination (Salimans et al. 2016, arXiv:1606.03498, Sec. 3.2).

  Features f(x_i) in R^A are projected by a tensor T in R^{A x B x C} to
  M_i in R^{B x C}; kernel b compares examples by
  c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1), and
  o(x_i)_b = sum_j c_b(x_i, x_j) (j over the batch, i itself included) is
  concatenated to the features: (N, A) -> (N, A + B).

  Under pmap the batch is the device's batch, not the global one.

  Attributes:
    num_kernels: B, the number of kernels (features added).
    kernel_dims: C, the dimension each kernel compares in.
  """
  num_kernels: int
  kernel_dims: int = 5
  kernel_init: Any = nn.initializers.normal(0.05)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    m = nn.Dense(self.num_kernels * self.kernel_dims, use_bias=False,
                 kernel_init=self.kernel_init, dtype=self.dtype, name="T")(x)
    m = m.reshape(x.shape[0], self.num_kernels, self.kernel_dims)
    l1 = jnp.abs(m[:, None] - m[None, :]).sum(-1)  # (N, N, B)
    return jnp.concatenate([x, jnp.exp(-l1).sum(1).astype(x.dtype)], axis=-1)


class MinibatchStdDev(nn.Module):
  """Minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196, Sec. 3).

  The batch is split into groups of `group_size` examples (example i is in
  group i mod (N / group_size)); in each group the standard deviation of each
  feature over the group is averaged over all features, and that one number
  is appended to each of the group's examples as an extra channel:
  (N, ..., C) -> (N, ..., C + 1). The batch must divide into groups.

  Under pmap the batch is the device's batch, not the global one.

  Attributes:
    group_size: examples per group; the whole batch when it is smaller.
  """
  group_size: int = 4
  epsilon: float = 1e-8

  @nn.compact
  def __call__(self, x):
    n = x.shape[0]
    group = min(self.group_size, n)
    if n % group:
      raise ValueError(f"MinibatchStdDev: the (per-device) batch of {n} does not "
                       f"divide into groups of {group} "
                       "(config.model.minibatch_stddev).")
    y = x.astype(jnp.float32).reshape(group, n // group, *x.shape[1:])
    std = jnp.sqrt(jnp.var(y, axis=0) + self.epsilon)  # (N / group, ...)
    std = std.reshape(n // group, -1).mean(-1)  # (N / group,)
    std = jnp.tile(std, group).astype(x.dtype)  # example i gets std[i mod N/group]
    extra = jnp.broadcast_to(std.reshape(n, *([1] * (x.ndim - 1))), (*x.shape[:-1], 1))
    return jnp.concatenate([x, extra], axis=-1)


def minibatch_layers(x, *, discrimination: int, stddev: int, dtype=jnp.float32):
  """The 'Improved Techniques' layers a discriminator's config turns on, on
  its last features x (N, ...): the minibatch standard deviation (a group size,
  0: off) appended as a channel, then the features flattened and minibatch
  discrimination (a number of kernels, 0: off) appended. Returns (N, F)."""
  if stddev:
    x = MinibatchStdDev(stddev, name="minibatch_stddev")(x)
  x = x.reshape(x.shape[0], -1)
  if discrimination:
    x = MinibatchDiscrimination(discrimination, dtype=dtype,
                                name="minibatch_discrimination")(x)
  return x
