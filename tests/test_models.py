"""DCGAN generator and discriminator: shapes, parameter counts, errors."""

import functools
import re

import flax.linen as nn
import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import dcgan, layers

from configs import common


def _num_params(variables):
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("image_size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(image_size, channels):
  g = dcgan.Generator(image_size=image_size, channels=channels, width=4)
  d = dcgan.Discriminator(image_size=image_size, width=4)
  z = jnp.zeros((3, 8))
  # Shapes only: traced, not run.
  images, _ = jax.eval_shape(functools.partial(g.init_with_output, train=False),
                             jax.random.PRNGKey(0), z)
  assert images.shape == (3, image_size, image_size, channels)
  logits, _ = jax.eval_shape(functools.partial(d.init_with_output, train=False),
                             jax.random.PRNGKey(0), images)
  assert logits.shape == (3,)


def test_generator_output_is_in_the_image_range():
  g = dcgan.Generator(image_size=28, channels=1, width=4)
  z = 10.0 * jax.random.normal(jax.random.PRNGKey(0), (4, 8))
  init = jax.jit(functools.partial(g.init_with_output, train=False))
  images, _ = init(jax.random.PRNGKey(1), z)
  assert jnp.all(jnp.abs(images) <= 1.0) and jnp.std(images) > 0  # tanh output


def test_parameter_counts_match_the_architecture():
  w, c, latent = 8, 3, 16
  g = dcgan.Generator(image_size=32, channels=c, width=w)
  d = dcgan.Discriminator(image_size=32, width=w)
  z = jnp.zeros((2, latent))
  # G: dense to 4x4x4w (no bias) + BN, two 4x4 transposed convs with BN, the
  # last transposed conv with a bias. BatchNorm has a scale and a bias.
  g_expected = (latent * 16 * 4 * w + 2 * 4 * w
                + 16 * 4 * w * 2 * w + 2 * 2 * w
                + 16 * 2 * w * w + 2 * w
                + 16 * w * c + c)
  # D: first conv with bias, two convs with BN, the final 4x4 conv to a logit.
  d_expected = (16 * c * w + w
                + 16 * w * 2 * w + 2 * 2 * w
                + 16 * 2 * w * 4 * w + 2 * 4 * w
                + 16 * 4 * w + 1)
  key = jax.random.PRNGKey(0)
  assert _num_params(jax.eval_shape(g.init, key, z)) == g_expected
  x = jnp.zeros((2, 32, 32, c))
  assert _num_params(jax.eval_shape(d.init, key, x)) == d_expected


def test_discriminator_without_batch_norm_has_no_batch_stats():
  d = dcgan.Discriminator(image_size=32, width=4, use_batch_norm=False)
  variables = jax.eval_shape(d.init, jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 1)))
  assert "batch_stats" not in variables


def test_bfloat16_computes_in_bfloat16_with_float32_params():
  g = dcgan.Generator(image_size=32, channels=1, width=4, dtype=jnp.bfloat16)
  z = jnp.ones((2, 8))
  variables = jax.jit(g.init)(jax.random.PRNGKey(0), z)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))
  apply = functools.partial(g.apply, train=False)
  assert "bf16" in str(jax.make_jaxpr(apply)(variables, z))
  assert jax.jit(apply)(variables, z).dtype == jnp.float32


def test_unsupported_image_size_lists_supported_ones():
  g = dcgan.Generator(image_size=48)
  with pytest.raises(ValueError, match=r"\(28, 32, 64, 128\)"):
    g.init(jax.random.PRNGKey(0), jnp.zeros((1, 8)))


def test_discriminator_rejects_images_of_another_size():
  d = dcgan.Discriminator(image_size=32, width=4)
  with pytest.raises(ValueError, match="32x32"):
    d.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))


def _model_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="dcgan", image_size=32, channels=1, latent_dim=8, g_width=4, d_width=4,
      dtype="float32", conv_impl="matmul"))
  config.update(overrides)
  return config


def test_create_builds_the_named_model():
  g, d = models.create(_model_config(channels=3, g_width=5), axis_name="batch")
  assert (g.channels, g.width, g.axis_name) == (3, 5, "batch")
  assert isinstance(d, dcgan.Discriminator)


@pytest.mark.parametrize("overrides, message", [
    (dict(name="stylegan9"), "valid names: .*dcgan.*mlp.*resnet"),
    (dict(image_size=48), "image sizes"),
    (dict(dtype="float8"), "float32, bfloat16"),
    (dict(g_width=0), "g_width must be positive"),
    (dict(g_norm="layer"), "g_norm.*batch, virtual_batch"),
])
def test_check_rejects_bad_model_configs(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.check(_model_config(**overrides))


@pytest.mark.parametrize("impl", ["conv", "subpixel", "matmul"])
@pytest.mark.parametrize("height, width, channels, features", [(4, 4, 6, 5), (7, 5, 3, 2)])
def test_upconv_is_the_transposed_convolution(height, width, channels, features, impl,
                                              monkeypatch):
  if impl == "subpixel":  # 'conv' on large layers: the sub-pixel convolution
    monkeypatch.setattr(layers, "EIGEN_TRANSPOSED_CONV_BYTES", 0)
    impl = "conv"
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, channels))
  reference = nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  upconv = layers.UpConv(features, impl=impl)
  variables = jax.eval_shape(upconv.init, jax.random.PRNGKey(0), x)
  assert jax.eval_shape(upconv.apply, variables, x).shape == (
      2, 2 * height, 2 * width, features)
  _assert_same_function_and_gradients(reference, upconv, x)


