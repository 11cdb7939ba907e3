"""The DCGAN transposed convolution computed as a sub-pixel convolution.

A 4x4 stride-2 transposed convolution (PyTorch's ConvTranspose2d(k=4, s=2,
p=1)) is the DCGAN generator's layer. XLA lowers it to a convolution over an
input dilated with zeros (three quarters of its multiply-adds hit zeros), and
XLA:CPU computes the backward pass of that convolution several times slower
than its forward pass: it dominated the DCGAN step.

`UpConv` computes the same function without dilation. Each of the four output
phases (row parity a, column parity b) is a 2x2 convolution of the input with
the taps k[a::2, b::2]; one 2x2 convolution with 4x the output channels
computes all four, and the phases are interleaved (depth-to-space): the
sub-pixel convolution of Shi et al. 2016, with the weights of the transposed
convolution. The 2x2 convolution is one matrix multiply over gathered patches,
so the forward pass and both gradients are matrix multiplies.

`UpConv` has the parameters of `nn.ConvTranspose(features, (4, 4), strides=2,
padding=((2, 2), (2, 2)))` (same names, shapes and meaning) and computes the
same function (tested), so checkpoints are interchangeable.
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


def _check():  # pragma: no cover - a quick manual check
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 3))
  ref = nn.ConvTranspose(5, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  v = ref.init(jax.random.PRNGKey(1), x)
  print(jnp.abs(ref.apply(v, x) - UpConv(5).apply(v, x)).max())


if __name__ == "__main__":
  _check()
