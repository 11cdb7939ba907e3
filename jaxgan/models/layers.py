"""The DCGAN layers computed as matrix multiplies.

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


def _check():  # pragma: no cover - a quick manual check
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 3))
  ref = nn.ConvTranspose(5, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  v = ref.init(jax.random.PRNGKey(1), x)
  print(jnp.abs(ref.apply(v, x) - UpConv(5).apply(v, x)).max())


if __name__ == "__main__":
  _check()