def _assert_same_function_and_gradients(reference, module, x):
  variables = jax.jit(reference.init)(jax.random.PRNGKey(1), x)
  variables = jax.tree.map(  # a non-zero bias, so that it is checked too
      lambda v: v + 0.1 * jax.random.normal(jax.random.PRNGKey(2), v.shape), variables)

  def loss(module, variables, x):
    y = module.apply(variables, x)
    return jnp.sum(jnp.sin(y)), y

  (_, want), want_grads = jax.jit(jax.value_and_grad(
      functools.partial(loss, reference), argnums=(0, 1), has_aux=True))(variables, x)
  (_, got), got_grads = jax.jit(jax.value_and_grad(
      functools.partial(loss, module), argnums=(0, 1), has_aux=True))(variables, x)
  # Two float32 evaluations of a convolution: sums of (kernel taps x input
  # features) products, whose absolute sums the reference computes from |w|,
  # |b| and |x|.
  kernel = variables["params"]["kernel"]
  magnitude, transpose = jax.vjp(reference.apply, jax.tree.map(jnp.abs, variables),
                                 jnp.abs(x))
  y_atol = float32.sum_bound(kernel.size // kernel.shape[-1], float(magnitude.max()))
  np.testing.assert_allclose(got, want, rtol=0, atol=y_atol)
  # The gradients of sum(sin(y)): sums over the outputs' N x H x W positions
  # (kernel, bias) or the kernel taps x features (x) of terms times cos(y)
  # (|.| <= 1, each off by <= y_atol); the same transposed computation with
  # |w|, |b|, |x| and ones bounds their absolute sums.
  n = max(want.size // want.shape[-1], kernel.size // kernel.shape[-2])
  magnitudes = jax.tree.leaves(transpose(jnp.ones_like(magnitude)))
  for g, w, m in zip(jax.tree.leaves(got_grads), jax.tree.leaves(want_grads),
                     magnitudes, strict=True):
    atol = (float32.sum_bound(n) + y_atol) * m.max()
    np.testing.assert_allclose(g, w, rtol=0, atol=atol)


@pytest.mark.parametrize("impl", ["conv", "matmul"])
@pytest.mark.parametrize("height, width", [(8, 8), (14, 6)])
def test_downconv_is_the_strided_convolution(height, width, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, 3))
  _assert_same_function_and_gradients(
      nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1))),
      layers.DownConv(5, impl=impl), x)


@pytest.mark.parametrize("subpixel", [False, True])
def test_conv_impl_second_derivatives_match_flax(subpixel, monkeypatch):
  """The gradient penalty differentiates an input gradient with respect to
  the parameters: the hand-written derivatives must be right to second order."""
  if subpixel:
    monkeypatch.setattr(layers, "EIGEN_TRANSPOSED_CONV_BYTES", 0)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 3))

  def net(down, up):
    return nn.Sequential([down, nn.tanh, up])

  ours = net(layers.DownConv(4, impl="conv"), layers.UpConv(2, impl="conv"))
  flax_net = net(nn.Conv(4, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1))),
                 nn.ConvTranspose(2, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2))))
  variables = flax_net.init(jax.random.PRNGKey(1), x)

  def penalty(module, variables, x):
    grad_x = jax.grad(lambda x: jnp.sum(jnp.sin(module.apply(variables, x))))(x)
    return jnp.sum(grad_x ** 2)

  got = jax.jit(jax.grad(functools.partial(penalty, ours), argnums=(0, 1)))(variables, x)
  want = jax.jit(jax.grad(functools.partial(penalty, flax_net), argnums=(0, 1)))(variables, x)
  # Two float32 evaluations: 8 layers deep (the two convs, the input gradient
  # back through both, and their derivatives), fan-in <= 72, sums of absolute
  # terms <= 18 (computed once, with |w| and |x| through every convolution:
  # the weights and x are fixed): 1.3e-3 (gradients up to 17).
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, w, rtol=0, atol=float32.network_bound(8, 72, 18.0))


