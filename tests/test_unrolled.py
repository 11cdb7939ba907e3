"""Unrolled GAN's small Stacked MNIST networks, as PacGAN's Table 3 code
(fjxmlzn/PacGAN unrolled_GAN_experiment/D=0.25G model.py, ops.py): layer
sizes, TensorFlow's 'SAME' strided convolutions and transposed convolutions
against loops written from their definitions, BatchNorm settings, packing,
and the Table 3 config."""

import functools
import importlib

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import unrolled


def _variables(module, x):
  return jax.eval_shape(functools.partial(module.init, train=False),
                        jax.random.PRNGKey(0), x)


def _count(variables):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("d_width,pack", [(2, 1), (4, 1), (2, 4)])
def test_layer_sizes_are_the_official_codes(d_width, pack):
  """G: linear 256 -> 4x4x64 (+ bias), BN (scale, offset); deconvs 3x3 to 32,
  16, 8 with biases and BN; conv 3x3 to 3 with a bias. D: convs 3x3 to w, 2w,
  4w with biases and BN each, linear 4x4x4w -> 1 with a bias."""
  g, d = models.create(_model_config(d_width, pack))
  g_expected = (256 * 1024 + 1024 + 2 * 64
                + 9 * 64 * 32 + 32 + 2 * 32
                + 9 * 32 * 16 + 16 + 2 * 16
                + 9 * 16 * 8 + 8 + 2 * 8
                + 9 * 8 * 3 + 3)
  w = d_width
  d_expected = (9 * 3 * pack * w + w + 2 * w
                + 9 * w * 2 * w + 2 * w + 4 * w
                + 9 * 2 * w * 4 * w + 4 * w + 8 * w
                + 16 * 4 * w + 1)
  assert _count(_variables(g, jnp.zeros((2, 256)))) == g_expected
  assert _count(_variables(d, jnp.zeros((2 * pack, 28, 28, 3)))) == d_expected


def _model_config(d_width, pack):
  from configs import common
  return common.model("unrolled", image_size=28, channels=3, latent_dim=256, g_width=8,
                      d_width=d_width, pack=pack)


def _tf_conv(x, kernel, stride):
  """tf.nn.conv2d(x, kernel, stride, 'SAME') from its definition: the output
  size is ceil(n / stride) and the missing rows/columns are padded, the odd
  one at the bottom/right."""
  n, k = x.shape[1], kernel.shape[0]
  out = -(-n // stride)
  total = max((out - 1) * stride + k - n, 0)
  lo = total // 2
  xp = np.pad(x, ((0, 0), (lo, total - lo), (lo, total - lo), (0, 0)))
  y = np.zeros((x.shape[0], out, out, kernel.shape[3]))
  for i in range(out):
    for j in range(out):
      patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k]
      y[:, i, j] = np.einsum("bhwc,hwco->bo", patch, kernel)
  return y


def _tf_conv_transpose(x, kernel, size):
  """tf.nn.conv2d_transpose(x, kernel (k, k, out, in), (B, size, size, out),
  stride 2, 'SAME'): each input pixel scatters its kernel-weighted copy at
  2 * position - (padding before) of the output."""
  k = kernel.shape[0]
  total = max((x.shape[1] - 1) * 2 + k - size, 0)
  lo = total // 2
  y = np.zeros((x.shape[0], size + total + k, size + total + k, kernel.shape[2]))
  for i in range(x.shape[1]):
    for j in range(x.shape[2]):
      y[:, 2 * i:2 * i + k, 2 * j:2 * j + k] += np.einsum("bc,hwoc->bhwo", x[:, i, j], kernel)
  return y[:, lo:lo + size, lo:lo + size]


