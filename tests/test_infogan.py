"""The InfoGAN-style networks of Lucic et al. 2018 (compare_gan's infogan.py):
layer sizes, initialisation, BatchNorm settings, output range, the D
normalisation switch, the checks, and two training steps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import infogan
from jaxgan.train import trainer

from configs import common
from conftest import tiny_config


def _variables(module, x):
  return jax.eval_shape(functools.partial(module.init, train=False),
                        jax.random.PRNGKey(0), x)


def _count(variables):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3)])
def test_layer_sizes_are_compare_gans(size, channels):
  """G: fc 1024, fc 128 (h/4)(w/4), deconv 64, deconv c, each with a bias, BN
  (scale, offset) after the first three; D: conv 64, conv 128, fc 1024, fc 1,
  BN after conv 128 and fc 1024. z of 64, as in the study."""
  side, z = size // 4, 64
  g, d = models.create(common.model("infogan", image_size=size, channels=channels,
                                    latent_dim=z))
  g_expected = (z * 1024 + 1024 + 2 * 1024
                + 1024 * 128 * side ** 2 + 128 * side ** 2 + 2 * 128 * side ** 2
                + 16 * 128 * 64 + 64 + 2 * 64
                + 16 * 64 * channels + channels)
  d_expected = (16 * channels * 64 + 64
                + 16 * 64 * 128 + 128 + 2 * 128
                + 128 * side ** 2 * 1024 + 1024 + 2 * 1024
                + 1024 + 1)
  assert _count(_variables(g, jnp.zeros((2, z)))) == g_expected
  assert _count(_variables(d, jnp.zeros((2, size, size, channels)))) == d_expected


def test_images_are_in_range_and_d_gives_one_logit_each():
  g = infogan.Generator(image_size=28, channels=1, width=8)
  d = infogan.Discriminator(image_size=28, width=8)
  z = 10.0 * jax.random.normal(jax.random.PRNGKey(1), (5, 16))
  g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
  images = g.apply(g_vars, z, train=False)
  assert images.shape == (5, 28, 28, 1)
  # 2 sigmoid - 1: inside [-1, 1], and not constant.
  assert jnp.all(jnp.abs(images) <= 1.0) and jnp.std(images) > 0
  d_vars = d.init(jax.random.PRNGKey(2), images, train=False)
  assert d.apply(d_vars, images, train=False).shape == (5,)


def test_kernels_start_from_normal_002_and_biases_from_zero():
  g = infogan.Generator(image_size=28, channels=1, width=16)
  params = g.init(jax.random.PRNGKey(0), jnp.zeros((2, 64)), train=False)["params"]
  kernel = np.asarray(params["fc2"]["kernel"])  # 256 x 6,272 draws
  # The sample std of n = 1.6M normal draws is within 5 sqrt(1 / (2 n)) =
  # 0.3% of 0.02; the mean within 5 * 0.02 / sqrt(n).
  assert abs(kernel.std() / 0.02 - 1) < 5 / np.sqrt(2 * kernel.size)
  assert abs(kernel.mean()) < 5 * 0.02 / np.sqrt(kernel.size)
  assert not np.any(np.asarray(params["fc2"]["bias"]))
  assert not np.any(np.asarray(params["deconv3"]["bias"]))
  np.testing.assert_array_equal(params["bn1"]["scale"], 1.0)


def test_batch_norm_has_compare_gans_decay_and_epsilon():
  """decay 0.999: one training batch moves the running mean 0.001 of the way
  to the batch mean (from 0); epsilon 1e-3 in the normalisation."""
  x = jax.random.normal(jax.random.PRNGKey(0), (16, 3)) * 0.1 + 2.0
  bn = infogan._batch_norm(True, jnp.float32, None, "bn")
  variables = bn.init(jax.random.PRNGKey(1), x)
  y, updates = bn.apply(variables, x, mutable=["batch_stats"])
  x64 = np.asarray(x, np.float64)
  mean, var = x64.mean(0), x64.var(0)
  # float32: means and mean squares of 16 terms of size <= 3 (each within
  # float32.gamma(17) ~ 1e-6 of its sum of magnitudes, 3 and 9), the variance
  # their difference (cancellation: ~2e-5 absolute against var ~0.01, 0.2%),
  # divided into x - mean ~ 0.3: ~1e-5 absolute; 1e-4 leaves 10x. epsilon
  # 1e-5 instead of 1e-3 would move y by ~5%, decay 0.99 the mean 10x; the
  # running mean is one product of the batch mean: gamma(18) relative.
  np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-3), atol=1e-4)
  np.testing.assert_allclose(updates["batch_stats"]["mean"], 0.001 * mean, rtol=1e-5)


def test_d_norm_none_has_no_batch_norm():
  x = jnp.zeros((2, 28, 28, 1))
  with_bn = _variables(infogan.Discriminator(image_size=28, width=4), x)
  without = _variables(infogan.Discriminator(image_size=28, width=4, norm="none"), x)
  assert {"bn2", "bn3"} <= set(with_bn["params"]) and "batch_stats" in with_bn
  assert not {"bn2", "bn3"} & set(without["params"]) and "batch_stats" not in without


@pytest.mark.parametrize("override,message", [
    (dict(image_size=64), r"image sizes \(28, 32\)"),
    (dict(d_norm="layer"), "not one of the InfoGAN discriminator's: batch, none"),
    (dict(conv_impl="xla"), "Unknown config.model.conv_impl 'xla'"),
])
def test_bad_configs_are_refused_with_the_valid_values(override, message):
  config = common.model("infogan", image_size=28)
  config.update(override)
  with pytest.raises(ValueError, match=message):
    models.check(config)


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_d_norm_switches_ds_batchnorm(norm):
  config = common.model("infogan", image_size=28)
  config.d_norm = norm
  _, d = models.create(config)
  assert d.norm == norm


def test_trains_two_steps(tmp_path):
  config = tiny_config()
  config.model.update(name="infogan", latent_dim=8, g_width=4, d_width=4)
  config.train.num_steps = 2
  state = trainer.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.generator.params))
