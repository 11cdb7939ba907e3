"""The MNIST networks of WGAN-GP's official code (Gulrajani et al. 2017).

igul222/improved_wgan_training, gan_mnist.py with MODE = 'wgan-gp', DIM = 64
(`g_width`, `d_width`):

- G: z (128) -> linear to 4*4*4*DIM, ReLU, reshaped NCHW to (4*DIM, 4, 4)
  -> 5x5 transposed conv to 2*DIM (8x8), ReLU, cropped to 7x7
  (`output[:,:,:7,:7]`) -> 5x5 transposed conv to DIM (14x14), ReLU -> 5x5
  transposed conv to 1 channel (28x28), sigmoid. No BatchNorm (the script
  adds it only for MODE == 'wgan').
- D: 5x5 stride-2 convs to DIM (14x14), 2*DIM (7x7) and 4*DIM (4x4), each
  followed by LeakyReLU(0.2) (`tf.maximum(0.2 x, x)`) -> flattened NCHW ->
  linear to 1. No normalisation.
- Initialisation (tflib/ops): every weight uniform on [-s sqrt(3), s sqrt(3)]
  and every bias 0, with s = sqrt(2 / (fan_in + fan_out)) for a linear layer
  (linear.py's default, 'glorot'), and s = sqrt(4 / (fan_in + fan_out)) for
  a convolution (conv2d.py, he_init: fan_in = in k^2, fan_out = out k^2 /
  stride^2) and a transposed one (deconv2d.py: fan_in = in k^2 / stride^2,
  fan_out = out k^2).
- TF's 'SAME' padding; a transposed convolution is tf.nn.conv2d_transpose,
  the gradient of a 'SAME' stride-2 convolution (written so here).

The official pixels are in [0, 1]; jaxgan's are in [-1, 1] (y = 2 x - 1). So
G returns 2 sigmoid - 1 and D first maps y back to (y + 1) / 2: D(G(z)) and
D on real data are then exactly the official networks'. Only the gradient
penalty sees the change of units (its gradient is in y: half the one in x),
which `configs/wgan_gp.py` undoes with `loss.gp_target=0.5` and
`loss.gp_weight=40`: 40 (|grad_y D| - 1/2)^2 = 10 (|grad_x D| - 1)^2.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

IMAGE_SIZE = 28
_KERNEL = 5
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _uniform(stdev: float):
  """tflib's `uniform(stdev, size)`: U[-stdev sqrt(3), stdev sqrt(3)]."""
  bound = stdev * math.sqrt(3.0)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


def _linear(features: int, fan_in: int, name: str) -> nn.Dense:
  """tflib's Linear with its default ('glorot') initialisation."""
  return nn.Dense(features, kernel_init=_uniform(math.sqrt(2.0 / (fan_in + features))),
                  name=name)


def _conv(features: int, fan_in_channels: int, name: str) -> nn.Conv:
  """tflib's Conv2D, 5x5 stride 2, 'SAME', he_init."""
  fan_in = fan_in_channels * _KERNEL ** 2
  fan_out = features * _KERNEL ** 2 / 4
  return nn.Conv(features, (_KERNEL, _KERNEL), strides=2, padding="SAME",
                 kernel_init=_uniform(math.sqrt(4.0 / (fan_in + fan_out))), name=name)


class Deconv(nn.Module):
  """tflib's Deconv2D: tf.nn.conv2d_transpose to twice the size, 5x5, 'SAME',
  he_init; the kernel is (5, 5, out, in), as TF's."""
  features: int

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    fan_in, fan_out = channels * _KERNEL ** 2 / 4, self.features * _KERNEL ** 2
    kernel = self.param("kernel", _uniform(math.sqrt(4.0 / (fan_in + fan_out))),
                        (_KERNEL, _KERNEL, self.features, channels))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    batch, height, width, _ = x.shape

    def conv(y):  # the convolution whose gradient this is
      return lax.conv_general_dilated(y, kernel, (2, 2), "SAME",
                                      dimension_numbers=_DIMENSIONS)

    shape = (batch, 2 * height, 2 * width, self.features)
    _, transpose = jax.vjp(conv, jnp.zeros(shape, x.dtype))
    return transpose(x)[0] + bias


class Generator(nn.Module):
  """z (B, latent_dim) -> images (B, 28, 28, channels) in [-1, 1]."""
  width: int = 64
  channels: int = 1
  axis_name: str | None = None  # unused: no BatchNorm

  @nn.compact
  def __call__(self, z, train: bool = True):
    del train
    dim = self.width
    x = nn.relu(_linear(4 * 4 * 4 * dim, z.shape[-1], "input")(z.astype(jnp.float32)))
    x = x.reshape(z.shape[0], 4 * dim, 4, 4).transpose(0, 2, 3, 1)  # NCHW -> NHWC
    x = nn.relu(Deconv(2 * dim, name="deconv2")(x))[:, :7, :7]
    x = nn.relu(Deconv(dim, name="deconv3")(x))
    x = Deconv(self.channels, name="deconv5")(x)
    return 2.0 * nn.sigmoid(x) - 1.0


class Discriminator(nn.Module):
  """Images (B, 28, 28, channels) in [-1, 1] -> logits (B,)."""
  width: int = 64
  axis_name: str | None = None  # unused: no normalisation

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train
    dim = self.width
    x = (x.astype(jnp.float32) + 1.0) / 2.0  # the official [0, 1] pixels
    for i, (features, inputs) in enumerate(
        [(dim, x.shape[-1]), (2 * dim, dim), (4 * dim, 2 * dim)], start=1):
      x = _conv(features, inputs, f"conv{i}")(x)
      x = jnp.maximum(0.2 * x, x)
    x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # NHWC -> NCHW order
    self.sow("intermediates", "features", x)
    return _linear(1, x.shape[-1], "output")(x)[:, 0]