@pytest.mark.parametrize("size", [7, 14, 28])
def test_transposed_conv_is_tensorflows(size):
  rng = np.random.default_rng(size)
  small = -(-size // 2)
  x = rng.normal(size=(2, small, small, 5)).astype(np.float32)
  layer = unrolled._TransposedConv(3, size)
  variables = layer.init(jax.random.PRNGKey(0), x)
  kernel = np.asarray(variables["params"]["kernel"], np.float64)
  y = np.asarray(layer.apply(variables, x))
  expected = _tf_conv_transpose(x.astype(np.float64), kernel, size)
  assert y.shape == expected.shape == (2, size, size, 3)
  # Each output sums at most 9 * 5 products of |x| <= 5 and |w| <= 0.1.
  np.testing.assert_allclose(y, expected, rtol=0, atol=float32.sum_bound(45, 45 * 0.5))
  assert np.abs(expected).max() > 0.01


@pytest.mark.parametrize("size,stride", [(28, 2), (14, 2), (7, 2), (28, 1)])
def test_conv_is_tensorflows_same_conv(size, stride):
  rng = np.random.default_rng(size + stride)
  x = rng.normal(size=(2, size, size, 4)).astype(np.float32)
  layer = unrolled._Conv(3, stride=stride)
  variables = layer.init(jax.random.PRNGKey(0), x)
  kernel = np.asarray(variables["params"]["kernel"], np.float64)
  y = np.asarray(layer.apply(variables, x))
  expected = _tf_conv(x.astype(np.float64), kernel, stride)
  assert y.shape == expected.shape
  np.testing.assert_allclose(y, expected, rtol=0, atol=float32.sum_bound(36, 36 * 0.5))


@pytest.mark.parametrize("size", [28, 32])
def test_images_are_in_range_and_d_gives_one_logit_per_pack(size):
  g = unrolled.Generator(image_size=size)
  z = jax.random.normal(jax.random.PRNGKey(1), (8, 256))
  g_vars = jax.jit(functools.partial(g.init, train=False))(jax.random.PRNGKey(0), z)
  images, _ = jax.jit(functools.partial(g.apply, mutable=["batch_stats"]))(g_vars, z)
  assert images.shape == (8, size, size, 3)
  assert jnp.all(jnp.abs(images) <= 1.0) and jnp.std(images) > 0
  for pack in (1, 4):
    d = unrolled.Discriminator(image_size=size, width=2, pack=pack)
    d_vars = jax.jit(functools.partial(d.init, train=False))(jax.random.PRNGKey(2), images)
    assert d_vars["params"]["conv0"]["kernel"].shape == (3, 3, 3 * pack, 2)
    apply = jax.jit(functools.partial(d.apply, train=False))
    logits = apply(d_vars, images)
    assert logits.shape == (8 // pack,)
    changed = apply(d_vars, images.at[-pack:].add(1.0))
    np.testing.assert_array_equal(changed[:-1], logits[:-1])
    assert changed[-1] != logits[-1]


def test_initialisation_is_the_official_codes():
  """Dense and transposed-conv kernels N(0, 0.02); conv kernels N(0, 0.02)
  truncated at 2 std (TF's truncated_normal_initializer: no value beyond
  0.04, std 0.88 * 0.02); biases 0; BN scale 1."""
  init = jax.jit(functools.partial(unrolled.Generator().init, train=False))
  params = init(jax.random.PRNGKey(0), jnp.zeros((2, 256)))["params"]
  dense = np.asarray(params["fc0"]["kernel"])  # 262,144 draws
  # Sample std of n normal draws: within 5 sqrt(1 / (2n)) relative.
  assert abs(dense.std() / 0.02 - 1) < 5 / np.sqrt(2 * dense.size)
  deconv = np.asarray(params["deconv1"]["kernel"])
  assert abs(deconv.std() / 0.02 - 1) < 5 / np.sqrt(2 * deconv.size)
  assert np.abs(deconv).max() > 0.04  # not truncated: 18,432 draws, P(none) ~ 0
  init = jax.jit(functools.partial(unrolled.Discriminator(width=16).init, train=False))
  d = init(jax.random.PRNGKey(1), jnp.zeros((2, 28, 28, 3)))["params"]
  conv = np.asarray(d["conv2"]["kernel"])  # 9 x 32 x 64 draws
  assert np.abs(conv).max() <= 0.04
  # The std of N(0, 1) truncated to [-2, 2] is 0.8796; the sample std's
  # relative standard error is below sqrt(1 / (2n)) * 1.2 for this law.
  assert abs(conv.std() / (0.8796 * 0.02) - 1) < 6 / np.sqrt(2 * conv.size)
  for layer in ("fc0", "deconv1", "conv4"):
    assert not np.any(np.asarray(params[layer]["bias"]))
  np.testing.assert_array_equal(params["bn0"]["scale"], 1.0)


def test_batch_norm_has_tensorflows_decay_and_epsilon():
  """decay 0.9: a training batch moves the running mean 0.1 of the way to the
  batch mean; epsilon 1e-5."""
  x = jax.random.normal(jax.random.PRNGKey(0), (16, 3)) * 0.01 + 2.0
  bn = unrolled._batch_norm(True, jnp.float32, None, "bn")
  variables = bn.init(jax.random.PRNGKey(1), x)
  y, updates = bn.apply(variables, x, mutable=["batch_stats"])
  x64 = np.asarray(x, np.float64)
  mean, var = x64.mean(0), x64.var(0)
  # float32: var ~1e-4 from mean squares ~4 (cancellation: ~gamma(17) * 4 ~
  # 4e-6 absolute, 4% of var, 2% of its square root), so y is within ~0.02
  # of float64's at |y| <= 3: atol 0.1. epsilon 1e-3 (compare_gan) instead
  # of 1e-5 would shrink y by a factor 0.3, so it fails.
  np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-5), atol=0.1)
  np.testing.assert_allclose(updates["batch_stats"]["mean"], 0.1 * mean, rtol=1e-5)


def test_other_image_sizes_are_refused():
  config = _model_config(2, 1)
  config.image_size = 64
  with pytest.raises(ValueError, match=r"supports image sizes \(28, 32\)"):
    models.check(config)


def test_table3_config_is_the_official_codes():
  stacked = importlib.import_module("configs.stacked_mnist")
  config = stacked.get_config("pac4_quarter")
  assert (config.model.name, config.model.latent_dim, config.model.g_width,
          config.model.d_width, config.model.pack) == ("unrolled", 256, 8, 2, 4)
  assert (config.optimizer.g.learning_rate, config.optimizer.d.learning_rate,
          config.optimizer.d.b1, config.optimizer.d.b2) == (1e-4, 2e-4, 0.5, 0.99)
  assert (config.train.batch_size, config.train.n_critic, config.train.ema_decay,
          config.train.num_steps, config.evals.num_samples) == (512, 1, 0.0, 500_000, 25_600)
  assert config.loss.name == "non_saturating"
  assert stacked.get_config("dcgan_half").model.d_width == 4
  with pytest.raises(ValueError, match="SIZE is one of quarter, half"):
    stacked.get_config("minibatch_quarter")
