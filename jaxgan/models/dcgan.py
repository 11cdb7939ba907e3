"""DCGAN generator and discriminator (Radford et al. 2016, arXiv:1511.06434).

The architecture follows the canonical PyTorch DCGAN example: the generator maps
z through a dense projection to a `base x base` feature map and doubles the
resolution with 4x4 stride-2 transposed convolutions (BatchNorm, ReLU), ending in
tanh; the discriminator halves the resolution with 4x4 stride-2 convolutions
(LeakyReLU 0.2, BatchNorm after the first) and ends in one logit per image.

Feature widths double at each lower resolution: at 32x32 with `width=64` the
generator runs 4x4x256 -> 8x8x128 -> 16x16x64 -> 32x32xC, and the
discriminator mirrors it. 28x28 images (MNIST) start from a 7x7 map.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models import layers

SUPPORTED_IMAGE_SIZES = (28, 32, 64, 128)
CONV_IMPLS = (*layers.IMPLS, "xla")

# Radford et al.: all weights from N(0, 0.02); BatchNorm scales from N(1, 0.02).
_init = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + _init(key, shape, dtype)


def batch_norm(train: bool, dtype: Any, axis_name: str | None) -> functools.partial:
  """nn.BatchNorm as in the PyTorch DCGAN and pix2pix code: momentum 0.1
  (0.9 in Flax's convention), eps 1e-5, scales from N(1, 0.02); while
  training, statistics of the batch over the pmap axis `axis_name`."""
  return functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                           epsilon=1e-5, dtype=dtype,
                           axis_name=axis_name if train else None,
                           scale_init=_bn_scale_init)


class VirtualBatchNorm(nn.Module):
  """Virtual batch normalisation (Salimans et al. 2016, 'Improved Techniques
  for Training GANs', section 3.4; openai/improved-gan, imagenet/ops.py
  `VBN`): the first `reference_size` rows of x are a fixed reference batch,
  normalised with their own statistics; every other row i with the mean and
  mean square of the reference batch combined with its own,
  mu_i = (E_hw[x_i] + N mu_ref) / (N + 1) (the same for x^2), var = E[x^2]
  - mu^2, so an example's output does not depend on its batch mates. Scale
  and offset per channel as `batch_norm`'s (same names and init); no
  running statistics: training and evaluation compute the same function."""
  reference_size: int
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    n, axes = self.reference_size, tuple(range(1, x.ndim - 1))
    x32 = x.astype(jnp.float32)
    own_mean = jnp.mean(x32, axes, keepdims=True)
    own_square = jnp.mean(x32 ** 2, axes, keepdims=True)
    ref_mean = jnp.mean(own_mean[:n], 0, keepdims=True)
    ref_square = jnp.mean(own_square[:n], 0, keepdims=True)
    live = (jnp.arange(x.shape[0]) >= n).reshape((-1,) + (1,) * (x.ndim - 1))
    mean = jnp.where(live, (own_mean + n * ref_mean) / (n + 1), ref_mean)
    square = jnp.where(live, (own_square + n * ref_square) / (n + 1), ref_square)
    y = (x32 - mean) * lax.rsqrt(jnp.maximum(square - mean ** 2, 0.0) + self.epsilon)
    scale = self.param("scale", _bn_scale_init, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return (y * scale + bias).astype(self.dtype)


def layout(image_size: int) -> tuple[int, int]:
  """Returns (base resolution, number of 2x up/down-samplings) for a size."""
  if image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(
        f"DCGAN supports image sizes {SUPPORTED_IMAGE_SIZES}, got {image_size}. "
        "Set config.model.image_size (and data resizing follows it).")
  if image_size == 28:
    return 7, 2
  return 4, {32: 3, 64: 4, 128: 5}[image_size]


def _up_conv(impl: str, features: int, **kwargs) -> nn.Module:
  """4x4 stride-2 transposed convolution, PyTorch's ConvTranspose2d(4, 2, 1):
  padding (2, 2) on the stride-dilated input makes the output exactly 2x."""
  if impl == "xla":
    return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)),
                            kernel_init=_init, **kwargs)
  return layers.UpConv(features, kernel_init=_init, impl=impl, **kwargs)


def _down_conv(impl: str, features: int, **kwargs) -> nn.Module:
  """4x4 stride-2 convolution with padding 1, PyTorch's Conv2d(4, 2, 1)."""
  if impl == "xla":
    return nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                   kernel_init=_init, **kwargs)
  return layers.DownConv(features, kernel_init=_init, impl=impl, **kwargs)


