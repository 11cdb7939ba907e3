"""DCGAN generator and discriminator: shapes, parameter counts, errors."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import dcgan, layers


def _num_params(variables):
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("image_size", [28, 32, 64])
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
  with pytest.raises(ValueError, match=r"\(28, 32, 64\)"):
    g.init(jax.random.PRNGKey(0), jnp.zeros((1, 8)))


def test_discriminator_rejects_images_of_another_size():
  d = dcgan.Discriminator(image_size=32, width=4)
  with pytest.raises(ValueError, match="32x32"):
    d.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))


def _model_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="dcgan", image_size=32, channels=1, latent_dim=8, g_width=4, d_width=4,
      d_batch_norm=True, dtype="float32", conv_impl="matmul"))
  config.update(overrides)
  return config


def test_create_builds_the_named_model():
  g, d = models.create(_model_config(channels=3, g_width=5), axis_name="batch")
  assert (g.channels, g.width, g.axis_name) == (3, 5, "batch")
  assert isinstance(d, dcgan.Discriminator)


@pytest.mark.parametrize("overrides, message", [
    (dict(name="stylegan9"), "valid names: dcgan"),
    (dict(image_size=48), "image sizes"),
    (dict(dtype="float8"), "float32, bfloat16"),
    (dict(g_width=0), "g_width must be positive"),
])
def test_check_rejects_bad_model_configs(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.check(_model_config(**overrides))


@pytest.mark.parametrize("height, width, channels, features", [(4, 4, 6, 5), (7, 5, 3, 2)])
def test_upconv_is_the_transposed_convolution(height, width, channels, features):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, channels))
  reference = nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
  upconv = layers.UpConv(features)
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
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  for g, w in zip(jax.tree.leaves(got_grads), jax.tree.leaves(want_grads)):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("height, width", [(8, 8), (14, 6)])
def test_downconv_is_the_strided_convolution(height, width):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, 3))
  _assert_same_function_and_gradients(
      nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1))), layers.DownConv(5), x)


def test_denseconv_is_the_valid_convolution_covering_its_input():
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 7, 4))
  _assert_same_function_and_gradients(nn.Conv(2, (7, 7), padding="VALID"),
                                      layers.DenseConv(2), x)


@pytest.mark.parametrize("image_size", [28, 32])
def test_discriminator_is_the_same_function_with_either_conv_impl(image_size):
  x = jax.random.normal(jax.random.PRNGKey(0), (4, image_size, image_size, 3))
  matmul = dcgan.Discriminator(image_size=image_size, width=4, conv_impl="matmul")
  xla = matmul.clone(conv_impl="xla")
  variables = jax.jit(matmul.init)(jax.random.PRNGKey(1), x)
  np.testing.assert_allclose(
      jax.jit(functools.partial(matmul.apply, train=False))(variables, x),
      jax.jit(functools.partial(xla.apply, train=False))(variables, x),
      rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("image_size", [28, 32])
def test_generator_is_the_same_function_with_either_conv_impl(image_size):
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
  matmul = dcgan.Generator(image_size=image_size, channels=3, width=4,
                           conv_impl="matmul")
  xla = matmul.clone(conv_impl="xla")
  variables = jax.jit(matmul.init)(jax.random.PRNGKey(1), z)
  assert (jax.tree.map(jnp.shape, variables)
          == jax.tree.map(jnp.shape, jax.eval_shape(xla.init, jax.random.PRNGKey(1), z)))
  np.testing.assert_allclose(
      jax.jit(functools.partial(matmul.apply, train=False))(variables, z),
      jax.jit(functools.partial(xla.apply, train=False))(variables, z),
      rtol=1e-5, atol=1e-6)