def _loop_convolution_layouts(impl):
  """dim_labels of every convolution XLA:CPU compiles for a DownConv/UpConv
  gradient inside a loop, as a training call runs it."""
  x = jnp.zeros((2, 8, 8, 3))
  down = layers.DownConv(4) if impl != "xla" else nn.Conv(
      4, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
  up = layers.UpConv(3) if impl != "xla" else nn.ConvTranspose(
      3, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  model = nn.Sequential([down, nn.relu, up])
  variables = model.init(jax.random.PRNGKey(0), x)

  def loop(variables, x):
    grad = jax.grad(lambda v: jnp.sum(model.apply(v, x) ** 2))
    return jax.lax.fori_loop(0, 2, lambda _, v: jax.tree.map(jnp.subtract, v, grad(v)),
                             variables)

  hlo = jax.jit(loop).lower(variables, x).compile().as_text()
  return re.findall(r"convolution\(.*?dim_labels=([\w>-]+)", hlo)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's layouts")
def test_conv_impl_runs_only_fast_layout_convolutions_inside_loops():
  """XLA:CPU's fast convolutions (YNNPACK, Eigen) take NHWC x HWIO -> NHWC;
  XLA's own derivatives inside a loop keep other layouts, which it runs in a
  generic emitter ~40x slower. 'auto' is 'conv' on CPU."""
  assert set(_loop_convolution_layouts("xla")) - {"b01f_01io->b01f"}  # the problem
  layouts = _loop_convolution_layouts("auto")
  assert len(layouts) >= 4 and set(layouts) == {"b01f_01io->b01f"}, layouts


@pytest.mark.parametrize("groups,kernel_size", [(1, 3), (1, 1), (2, 3), (8, 3), (2, 2)])
def test_conv2d_is_the_same_convolution_to_second_order(groups, kernel_size):
  """layers.Conv / conv2d (im2col on CPU; R3GAN's grouped convs, 2 groups as
  a block-diagonal kernel) against nn.Conv with 'SAME' padding (asymmetric
  for an even kernel) and `feature_group_count`: the values, and the
  parameter gradient of a gradient penalty (second derivatives)."""
  from jaxgan.models import r3gan  # pylint: disable=g-import-not-at-top
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 8))
  flax_conv = nn.Conv(16, (kernel_size,) * 2, feature_group_count=groups, use_bias=False)
  variables = flax_conv.init(jax.random.PRNGKey(1), x)
  ours = (layers.Conv(16, (kernel_size,) * 2, use_bias=False)
          if groups == 1 and kernel_size % 2 else r3gan.GroupedConv(16, kernel_size, groups))

  def penalty(module, variables, x):
    grad_x = jax.grad(lambda x: jnp.sum(jnp.sin(module.apply(variables, x))))(x)
    return jnp.sum(grad_x ** 2)

  # Two float32 evaluations of sums of k x k x 8 / groups products, whose
  # absolute sums the conv of |x| with |w| gives.
  kernel = variables["params"]["kernel"]
  magnitude = flax_conv.apply(jax.tree.map(jnp.abs, variables), jnp.abs(x)).max()
  atol = float32.sum_bound(kernel.size // kernel.shape[-1], magnitude)
  np.testing.assert_allclose(ours.apply(variables, x), flax_conv.apply(variables, x),
                             rtol=0, atol=atol)
  got = jax.grad(functools.partial(penalty, ours))(variables, x)
  want = jax.grad(functools.partial(penalty, flax_conv))(variables, x)
  # 4 layers deep (the conv, the input gradient, the kernel gradient's two
  # terms), fan-in <= 144 (9 taps x 16 features), sums of absolute terms <=
  # 178, the kernel gradients' over 2 x 6 x 6 positions (computed once for the
  # five cases, with |w| and |x|: the data are fixed): 1.2e-2, for gradients
  # up to ~150.
  np.testing.assert_allclose(got["params"]["kernel"], want["params"]["kernel"],
                             rtol=0, atol=float32.network_bound(4, 144, 178.0))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's layouts")
def test_resnet_discriminator_gradient_runs_only_fast_layout_convolutions_in_loops():
  """The SNGAN ResNet's 3x3 convolutions are `padded_conv` on CPU: its
  gradient-penalty derivative inside a loop compiles only NHWC/HWIO
  convolutions (XLA:CPU ran its own derivatives' layouts in its generic
  emitter: a 30-step run took more than 12 minutes)."""
  d = models.resnet.SNGANDiscriminator(width=8)
  x = jnp.zeros((2, 32, 32, 1))
  variables = d.init(jax.random.PRNGKey(0), x, train=False)

  def loop(params, x):
    def penalty(p):
      grad_x = jax.grad(lambda x: jnp.sum(d.apply({**variables, "params": p}, x,
                                                  train=False)))(x)
      return jnp.sum(grad_x ** 2)
    return jax.lax.fori_loop(0, 2, lambda _, p: jax.tree.map(
        jnp.subtract, p, jax.grad(penalty)(p)), params)

  hlo = jax.jit(loop).lower(variables["params"], x).compile().as_text()
  layouts = re.findall(r"convolution\(.*?dim_labels=([\w>-]+)", hlo)
  # Forward, input and kernel gradients, and their derivatives, of 8 convs.
  assert len(layouts) >= 24 and set(layouts) == {"b01f_01io->b01f"}, layouts


def test_denseconv_is_the_valid_convolution_covering_its_input():
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 7, 4))
  _assert_same_function_and_gradients(nn.Conv(2, (7, 7), padding="VALID"),
                                      layers.DenseConv(2), x)


