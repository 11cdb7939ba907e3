"""Layers the architectures share: the DCGAN convolutions as matrix
multiplies, and the minibatch layers of 'Improved Techniques'.

XLA:CPU computes the backward passes of convolutions slowly: a 4x4 stride-2
transposed convolution (PyTorch's ConvTranspose2d(k=4, s=2, p=1), lowered to a
convolution over a zero-dilated input) took ~20x longer backward than forward
and dominated the DCGAN step; and inside a loop (`lax.fori_loop`/`scan`, as
`train.steps_per_call` uses) the backward pass of a plain strided convolution
took 30-40x longer than outside one (1234 ms vs 29 ms for 16x16x64 -> 128 at
batch 64). Matrix multiplies have neither problem. So:

- `UpConv`: each of the four output phases (row parity a, column parity b)
  of the transposed convolution is a 2x2 convolution of the input with the
  taps k[a::2, b::2]; one 2x2 convolution with 4x the output channels computes
  all four, and the phases are interleaved (depth-to-space): the sub-pixel
  convolution of Shi et al. 2016, with the transposed convolution's weights.
- `DownConv`: space-to-depth of the padded input turns the stride-2 4x4
  convolution into a stride-1 2x2 convolution with 4x the input channels.
- `DenseConv`: a VALID convolution whose kernel covers the input is a dense
  layer.

The 2x2 convolutions are one matrix multiply over gathered patches (`_conv`),
so forward and backward passes are all matrix multiplies. Each layer has the
parameters of the Flax layer it replaces (same names, shapes and meaning) and
computes the same function (tested), so checkpoints are interchangeable.

`MinibatchDiscrimination` (Salimans et al. 2016) and `MinibatchStdDev`
(Karras et al. 2018) let a discriminator compare the examples of a batch, so
that a generator collapsing to few modes is easy to spot. Under `jax.pmap`
they see the batch on their device only (the global batch / device count):
the statistics are per-device ones, not synchronised.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


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


class UpConv(nn.Module):
  """Same function as nn.ConvTranspose(features, (4, 4), strides=(2, 2),
  padding=((2, 2), (2, 2))): (B, H, W, C) -> (B, 2H, 2W, features)."""
  features: int
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    in_features = x.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (4, 4, in_features, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    # Phase (a, b) uses taps k[a::2, b::2]: (2, 2, C, [a, b, F]).
    phases = kernel.reshape(2, 2, 2, 2, in_features, self.features)  # (i, a, j, b, C, F)
    phases = phases.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, in_features, 4 * self.features)
    y = _conv(x, phases, ((1, 1), (1, 1)))  # (B, H + 1, W + 1, 4F)
    b, h, w = x.shape[0], x.shape[1], x.shape[2]
    y = y.reshape(b, h + 1, w + 1, 2, 2, self.features)
    # Output pixel (2r + a, 2q + b) is phase (a, b) of position (r + a, q + b).
    rows = [jnp.stack([y[:, a:a + h, c:c + w, a, c] for c in (0, 1)], axis=3)
            for a in (0, 1)]  # each (B, H, W, 2, F)
    y = jnp.stack(rows, axis=2)  # (B, H, 2, W, 2, F)
    y = y.reshape(b, 2 * h, 2 * w, self.features)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,)).astype(self.dtype)
    return y


class DownConv(nn.Module):
  """Same function as nn.Conv(features, (4, 4), strides=(2, 2),
  padding=((1, 1), (1, 1))): (B, H, W, C) -> (B, H/2, W/2, features), H, W even.

  Space-to-depth of the padded input turns the stride-2 4x4 convolution into a
  stride-1 2x2 convolution with 4x the input channels, computed as one matrix
  multiply (see `_conv`).
  """
  features: int
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    if h % 2 or w % 2:
      raise ValueError(f"DownConv needs even height and width, got {x.shape}.")
    kernel = self.param("kernel", self.kernel_init, (4, 4, c, self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
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


def _check():  # pragma: no cover - a quick manual check
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 3))
  ref = nn.ConvTranspose(5, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  v = ref.init(jax.random.PRNGKey(1), x)
  print(jnp.abs(ref.apply(v, x) - UpConv(5).apply(v, x)).max())


if __name__ == "__main__":
  _check()
