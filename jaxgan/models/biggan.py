"""BigGAN (Brock et al. 2019, arXiv:1809.11096) for 32, 64 and 128 px images.

Ported from the authors' PyTorch code, github.com/ajbrock/BigGAN-PyTorch
(commit 9845943); file and function names below are that repository's.

Generator (BigGAN.py `Generator`): z -> SN linear -> 4x4 map -> residual up
blocks (layers.py `GBlock`: BN, ReLU, 2x nearest upsampling, SN conv3, BN,
ReLU, SN conv3; shortcut: upsampling, SN conv1x1) -> a SAGAN self-attention
block after the block whose output resolution is in `attention` -> BN, ReLU,
SN conv3, tanh. Each block's BatchNorms are class-conditional (layers.py
`ccbn`): batch statistics without an affine part, then
`x_hat * (1 + gain(c)) + bias(c)`. With `shared` (G_shared), c is the
example's row of one class embedding of `shared_dim` features, shared by
every block, and gain, bias are SN linear maps without bias; with
`hierarchical` (hier), z is split into one chunk per block plus one for the
first linear layer, and block i's c is concat(embedding, chunk i + 1). Without
`shared`, gain and bias are per-class embeddings (no SN).

Discriminator (BigGAN.py `Discriminator`, D_wide): residual down blocks
(layers.py `DBlock`: ReLU (not in the first block), SN conv3, ReLU, SN conv3,
2x2 mean pool; shortcut: SN conv1x1 and mean pool, pooling first in the first
block), self-attention after the block whose output resolution is in
`attention`, ReLU, global sum pooling, then SN linear + the projection
<SN embed(y), h> (Miyato & Koyama 2018).

Spectral normalisation (layers.py `SN`, `power_iteration`): every conv,
linear and D's embedding divide their weight W (out, in) by
sigma = v W^T u^T after one power iteration from the stored u (1, out):
v = normalise(u W), u = normalise(v W^T), with x / max(||x||, eps); u is
updated in training only, and no gradient flows through u and v. The u
vectors live in the 'batch_stats' collection (they are not parameters).
G's shared embedding and its non-shared ccbn embeddings have no SN, as in
the reference ("applying SN to G's embedding seems to randomly cripple G").

Self-attention (layers.py `Attention`): theta = conv1x1(x) to C/8, phi =
maxpool2(conv1x1(x)) to C/8, g = maxpool2(conv1x1(x)) to C/2, all SN without
bias; beta = softmax_j(theta_i . phi_j); o = SN conv1x1(sum_j beta_ij g_j)
to C; out = x + gamma * o with gamma a learned scalar initialised to 0.

Weights are initialised as BigGAN.py `init_weights`: 'ortho' (orthogonal,
torch's `init.orthogonal_` on W viewed as (out, -1)), 'N02' (normal, std
0.02) or 'glorot'; biases keep torch's default uniform(+-1/sqrt(fan_in)).
Layout is NHWC; a conv kernel (kh, kw, in, out) is torch's (out, in, kh, kw)
transposed.
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models import layers

SUPPORTED_IMAGE_SIZES = (32, 64, 128)
INITS = ("ortho", "N02", "glorot")


def g_arch(width: int, image_size: int) -> list[tuple[int, int, int]]:
  """G's blocks as (in channels, out channels, output resolution), from
  BigGAN.py `G_arch` (every block upsamples, from 4x4)."""
  mults = {32: ([4, 4, 4], [4, 4, 4]),
           64: ([16, 16, 8, 4], [16, 8, 4, 2]),
           128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1])}
  if image_size not in mults:
    raise ValueError(f"BigGAN supports image sizes {SUPPORTED_IMAGE_SIZES}, got "
                     f"{image_size} (config.model.image_size).")
  ins, outs = mults[image_size]
  return [(width * i, width * o, 8 * 2**k) for k, (i, o) in enumerate(zip(ins, outs))]


def d_arch(width: int, image_size: int) -> list[tuple[int, int, bool, int]]:
  """D's blocks as (in channels (0: the image's), out channels, downsample,
  output resolution), from BigGAN.py `D_arch` (D_wide). At 32 px the
  reference lists resolution 16 for all four blocks, the last two of which
  are at 8x8; its attention keys follow that list, and so do these."""
  archs = {32: ([4, 4, 4], [4, 4, 4, 4], [True, True, False, False], [16] * 4),
           64: ([1, 2, 4, 8], [1, 2, 4, 8, 16], [True] * 4 + [False], [32, 16, 8, 4, 4]),
           128: ([1, 2, 4, 8, 16], [1, 2, 4, 8, 16, 16], [True] * 5 + [False],
                 [64, 32, 16, 8, 4, 4])}
  if image_size not in archs:
    raise ValueError(f"BigGAN supports image sizes {SUPPORTED_IMAGE_SIZES}, got "
                     f"{image_size} (config.model.image_size).")
  ins, outs, down, res = archs[image_size]
  ins = [0] + [width * i for i in ins]
  return [(i, width * o, d, r) for i, o, d, r in zip(ins, outs, down, res)]


def attention_resolutions(spec: str) -> frozenset[int]:
  """BigGAN-PyTorch's attention argument: resolutions joined by '_' ('64',
  '32_64'); '0' or '' for none."""
  return frozenset(int(r) for r in str(spec).split("_") if r and int(r) > 0)


def num_latent_chunks(image_size: int, hierarchical: bool) -> int:
  """How many pieces G splits z into: one per block plus the first linear
  layer's with hierarchical latents, else 1."""
  return len(g_arch(1, image_size)) + 1 if hierarchical else 1