@pytest.mark.parametrize("impl", ["conv", "matmul"])
@pytest.mark.parametrize("image_size", [28, 32])
def test_discriminator_is_the_same_function_with_any_conv_impl(image_size, impl):
  x = jax.random.normal(jax.random.PRNGKey(0), (4, image_size, image_size, 3))
  ours = dcgan.Discriminator(image_size=image_size, width=4, conv_impl=impl)
  xla = ours.clone(conv_impl="xla")
  variables = jax.jit(ours.init)(jax.random.PRNGKey(1), x)
  # Two float32 evaluations of D: <= 4 convs of fan-in <= 392 (the 7 x 7 x 8
  # last conv at 28 px), sums of absolute terms <= 1.2 (computed once, with
  # |w| and |x|: the data are fixed): 2.2e-4.
  np.testing.assert_allclose(
      jax.jit(functools.partial(ours.apply, train=False))(variables, x),
      jax.jit(functools.partial(xla.apply, train=False))(variables, x),
      rtol=0, atol=float32.network_bound(4, 392, 1.2))


@pytest.mark.parametrize("impl", ["conv", "matmul"])
@pytest.mark.parametrize("image_size", [28, 32])
def test_generator_is_the_same_function_with_any_conv_impl(image_size, impl):
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
  ours = dcgan.Generator(image_size=image_size, channels=3, width=4, conv_impl=impl)
  xla = ours.clone(conv_impl="xla")
  variables = jax.jit(ours.init)(jax.random.PRNGKey(1), z)
  assert (jax.tree.map(jnp.shape, variables)
          == jax.tree.map(jnp.shape, jax.eval_shape(xla.init, jax.random.PRNGKey(1), z)))
  # Two float32 evaluations of G: <= 4 layers of fan-in <= 256 (4 x 4 x 16),
  # sums of absolute terms <= 0.42 (computed once, as for D): 5.1e-5.
  np.testing.assert_allclose(
      jax.jit(functools.partial(ours.apply, train=False))(variables, z),
      jax.jit(functools.partial(xla.apply, train=False))(variables, z),
      rtol=0, atol=float32.network_bound(4, 256, 0.42))


# Spectral normalisation, layer norm, the minibatch layers, the ResNet.


def _sigma_max(kernel):
  return np.linalg.svd(np.asarray(kernel).reshape(-1, kernel.shape[-1]),
                       compute_uv=False)[0]


def test_virtual_batch_norm_combines_the_reference_statistics_with_each_example():
  """improved-gan's VBN: the reference rows with their own statistics, row i
  with (E_hw[x_i] + N mu_ref) / (N + 1) and the same for x^2 (numpy)."""
  n = 3
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (n + 2, 4, 4, 5))) * 2 + 1
  layer = dcgan.VirtualBatchNorm(reference_size=n)
  variables = layer.init(jax.random.PRNGKey(1), x)
  scale, bias = (np.asarray(variables["params"][k]) for k in ("scale", "bias"))
  ref_mean, ref_square = x[:n].mean((0, 1, 2)), (x[:n] ** 2).mean((0, 1, 2))
  want, magnitude = [], 0.0
  for i, row in enumerate(x):
    mean, square = ref_mean, ref_square
    if i >= n:
      mean = (row.mean((0, 1)) + n * ref_mean) / (n + 1)
      square = ((row ** 2).mean((0, 1)) + n * ref_square) / (n + 1)
    std = np.sqrt(square - mean ** 2 + 1e-5)
    x_hat = (row - mean) / std
    want.append(x_hat * scale + bias)
    # mean and square, means of <= 48 values and a few more roundings, are
    # off by gamma(51) of sqrt(square) (>= mean |x|) and of square; square -
    # mean^2 by 3 gamma(51) square, which x_hat carries relative, halved by
    # the square root: x_hat's error <= gamma(51) (sqrt(square) / std + 1.5
    # |x_hat| square / std^2), times |scale|.
    x_hat_error = (np.sqrt(square) / std
                   + 1.5 * np.abs(x_hat).max((0, 1)) * square / std ** 2)
    magnitude = max(magnitude, (x_hat_error * np.abs(scale)).max() + np.abs(bias).max())
  # Both are float32 (numpy's here), so two evaluations: sum_bound.
  np.testing.assert_allclose(layer.apply(variables, x), np.stack(want), rtol=0,
                             atol=float32.sum_bound(48 + 3, magnitude))


def test_virtual_batch_generator_treats_each_example_alone():
  """With 'virtual_batch' an example's image depends on the fixed reference
  batch, not on its batch mates (it does with BatchNorm), and training and
  evaluation are the same function."""
  config = _model_config(g_norm="virtual_batch", g_reference_size=4, image_size=28)
  g, _ = models.create(config)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, config.latent_dim))
  variables = g.init(jax.random.PRNGKey(1), z, train=False)
  assert "batch_stats" not in variables
  images = g.apply(variables, z, train=False)
  np.testing.assert_array_equal(g.apply(variables, z, train=True), images)
  others = g.apply(variables, z.at[1:].set(0.0), train=False)
  # Row 0 runs the same ops on the same values at the same batch position:
  # equal to the bit (0 here), the tolerance moot. Changed rows move by ~0.2,
  # and with BatchNorm row 0 by ~0.2 as well: 1e-3 tells those apart.
  np.testing.assert_allclose(others[0], images[0], rtol=1e-5, atol=1e-6)
  assert np.abs(others[1] - images[1]).max() > 1e-3
  batch_g, _ = models.create(_model_config(image_size=28))
  batch_vars = batch_g.init(jax.random.PRNGKey(1), z, train=False)
  batch_images, _ = batch_g.apply(batch_vars, z, mutable=["batch_stats"])
  other_images, _ = batch_g.apply(batch_vars, z.at[1:].set(0.0), mutable=["batch_stats"])
  assert np.abs(other_images[0] - batch_images[0]).max() > 1e-3