class Generator(nn.Module):
  """DCGAN generator: z of shape (B, latent_dim) -> images (B, S, S, C) in [-1, 1].

  Attributes:
    image_size: output resolution, one of SUPPORTED_IMAGE_SIZES.
    channels: output channels (1 for grey, 3 for RGB).
    width: channels of the last hidden feature map; each lower resolution doubles it.
    dtype: computation dtype (parameters stay float32).
    axis_name: the pmap axis over which BatchNorm statistics are averaged, so a
      data-parallel step normalises with the statistics of the global batch.
    conv_impl: how the stride-2 layers are computed: 'conv' or 'matmul'
      (`layers.UpConv`), 'auto' (the faster of the two on the backend), or
      'xla' (`nn.ConvTranspose` and XLA's derivatives). Same parameters, same
      function (see `layers`).
    norm: 'batch' (BatchNorm) or 'virtual_batch' (`VirtualBatchNorm`: a
      fixed reference batch of `reference_size` latents, drawn from N(0, I)
      with a fixed key, runs through G beside every batch, which doubles
      G's cost at the reference size of the batch, as in Salimans et al.).
    reference_size: latents in the reference batch ('virtual_batch').
  """
  image_size: int = 32
  channels: int = 3
  width: int = 64
  dtype: Any = jnp.float32
  axis_name: str | None = None
  conv_impl: str = "auto"
  norm: str = "batch"
  reference_size: int = 64

  @nn.compact
  def __call__(self, z, train: bool = True):
    base, num_up = layout(self.image_size)
    if self.norm not in G_NORMS:
      raise ValueError(f"Unknown generator norm {self.norm!r} (config.model.g_norm); "
                       f"valid: {', '.join(G_NORMS)}.")
    norm = batch_norm(train, self.dtype, self.axis_name)
    if self.norm == "virtual_batch":
      reference = jax.random.normal(jax.random.PRNGKey(0),
                                    (self.reference_size, z.shape[-1]), z.dtype)
      z = jnp.concatenate([reference, z])
      norm = functools.partial(VirtualBatchNorm, self.reference_size, dtype=self.dtype)
    features = self.width * 2 ** (num_up - 1)
    x = nn.Dense(base * base * features, use_bias=False, kernel_init=_init,
                 dtype=self.dtype, name="project")(z)
    x = x.reshape(z.shape[0], base, base, features)
    x = nn.relu(norm()(x))
    for i in range(num_up):
      last = i == num_up - 1
      features = self.channels if last else features // 2
      # Padding (2, 2) on the stride-dilated input is PyTorch's
      # ConvTranspose2d(k=4, s=2, p=1): the output is exactly twice the input.
      x = _up_conv(self.conv_impl, features, use_bias=last, dtype=self.dtype,
                   name=f"up{i}")(x)
      x = jnp.tanh(x) if last else nn.relu(norm()(x))
    if self.norm == "virtual_batch":
      x = x[self.reference_size:]
    return x.astype(jnp.float32)


G_NORMS = ("batch", "virtual_batch")
NORMS = ("batch", "layer", "none")