def kernel_init(init: str):
  """The weight initialiser of BigGAN.py `init_weights` for `init`."""
  if init == "ortho":
    return nn.initializers.orthogonal()
  if init == "N02":
    return nn.initializers.normal(0.02)
  if init == "glorot":
    return nn.initializers.xavier_uniform()
  raise ValueError(f"Unknown BigGAN init {init!r} (config.model.init); valid: "
                   f"{', '.join(INITS)}.")


def _torch_bias_init(fan_in: int):
  """torch's default bias of a Linear or Conv2d: uniform(+-1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


def _normalize(x, eps: float):
  """torch.nn.functional.normalize: x / max(||x||, eps)."""
  return x / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(x))), eps)


def spectral_sigma(module: nn.Module, w, eps: float, train: bool):
  """W's largest singular value, estimated by one power iteration from the
  `module`'s stored u (layers.py `power_iteration`, one vector): W is
  (out, in), u (1, out) in 'batch_stats' (drawn from N(0, 1) as the
  reference's buffer); u is updated in training, and sigma is differentiated
  through W only."""
  u_var = module.variable("batch_stats", "u", lambda: jax.random.normal(
      module.make_rng("params"), (1, w.shape[0]), jnp.float32))
  w32 = w.astype(jnp.float32)
  u = lax.stop_gradient(u_var.value)
  v = lax.stop_gradient(_normalize(u @ w32, eps))
  u = lax.stop_gradient(_normalize(v @ w32.T, eps))
  if train and not module.is_initializing():
    u_var.value = u
  return jnp.squeeze(v @ w32.T @ u.T)


class SNConv(nn.Module):
  """layers.py `SNConv2d` with stride 1 and 'same' padding:
  (B, H, W, C) -> (B, H, W, features)."""
  features: int
  kernel_size: int = 3
  use_bias: bool = True
  eps: float = 1e-6
  weight_init: str = "ortho"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    k, c = self.kernel_size, x.shape[-1]
    kernel = self.param("kernel", kernel_init(self.weight_init),
                        (k, k, c, self.features))
    sigma = spectral_sigma(self, kernel.reshape(-1, self.features).T, self.eps, train)
    y = layers.conv2d(x.astype(self.dtype), (kernel / sigma).astype(self.dtype),
                      padding=k // 2)  # 'same' (odd k); padded_conv on CPU
    if self.use_bias:
      y = y + self.param("bias", _torch_bias_init(k * k * c), (self.features,)
                         ).astype(self.dtype)
    return y


class SNDense(nn.Module):
  """layers.py `SNLinear`: (..., in) -> (..., features)."""
  features: int
  use_bias: bool = True
  eps: float = 1e-6
  weight_init: str = "ortho"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    kernel = self.param("kernel", kernel_init(self.weight_init),
                        (x.shape[-1], self.features))
    sigma = spectral_sigma(self, kernel.T, self.eps, train)
    y = x.astype(self.dtype) @ (kernel / sigma).astype(self.dtype)
    if self.use_bias:
      y = y + self.param("bias", _torch_bias_init(x.shape[-1]), (self.features,)
                         ).astype(self.dtype)
    return y


class SNEmbed(nn.Module):
  """layers.py `SNEmbedding`: labels (B,) -> (B, features); W is the table
  (num_embeddings, features), u (1, num_embeddings)."""
  num_embeddings: int
  features: int
  eps: float = 1e-6
  weight_init: str = "ortho"

  @nn.compact
  def __call__(self, y, train: bool):
    table = self.param("embedding", kernel_init(self.weight_init),
                       (self.num_embeddings, self.features))
    return jnp.take(table / spectral_sigma(self, table, self.eps, train), y, axis=0)


class Attention(nn.Module):
  """SAGAN self-attention as layers.py `Attention` (see the module
  docstring): (B, H, W, C) -> (B, H, W, C), H and W even, C >= 8."""
  eps: float = 1e-6
  weight_init: str = "ortho"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    b, h, w, c = x.shape
    conv = functools.partial(SNConv, kernel_size=1, use_bias=False, eps=self.eps,
                             weight_init=self.weight_init, dtype=self.dtype)
    pool = lambda t: nn.max_pool(t, (2, 2), strides=(2, 2))
    theta = conv(c // 8, name="theta")(x, train).reshape(b, h * w, c // 8)
    phi = pool(conv(c // 8, name="phi")(x, train)).reshape(b, h * w // 4, c // 8)
    g = pool(conv(c // 2, name="g")(x, train)).reshape(b, h * w // 4, c // 2)
    beta = jax.nn.softmax(theta @ phi.transpose(0, 2, 1), axis=-1)  # (B, HW, HW/4)
    o = conv(c, name="o")((beta @ g).reshape(b, h, w, c // 2), train)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    return gamma * o + x


class ConditionalBatchNorm(nn.Module):
  """layers.py `ccbn` (norm_style 'bn'): BatchNorm without an affine part,
  then x_hat * (1 + gain(c)) + bias(c). `shared`: c (B, input_size) floats
  and gain, bias SN linear maps without bias (BigGAN.py `which_bn` with
  G_shared); else c are labels (B,) and gain, bias embeddings of
  `num_classes` rows."""
  shared: bool = True
  num_classes: int = 0
  bn_eps: float = 1e-5
  sn_eps: float = 1e-6
  weight_init: str = "ortho"
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, c, train: bool):
    features = x.shape[-1]
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.bn_eps,
                     use_scale=False, use_bias=False, dtype=self.dtype,
                     axis_name=self.axis_name if train else None, name="bn")(x)
    if self.shared:
      linear = functools.partial(SNDense, features, use_bias=False, eps=self.sn_eps,
                                 weight_init=self.weight_init, dtype=self.dtype)
      gain, bias = linear(name="gain")(c, train), linear(name="bias")(c, train)
    else:
      embed = functools.partial(nn.Embed, self.num_classes, features,
                                embedding_init=kernel_init(self.weight_init))
      gain, bias = embed(name="gain")(c), embed(name="bias")(c)
    return (x * (1 + gain[:, None, None]) + bias[:, None, None]).astype(self.dtype)


def _upsample(x):
  """F.interpolate(scale_factor=2): nearest-neighbour 2x upsampling."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _mean_pool(x):
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class GBlock(nn.Module):
  """layers.py `GBlock` with upsampling: (B, H, W, C) -> (B, 2H, 2W, features)."""
  features: int
  norm: Any  # functools.partial(ConditionalBatchNorm, ...)
  conv: Any  # functools.partial(SNConv, ...)

  @nn.compact
  def __call__(self, x, c, train: bool):
    h = nn.relu(self.norm(name="bn1")(x, c, train))
    h = self.conv(self.features, name="conv1")(_upsample(h), train)
    h = nn.relu(self.norm(name="bn2")(h, c, train))
    h = self.conv(self.features, name="conv2")(h, train)
    return h + self.conv(self.features, kernel_size=1, name="conv_sc")(_upsample(x), train)


class Generator(nn.Module):
  """z (B, latent_dim), labels (B,) -> images (B, S, S, channels) in [-1, 1].

  Attributes:
    image_size: 32, 64 or 128 (BigGAN.py `G_arch`).
    channels: output channels (3 in the reference).
    width: G_ch, the channel multiplier.
    latent_dim: dim_z; with `hierarchical`, a multiple of
      `num_latent_chunks(image_size, True)`.
    num_classes: n_classes.
    shared_dim: the shared class embedding's size (shared only).
    shared: G_shared (see the module docstring).
    hierarchical: hier; needs `shared`.
    attention: resolutions of G's attention blocks ('64', '0': none).
    bn_eps, sn_eps: BN_eps and SN_eps.
    weight_init: 'ortho', 'N02' or 'glorot' (G_init).
    dtype: computation dtype (parameters stay float32).
    axis_name: pmap axis over which BatchNorm statistics are averaged.
  """
  image_size: int = 128
  channels: int = 3
  width: int = 96
  latent_dim: int = 120
  num_classes: int = 1000
  shared_dim: int = 128
  shared: bool = True
  hierarchical: bool = True
  attention: str = "64"
  bn_eps: float = 1e-5
  sn_eps: float = 1e-6
  weight_init: str = "ortho"
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z, y, train: bool = True):
    if self.hierarchical and not self.shared:
      raise ValueError("BigGAN's hierarchical latents need the shared embedding "
                       "(config.model.shared=True).")
    arch = g_arch(self.width, self.image_size)
    chunks = num_latent_chunks(self.image_size, self.hierarchical)
    if z.shape[-1] % chunks:
      raise ValueError(f"BigGAN with hierarchical latents splits z into {chunks} "
                       f"chunks: latent_dim={z.shape[-1]} must be a multiple of it.")
    zs = jnp.split(z.astype(self.dtype), chunks, axis=-1)
    if self.shared:
      c = nn.Embed(self.num_classes, self.shared_dim,
                   embedding_init=kernel_init(self.weight_init), name="shared")(y)
      c = c.astype(self.dtype)
      conds = ([jnp.concatenate([c, zi], -1) for zi in zs[1:]] if self.hierarchical
               else [c] * len(arch))
    else:
      conds = [y] * len(arch)
    conv = functools.partial(SNConv, eps=self.sn_eps, weight_init=self.weight_init,
                             dtype=self.dtype)
    norm = functools.partial(ConditionalBatchNorm, shared=self.shared,
                             num_classes=self.num_classes, bn_eps=self.bn_eps,
                             sn_eps=self.sn_eps, weight_init=self.weight_init, dtype=self.dtype,
                             axis_name=self.axis_name)
    first = arch[0][0]
    x = SNDense(first * 16, eps=self.sn_eps, weight_init=self.weight_init,
                dtype=self.dtype, name="linear")(zs[0], train)
    # torch's view(B, C, 4, 4), then channels last.
    x = x.reshape(z.shape[0], first, 4, 4).transpose(0, 2, 3, 1)
    attend = attention_resolutions(self.attention)
    for i, (_, out, resolution) in enumerate(arch):
      x = GBlock(out, norm, conv, name=f"block{i}")(x, conds[i], train)
      if resolution in attend:
        x = Attention(self.sn_eps, self.weight_init, self.dtype,
                      name=f"attention{i}")(x, train)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=self.bn_eps,
                     dtype=self.dtype, axis_name=self.axis_name if train else None,
                     name="out_bn")(x)
    x = conv(self.channels, name="out_conv")(nn.relu(x), train)
    return jnp.tanh(x).astype(jnp.float32)