def test_spectral_norm_estimates_the_largest_singular_value_in_train_mode_only():
  d = dcgan.Discriminator(image_size=28, width=4, norm="none", spectral_norm=True)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 28, 28, 1))
  variables = jax.jit(functools.partial(d.init, train=False))(jax.random.PRNGKey(1), x)
  apply = jax.jit(functools.partial(d.apply, mutable=["batch_stats"]),
                  static_argnames="train")
  stats = variables["batch_stats"]
  _, frozen = apply({**variables, "batch_stats": stats}, x, train=False)
  # Eval mode leaves u and sigma alone.
  jax.tree.map(np.testing.assert_array_equal, frozen["batch_stats"], stats)
  for _ in range(30):  # power iterations, one per training call
    _, updates = apply({**variables, "batch_stats": stats}, x, train=True)
    stats = updates["batch_stats"]
  kernel = variables["params"]["down1"]["kernel"]
  sigma = stats["SpectralNorm_1"]["down1/kernel/sigma"]
  # The power iteration's error, not rounding: sigma converges as (sigma_2 /
  # sigma_1)^(2k) = 0.86^60 = 1.2e-4 relative after k = 30 (times the start's
  # ratio of components; 1e-7 here), float32 adds ~1e-6. A wrong reshape or
  # axis gives another singular value, 14% or more off.
  np.testing.assert_allclose(sigma, _sigma_max(kernel), rtol=1e-3)
  # The layer computes with kernel / sigma, whose largest singular value is 1.
  np.testing.assert_allclose(_sigma_max(kernel / sigma), 1.0, rtol=1e-3)


def test_layer_norm_critic_normalises_each_example_alone():
  d = dcgan.Discriminator(image_size=28, width=4, norm="layer")
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 28, 28, 1))
  variables = jax.jit(d.init)(jax.random.PRNGKey(1), x)
  assert "batch_stats" not in variables and "LayerNorm_0" in variables["params"]
  apply = jax.jit(d.apply)
  logits = apply(variables, x)
  # Another batch mate changes nothing: no statistic crosses examples (the same
  # program on the same row: equal to the bit, the tolerance moot; a
  # statistic over the batch moves it by O(1)).
  other = apply(variables, x.at[1:].set(0.0))
  np.testing.assert_allclose(other[0], logits[0], rtol=1e-5)


def test_unknown_discriminator_norm_names_the_valid_ones():
  with pytest.raises(ValueError, match="d_norm.*batch, layer, none"):
    models.check(_model_config(d_norm="group"))


def test_minibatch_discrimination_compares_batch_members():
  layer = layers.MinibatchDiscrimination(num_kernels=3, kernel_dims=2)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 6))
  variables = layer.init(jax.random.PRNGKey(1), x)
  y = layer.apply(variables, x)
  assert y.shape == (4, 6 + 3)
  np.testing.assert_array_equal(y[:, :6], x)
  # By hand: o(x_i)_b = sum_j exp(-|M_ib - M_jb|_1), M = x T.
  m = (x @ variables["params"]["T"]["kernel"]).reshape(4, 3, 2)
  want = np.exp(-np.abs(m[:, None] - m[None]).sum(-1)).sum(1)
  # Relative: M's entries are 6-term dot products, each exponent adds 2
  # differences of 2 entries (3 roundings), which exp turns into relative
  # error; then a sum of 4 positive terms and exp's ulps.
  magnitude = (np.abs(x) @ np.abs(variables["params"]["T"]["kernel"])).max()
  rtol = float32.sum_bound(6 + 3, 4 * magnitude) + float32.sum_bound(4 + 2)
  np.testing.assert_allclose(y[:, 6:], want, rtol=rtol)
  changed = layer.apply(variables, x.at[3].add(1.0))
  # x_0's depend on x_3: they move by >= 0.03 (without a dependence they would
  # be equal to the bit); 1e-6 is ~4 ulps of them.
  assert np.all(np.abs(changed[0, 6:] - y[0, 6:]) > 1e-6)


def test_minibatch_stddev_appends_the_group_standard_deviation():
  layer = layers.MinibatchStdDev(group_size=2)
  x = jnp.stack([jnp.full((2, 2, 3), v) for v in (0.0, 1.0, 4.0, 7.0)])
  y = layer.apply({}, x)
  assert y.shape == (4, 2, 2, 4)
  # Groups {0, 2} and {1, 3}: std of (0, 4) is 2, of (1, 7) is 3. Exact in
  # float32 (small integers; the epsilon 1e-8 is below half an ulp of 4 and
  # 9), the tolerance moot.
  np.testing.assert_allclose(y[:, 0, 0, 3], [2.0, 3.0, 2.0, 3.0], rtol=1e-5)
  np.testing.assert_array_equal(y[..., :3], x)
  with pytest.raises(ValueError, match="minibatch_stddev"):
    layers.MinibatchStdDev(group_size=3).apply({}, x)
  flat = layers.MinibatchStdDev(group_size=4).apply({}, x.reshape(4, -1))
  assert flat.shape == (4, 13)