class Discriminator(nn.Module):
  """DCGAN discriminator: images (B, S, S, C) -> logits (B,).

  Attributes:
    image_size: input resolution, one of SUPPORTED_IMAGE_SIZES.
    width: channels of the first feature map; each lower resolution doubles it.
    norm: the normalisation after every convolution but the first: 'batch'
      (DCGAN), 'layer' (over each example's whole feature map, as the WGAN-GP
      critic, whose gradient penalty is per example) or 'none'.
    use_batch_norm: False turns norm='batch' into 'none'.
    spectral_norm: spectral normalisation of every layer's weights (Miyato et
      al. 2018); one power iteration per training call, its vector kept in
      'batch_stats'.
    minibatch_discrimination: kernels of a minibatch discrimination layer
      before the logit (Salimans et al. 2016); 0: off.
    minibatch_stddev: group size of a minibatch standard deviation channel
      before the logit (Karras et al. 2018); 0: off.
    pack: samples per logit (PacGAN, `layers.pack_channels`): a batch of B
      images gives B / pack logits, each of `pack` consecutive samples
      concatenated along channels. B must be a multiple of it.
    dtype: computation dtype (parameters stay float32).
    axis_name: pmap axis over which BatchNorm statistics are averaged.
    conv_impl: 'conv', 'matmul' or 'auto' (`layers.DownConv`,
      `layers.DenseConv`), or 'xla' (`nn.Conv`); same parameters, same
      function.
  """
  image_size: int = 32
  width: int = 64
  norm: str = "batch"
  use_batch_norm: bool = True
  spectral_norm: bool = False
  minibatch_discrimination: int = 0
  minibatch_stddev: int = 0
  pack: int = 1
  dtype: Any = jnp.float32
  axis_name: str | None = None
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool = True, features_only: bool = False):
    """features_only: return the last feature map, flattened (B / pack, ...),
    instead of logits, for discriminators that put their own heads on it."""
    base, num_down = layout(self.image_size)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"Discriminator built for {self.image_size}x"
                       f"{self.image_size} images got shape {x.shape}.")
    if self.norm not in NORMS:
      raise ValueError(f"Unknown discriminator norm {self.norm!r} "
                       f"(config.model.d_norm); valid: {', '.join(NORMS)}.")
    norm = "none" if self.norm == "batch" and not self.use_batch_norm else self.norm

    def layer(module):  # spectral normalisation wraps the layer
      if not self.spectral_norm:
        return module
      return functools.partial(nn.SpectralNorm(module), update_stats=train)

    x = layers.pack_channels(x, self.pack).astype(self.dtype)
    features = self.width
    for i in range(num_down):
      x = layer(_down_conv(self.conv_impl, features,
                           use_bias=i == 0 or norm != "batch", dtype=self.dtype,
                           name=f"down{i}"))(x)
      if i > 0 and norm == "batch":
        x = batch_norm(train, self.dtype, self.axis_name)()(x)
      elif i > 0 and norm == "layer":
        x = nn.LayerNorm(epsilon=1e-5, reduction_axes=(1, 2, 3), dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
      # Each layer's activations (evaluate.discriminator_linear_probe).
      self.sow("intermediates", "layers", x)
      features *= 2
    if features_only:
      return x.reshape(x.shape[0], -1)
    self.sow("intermediates", "features", x.reshape(x.shape[0], -1))  # feature matching
    if self.minibatch_discrimination or self.minibatch_stddev:
      x = layers.minibatch_layers(x, discrimination=self.minibatch_discrimination,
                                  stddev=self.minibatch_stddev, dtype=self.dtype)
      x = layer(nn.Dense(1, kernel_init=_init, dtype=self.dtype, name="logit"))(x)
    elif self.conv_impl == "xla":
      x = layer(nn.Conv(1, (base, base), padding="VALID", kernel_init=_init,
                        dtype=self.dtype, name="logit"))(x)
    else:
      x = layer(layers.DenseConv(1, kernel_init=_init, dtype=self.dtype,
                                 name="logit"))(x)
    return x.reshape(x.shape[0]).astype(jnp.float32)