class DBlock(nn.Module):
  """layers.py `DBlock` (wide: hidden channels = features)."""
  features: int
  down: bool
  preactivation: bool
  conv: Any

  @nn.compact
  def __call__(self, x, train: bool):
    h = nn.relu(x) if self.preactivation else x
    h = self.conv(self.features, name="conv1")(h, train)
    h = self.conv(self.features, name="conv2")(nn.relu(h), train)
    if self.down:
      h = _mean_pool(h)
    if not (self.down or x.shape[-1] != self.features):
      return h + x
    sc = functools.partial(self.conv(self.features, kernel_size=1, name="conv_sc"),
                           train=train)
    if self.preactivation:
      x = sc(x)
      x = _mean_pool(x) if self.down else x
    else:
      x = _mean_pool(x) if self.down else x
      x = sc(x)
    return h + x


class Discriminator(nn.Module):
  """Images (B, S, S, C), labels (B,) -> logits (B,).

  Attributes:
    image_size: 32, 64 or 128 (BigGAN.py `D_arch`).
    width: D_ch.
    num_classes: n_classes (the projection's embedding rows).
    attention: resolutions of D's attention blocks ('64', '0': none).
    sn_eps: SN_eps.
    weight_init: 'ortho', 'N02' or 'glorot' (D_init).
    dtype: computation dtype (parameters stay float32).
    axis_name: unused (no BatchNorm); kept for the common interface.
  """
  image_size: int = 128
  width: int = 96
  num_classes: int = 1000
  attention: str = "64"
  sn_eps: float = 1e-6
  weight_init: str = "ortho"
  dtype: Any = jnp.float32
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, y, train: bool = True):
    conv = functools.partial(SNConv, eps=self.sn_eps, weight_init=self.weight_init,
                             dtype=self.dtype)
    attend = attention_resolutions(self.attention)
    h = x.astype(self.dtype)
    for i, (_, out, down, resolution) in enumerate(d_arch(self.width, self.image_size)):
      h = DBlock(out, down, i > 0, conv, name=f"block{i}")(h, train)
      if resolution in attend:
        h = Attention(self.sn_eps, self.weight_init, self.dtype,
                      name=f"attention{i}")(h, train)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    self.sow("intermediates", "features", h)  # feature matching
    out = SNDense(1, eps=self.sn_eps, weight_init=self.weight_init, dtype=self.dtype,
                  name="linear")(h, train)[:, 0]
    embed = SNEmbed(self.num_classes, h.shape[-1], eps=self.sn_eps,
                    weight_init=self.weight_init, name="embed")(y, train)
    return (out + jnp.sum(embed.astype(h.dtype) * h, axis=-1)).astype(jnp.float32)