def test_mlp_discriminator_with_minibatch_layers_still_sows_its_features():
  d = models.mlp.Discriminator(width=5, depth=2, minibatch_discrimination=3,
                               minibatch_stddev=2)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 2))
  variables = d.init(jax.random.PRNGKey(1), x)
  logits, state = d.apply(variables, x, mutable=["intermediates"])
  assert logits.shape == (4,)
  assert state["intermediates"]["features"][0].shape == (4, 5)
  assert variables["params"]["Dense_2"]["kernel"].shape == (5 + 1 + 3, 1)


@pytest.mark.parametrize("image_size, channels", [(28, 1), (32, 3)])
@pytest.mark.parametrize("variant", ["wgan_gp", "sngan"])
def test_resnet_shapes(image_size, channels, variant):
  config = _model_config(name="resnet", variant=variant, image_size=image_size,
                         channels=channels, num_classes=10)
  g, d = models.create(config)
  z, y = jnp.zeros((2, 8)), jnp.zeros((2,), jnp.int32)
  images, _ = jax.eval_shape(functools.partial(g.init_with_output, train=False),
                             jax.random.PRNGKey(0), z, y)
  assert images.shape == (2, image_size, image_size, channels)
  logits, variables = jax.eval_shape(functools.partial(d.init_with_output, train=False),
                                     jax.random.PRNGKey(0), images, y)
  assert logits.shape == (2,)
  assert ("batch_stats" in variables) == (variant == "sngan")  # u, sigma of SN


def test_resnet_discriminator_parameter_count():
  w, c = 8, 3
  d = models.resnet.WGANGPDiscriminator(width=w)
  variables = jax.eval_shape(d.init, jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, c)))
  conv = lambda k, i, o: k * k * i * o + o
  expected = (conv(3, c, w) + conv(3, w, w) + conv(1, c, w)  # optimized block
              + 2 * conv(3, w, w) + conv(1, w, w)  # down-block with its shortcut
              + 2 * 2 * conv(3, w, w)  # two blocks, identity shortcuts
              + w + 1)  # linear
  assert _num_params(variables) == expected
  sngan = models.resnet.SNGANDiscriminator(width=w)
  assert _num_params(jax.eval_shape(sngan.init, jax.random.PRNGKey(0),
                                    jnp.zeros((2, 32, 32, c)))) == expected


def test_projection_discriminator_labels_enter_only_through_the_projection():
  d = models.resnet.Discriminator(width=4, num_classes=5)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 28, 28, 1))
  y1, y2 = jnp.array([0, 1, 2]), jnp.array([4, 1, 3])
  variables = jax.jit(d.init)(jax.random.PRNGKey(1), x, y1)
  apply = jax.jit(functools.partial(d.apply, mutable=["intermediates"]))
  out1, state = apply(variables, x, y1)
  out2, _ = apply(variables, x, y2)
  h = state["intermediates"]["features"][0]
  embed = variables["params"]["embed"]["embedding"]
  # Each out is the same linear part (equal to the bit in both calls) plus
  # the projection, a sum of h.shape[-1] products: the difference carries both
  # projections' errors and the two adds' roundings (|out1|, |out2|).
  magnitude = ((np.abs(embed[y1]) + np.abs(embed[y2])) * np.abs(h)).sum(-1)
  magnitude = (magnitude + np.abs(out1) + np.abs(out2)).max()
  np.testing.assert_allclose(out2 - out1, jnp.sum((embed[y2] - embed[y1]) * h, -1),
                             rtol=0, atol=float32.sum_bound(h.shape[-1] + 2, magnitude))
  # The same label: equal to the bit; another: ~2 apart, far above 1e-4.
  assert out2[1] == out1[1] and abs(out2[0] - out1[0]) > 1e-4


def test_conditional_batch_norm_scales_and_shifts_per_class():
  cbn = models.resnet.ConditionalBatchNorm(num_classes=3)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 2, 5))
  y = jnp.array([0, 2, 2, 1])
  variables = cbn.init(jax.random.PRNGKey(1), x, y, train=True)
  gamma = jax.random.normal(jax.random.PRNGKey(2), (3, 5))
  beta = jax.random.normal(jax.random.PRNGKey(3), (3, 5))
  params = {"scale": {"embedding": gamma}, "bias": {"embedding": beta}}
  out, _ = cbn.apply({**variables, "params": params}, x, y, train=True,
                     mutable=["batch_stats"])
  normalised = (x - x.mean((0, 1, 2))) / jnp.sqrt(x.var((0, 1, 2)) + 1e-5)
  want = normalised * gamma[y][:, None, None] + beta[y][:, None, None]
  # Two float32 evaluations of statistics over 4 x 2 x 2 = 16 values per
  # channel, possibly as mean(x^2) - mean^2: x_hat's error <= gamma(16 + 3)
  # (sqrt(mean(x^2)) / std + 1.5 |x_hat| mean(x^2) / std^2) (as in the VBN
  # test above), times |gamma|, plus beta's add.
  square, var = jnp.mean(x ** 2, (0, 1, 2)), x.var((0, 1, 2)) + 1e-5
  x_hat_error = (jnp.sqrt(square / var)
                 + 1.5 * jnp.abs(normalised).max((0, 1, 2)) * square / var)
  magnitude = float((x_hat_error * jnp.abs(gamma)).max() + jnp.abs(beta).max())
  np.testing.assert_allclose(out, want, rtol=0,
                             atol=float32.sum_bound(16 + 3, magnitude))


def test_conditional_generator_uses_conditional_batch_norm_in_its_blocks():
  g = models.resnet.Generator(image_size=28, channels=1, width=4, num_classes=3)
  z, y = jnp.ones((2, 8)), jnp.zeros(2, jnp.int32)
  params = jax.eval_shape(functools.partial(g.init, train=False),
                          jax.random.PRNGKey(0), z, y)["params"]
  for block in ("block0", "block1"):
    for norm in ("ConditionalBatchNorm_0", "ConditionalBatchNorm_1"):
      assert set(params[block][norm]) == {"scale", "bias"}  # no unconditional ones
      assert params[block][norm]["scale"]["embedding"].shape[0] == 3
  assert set(params["BatchNorm_0"]) == {"scale", "bias"}  # the last BN: plain
  with pytest.raises(ValueError, match="needs labels"):
    g.init(jax.random.PRNGKey(0), z, train=False)


@pytest.mark.parametrize("overrides, message", [
    (dict(name="resnet", variant="biggan"), "variant.*wgan_gp, sngan"),
    (dict(name="resnet", variant="sngan", image_size=64), r"resnet.*\(28, 32\)"),
    (dict(num_classes=10), "takes no labels.*resnet"),
    (dict(minibatch_stddev=-1), "minibatch_stddev must be >= 0"),
])
def test_check_rejects_bad_zoo_options(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.check(_model_config(**overrides))


# -- The model registry ----------------------------------------------------------

KINDS = {"dcgan": "unconditional", "infogan": "unconditional", "mlp": "unconditional", "resnet": "unconditional",
         "unrolled": "unconditional", "wgan_gp_mnist": "unconditional",
         "r3gan": "unconditional", "biggan": "class_conditional",
         "stylegan2": "unconditional",
         "cgan_mlp": "class_conditional", "cgan_dcgan": "class_conditional",
         "acgan": "class_conditional", "ssgan_mlp": "semi_supervised",
         "pix2pix": "paired", "srgan": "paired"}
# Values for the keys a model requires (it has no default for them).
_REQUIRED = dict(variant="sngan", g_z_units=6, g_y_units=6, d_x_units=6, d_y_units=6,
                 depth=2, d_widths=(6, 5), d_input_noise=0.3, d_hidden_noise=0.5)


def _minimal(name):
  """config.model with only the keys `name` needs: no defaults written out."""
  config = ml_collections.ConfigDict(dict(name=name, g_width=4, d_width=4))
  config.update({k: _REQUIRED[k] for k in models.spec(name).required})
  if name == "wgan_gp_mnist":  # the one model without the default size 32
    config.image_size = 28
  if KINDS[name] == "class_conditional":
    config.num_classes = 3
  if KINDS[name] == "semi_supervised":
    config.d_classes = 3
  return config


def test_every_model_has_a_spec_of_its_kind():
  assert models.names() == sorted(KINDS)
  assert {name: models.spec(name).kind for name in models.names()} == KINDS
  assert all(models.spec(name).kind in models.KINDS for name in models.names())


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_of_a_config(name):
  assert models.kind(_minimal(name)) == KINDS[name]


def test_resnet_is_class_conditional_with_classes():
  config = _minimal("resnet")
  config.num_classes = 10
  assert models.kind(config) == "class_conditional"
  g, d = models.create(config)
  assert g.num_classes == d.num_classes == 10


@pytest.mark.parametrize("call", [models.spec, lambda n: models.kind(_model_config(name=n)),
                                  lambda n: models.create(_model_config(name=n))])
def test_unknown_model_names_list_the_valid_ones(call):
  with pytest.raises(ValueError, match="Unknown model 'stylegan9'.*valid names: "
                     + ", ".join(sorted(KINDS))):
    call("stylegan9")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_missing_keys_take_the_spec_defaults(name):
  minimal = _minimal(name)
  written = ml_collections.ConfigDict({**models.SHARED_DEFAULTS,
                                       **models.spec(name).defaults, **minimal})
  assert repr(models.create(minimal)) == repr(models.create(written))


@pytest.mark.parametrize("name", sorted(n for n in KINDS if models.spec(n).required))
def test_a_missing_required_key_is_named(name):
  config = _minimal(name)
  key = models.spec(name).required[-1]
  del config[key]
  with pytest.raises(ValueError, match=f"needs config.model.{key}"):
    models.check(config)


def test_spec_defaults_are_the_shared_config_defaults():
  shared = common.model("dcgan")
  for name in models.names():
    for key, value in {**models.SHARED_DEFAULTS, **models.spec(name).defaults}.items():
      if key in shared:
        assert shared[key] == value, (name, key)


def test_names_by_kind_and_discriminator_norm_come_from_the_registry():
  assert models.names("paired") == ["pix2pix", "srgan"]
  assert models.names("semi_supervised") == ["ssgan_mlp"]
  assert sorted(sum((models.names(k) for k in models.KINDS), [])) == models.names()
  for name in models.names():
    config = _minimal(name)
    norm = models.discriminator_norm(config)
    assert norm == ("batch" if name in ("dcgan", "cgan_dcgan", "acgan", "infogan")
                    else None)


# --- WGAN-GP's official MNIST networks (gan_mnist.py) ---------------------------

def _wgan_gp_mnist(width=64):
  config = common.model("wgan_gp_mnist", image_size=28, channels=1, latent_dim=128,
                        g_width=width, d_width=width)
  models.check(config)
  g, d = models.create(config)
  g_vars = g.init(jax.random.PRNGKey(0), jnp.zeros((2, 128)))
  d_vars = d.init(jax.random.PRNGKey(1), jnp.zeros((2, 28, 28, 1)))
  return g, d, g_vars["params"], d_vars["params"]


def test_wgan_gp_mnist_has_the_official_layers_and_initialisation():
  """gan_mnist.py's layers at DIM = 64 (kernels as TF lays them out) and
  tflib's uniform initialisation: s = sqrt(2 / (fan_in + fan_out)) for a
  linear layer, sqrt(4 / (fan_in + fan_out)) for a convolution (fan_out =
  out k^2 / 4) and a transposed one (fan_in = in k^2 / 4); biases 0."""
  _, _, g_params, d_params = _wgan_gp_mnist()
  k = 25  # 5x5
  official = {  # name: (kernel shape, s)
      "input": ((128, 4096), np.sqrt(2 / (128 + 4096))),
      "deconv2": ((5, 5, 128, 256), np.sqrt(4 / (256 * k / 4 + 128 * k))),
      "deconv3": ((5, 5, 64, 128), np.sqrt(4 / (128 * k / 4 + 64 * k))),
      "deconv5": ((5, 5, 1, 64), np.sqrt(4 / (64 * k / 4 + 1 * k))),
      "conv1": ((5, 5, 1, 64), np.sqrt(4 / (1 * k + 64 * k / 4))),
      "conv2": ((5, 5, 64, 128), np.sqrt(4 / (64 * k + 128 * k / 4))),
      "conv3": ((5, 5, 128, 256), np.sqrt(4 / (128 * k + 256 * k / 4))),
      "output": ((4096, 1), np.sqrt(2 / (4096 + 1))),
  }
  params = {**g_params, **d_params}
  assert set(params) == set(official)
  for name, (shape, s) in official.items():
    kernel, bias = np.asarray(params[name]["kernel"]), np.asarray(params[name]["bias"])
    assert kernel.shape == shape and bias.shape == (shape[-2 if "deconv" in name else -1],)
    assert not bias.any(), name
    # U[-s sqrt 3, s sqrt 3] has std s; its sample std over n >= 1,600 values
    # has a relative standard error sqrt(0.8 / (4 n)) <= 1.2%: 6 of them.
    assert np.abs(kernel).max() <= s * np.sqrt(3) * (1 + 1e-6), name
    assert abs(kernel.std() / s - 1) < 6 * np.sqrt(0.8 / (4 * kernel.size)), name


def test_wgan_gp_mnist_maps_pixels_and_the_penalty_to_the_official_units():
  """G's images lie in [-1, 1] as 2 sigmoid - 1, D reads them as (y + 1) / 2,
  so the penalty on y with the config's target 1/2 and weight 40 is the
  official one on x = (y + 1) / 2 with target 1 and weight 10."""
  from jaxgan import losses

  from configs import wgan_gp as wgan_gp_config
  g, d, g_params, d_params = _wgan_gp_mnist(width=8)
  loss = wgan_gp_config.get_config("mnist").loss
  z = jax.random.normal(jax.random.PRNGKey(2), (6, 128))
  fake = g.apply({"params": g_params}, z)
  assert fake.shape == (6, 28, 28, 1) and float(jnp.abs(fake).max()) < 1
  real = jax.random.uniform(jax.random.PRNGKey(3), (6, 28, 28, 1), minval=-1, maxval=1)
  alpha = jax.random.uniform(jax.random.PRNGKey(4), (6,))
  critic_y = lambda y: d.apply({"params": d_params}, y)
  critic_x = lambda x: critic_y(2 * x - 1)  # the official D on [0, 1] pixels
  ours = loss.gp_weight * losses.gradient_penalty(critic_y, real, fake, alpha=alpha,
                                                  target=loss.gp_target)
  official = 10.0 * losses.gradient_penalty(critic_x, (real + 1) / 2, (fake + 1) / 2,
                                            alpha=alpha)
  # Two float32 evaluations of the same gradients (D's sums of <= 3,200
  # terms, three layers and the linear one) and a mean of 6 squares.
  np.testing.assert_allclose(ours, official, rtol=float32.network_bound(4, 3200))