def check(config: Any) -> None:
  """Raises ValueError for a config.model (with BigGAN's defaults) that
  cannot be built."""
  if config.image_size not in SUPPORTED_IMAGE_SIZES:
    raise ValueError(f"Model 'biggan' supports image sizes {SUPPORTED_IMAGE_SIZES}, "
                     f"got config.model.image_size={config.image_size}.")
  if config.init not in INITS:
    raise ValueError(f"Unknown config.model.init {config.init!r}; valid: "
                     f"{', '.join(INITS)}.")
  if config.hierarchical and not config.shared:
    raise ValueError("config.model.hierarchical needs config.model.shared=True "
                     "(each block's BatchNorm takes the shared embedding and a z chunk).")
  chunks = num_latent_chunks(config.image_size, config.hierarchical)
  if config.latent_dim % chunks:
    raise ValueError(f"config.model.latent_dim={config.latent_dim} must be a multiple "
                     f"of {chunks}: hierarchical latents give each of the "
                     f"{chunks - 1} G blocks and the first layer one chunk of z.")
  if config.shared and config.shared_dim <= 0:
    raise ValueError(f"config.model.shared_dim must be positive, got {config.shared_dim}.")
  for player, key, arch in (
      ("G", "g_attention", [(o, r) for _, o, r in g_arch(config.g_width, config.image_size)]),
      ("D", "d_attention", [(o, r) for _, o, _, r in d_arch(config.d_width,
                                                            config.image_size)])):
    widths = {r: o for o, r in arch}
    for resolution in sorted(attention_resolutions(config[key])):
      if resolution not in widths:
        raise ValueError(f"config.model.{key}={config[key]!r}: {player} has no block "
                         f"at resolution {resolution} at image size {config.image_size} "
                         f"(its blocks: {sorted(widths)}; '0' for none).")
      if widths[resolution] < 8:
        raise ValueError(f"config.model.{key}: attention at {resolution} needs at least "
                         f"8 channels (theta and phi have C/8), {player} has "
                         f"{widths[resolution]}; widen the model or set it to '0'.")
