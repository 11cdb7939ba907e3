"""The pieces of improved-gan's semi-supervised MNIST GAN (configs/ssgan.py):
weight normalisation with data-dependent initialisation, the Gaussian noise
layer, its generator, and Polyak averaging of D's weights, each against its
formula. (The config itself trains, end to end, in test_conditional.py.)"""

import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgan import data as data_lib
from jaxgan import models
from jaxgan.models import conditional, layers, mlp
from jaxgan.train import polyak, setup
from jaxgan.train import state as state_lib

from configs import ssgan


def _init(module, x, **kwargs):
  return module.init(jax.random.PRNGKey(0), x, **kwargs)


def _standardised_error(x, kernel, batch):
  """How far a weight-normalised layer's float32 pre-activations, standardised
  with float32 batch statistics over `batch` examples (data-dependent init),
  can be from standardised (mean 0, std 1), in units of their std: the
  float32 dot products x V / ||V|| (fan-in n and V's norm: sum_bound(n + 1,
  |x| |V / ||V|||)) and the batch mean and squared deviations (sum_bound(batch,
  mean |x V / ||V|||)), divided by the pre-activations' std (as computed in
  float64 here)."""
  x, v = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  direction = v / np.linalg.norm(v, axis=0)
  pre = x @ direction
  dots = float32.sum_bound(x.shape[1] + 1, np.max(np.abs(x) @ np.abs(direction)))
  means = float32.sum_bound(batch, np.max(np.mean(np.abs(pre), axis=0)))
  return (dots + means) / np.min(pre.std(axis=0))


def test_weight_norm_dense_is_its_formula():
  """y = g * x V / ||V||_col + b, whatever V's scale."""
  x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
  layer = layers.WeightNormDense(3)
  params = _init(layer, x)["params"]
  rng = np.random.default_rng(1)
  params = {"kernel": jnp.asarray(rng.normal(size=(7, 3)) * 3, jnp.float32),
            "scale": jnp.asarray(rng.uniform(0.5, 2, 3), jnp.float32),
            "bias": jnp.asarray(rng.normal(size=3), jnp.float32)}
  v = np.asarray(params["kernel"], np.float64)
  direction = v / np.linalg.norm(v, axis=0)
  want = (x @ direction) * np.asarray(params["scale"]) + np.asarray(params["bias"])
  # float32 against float64: a dot product of 7 terms after V's norm (7 more),
  # the scale and the bias: sum_bound(7 + 4) of g |x| |V / ||V||| + |b| (6.4e-6
  # here, for |y| >= 0.45; rtol=atol=1e-5 before: looser than needed).
  magnitude = np.max(np.abs(x) @ np.abs(direction) * np.asarray(params["scale"])
                     + np.abs(np.asarray(params["bias"])))
  np.testing.assert_allclose(layer.apply({"params": params}, x), want, rtol=0,
                             atol=float32.sum_bound(7 + 4, magnitude))


def test_weight_norm_data_init_standardises_the_pre_activations():
  """With 'params' mutable, g <- g / std, b <- -mean / std of the
  pre-activations on the batch (improved-gan's init_updates), and the pass
  returns them standardised; a later call on the same batch gives the same."""
  x = np.random.default_rng(0).normal(2.0, 3.0, size=(64, 10)).astype(np.float32)
  layer = layers.WeightNormDense(4)
  variables = _init(layer, x)
  np.testing.assert_array_equal(variables["params"]["scale"], np.ones(4))
  out, updated = layer.apply(variables, x, mutable=["params"])
  # The init's float32 statistics, the second pass's own dot products and
  # NumPy's float32 mean and std of y (sum_bound(64) of |y| <= 4): 6.7e-5 here
  # (atol=1e-5 before: too tight for the dot products of |x| up to 13; rtol
  # 1e-4: looser than needed).
  tol = 2 * _standardised_error(x, variables["params"]["kernel"], 64) + float32.sum_bound(
      64, 4.0)
  for y in (out, layer.apply(updated, x)):
    np.testing.assert_allclose(np.mean(y, 0), 0, atol=tol)
    np.testing.assert_allclose(np.std(y, 0), 1, rtol=tol)
  np.testing.assert_array_equal(updated["params"]["kernel"], variables["params"]["kernel"])


def test_fixed_scale_gets_no_gradient():
  x = jnp.ones((3, 4))
  for train_scale in (True, False):
    layer = layers.WeightNormDense(2, train_scale=train_scale)
    params = _init(layer, x)["params"]
    grads = jax.grad(lambda p, layer=layer: jnp.sum(layer.apply({"params": p}, x) ** 2))(params)
    assert bool(jnp.any(grads["scale"] != 0)) == train_scale
    assert jnp.any(grads["kernel"] != 0)


def test_gaussian_noise_adds_noise_of_its_std_in_training_only():
  x = jnp.zeros((200_000,))
  noise = layers.GaussianNoise(0.5)
  np.testing.assert_array_equal(noise.apply({}, x, train=False), x)
  y = noise.apply({}, x, train=True, rngs={"dropout": jax.random.PRNGKey(3)})
  # Not rounding: the sample std of 200,000 draws, within 4 of its standard
  # errors (0.5 / sqrt(2 n) = 7.9e-4). Taken in float64: a float32 std of
  # 200,000 terms may be gamma(200,000) / 2 = 6e-3 of it off in some summation
  # order (3.8 standard errors).
  assert abs(float(np.std(np.asarray(y, np.float64))) - 0.5) < 4 * 0.5 / np.sqrt(2 * x.size)
  again = noise.apply({}, x, train=True, rngs={"dropout": jax.random.PRNGKey(3)})
  np.testing.assert_array_equal(again, y)


def test_improved_gan_generator_layers_and_range():
  """Hidden dense layers without bias, BatchNorm with a shift but no scale,
  a weight-normalised output; samples in [-1, 1] (2 sigmoid - 1), and the
  latent enters as Phi(z), uniform in [0, 1)."""
  g = mlp.FeatureMatchingGenerator(output_shape=(4, 4, 1), width=6, depth=2)
  z = jax.random.normal(jax.random.PRNGKey(0), (8, 5))
  variables = _init(g, z, train=False)
  params = variables["params"]
  assert set(params["Dense_0"]) == {"kernel"} and set(params["BatchNorm_0"]) == {"bias"}
  assert set(params["output"]) == {"kernel", "scale", "bias"}
  x, _ = g.apply(variables, z, train=True, mutable=["batch_stats"])
  assert x.shape == (8, 4, 4, 1) and jnp.all(jnp.abs(x) <= 1)
  # The first layer sees Phi(z): a kernel row for a coordinate that Phi maps
  # to ~0 (z = -10) contributes nothing.
  first = jax.scipy.special.ndtr(z.at[:, 0].set(-10.0))
  np.testing.assert_allclose(first[:, 0], 0, atol=1e-20)  # Phi(-10) = 7.6e-24
  bumped = jax.tree.map(jnp.copy, params)
  bumped["Dense_0"]["kernel"] = bumped["Dense_0"]["kernel"].at[0].add(5.0)
  low = z.at[:, 0].set(-10.0)
  a = g.apply({**variables, "params": params}, low, train=False)
  b = g.apply({**variables, "params": bumped}, low, train=False)
  # The bump adds 5 Phi(-10) = 3.8e-23 to pre-activations of size ~0.1, below
  # their ulp: the same program on the same floats, a and b equal; atol=1e-6
  # (17 U of outputs in [-1, 1]) only guards. A bump that counted would move
  # outputs by O(0.1).
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_polyak_average_is_the_bias_corrected_official_average():
  """a <- a + (1 - decay) (p - a) from a = 0 after each update (improved-gan),
  read as a / (1 - decay^t); the updates pass through unchanged."""
  decay = 0.9
  tx = optax.chain(optax.sgd(0.1), polyak.polyak_averaging(decay))
  params = {"w": jnp.array([1.0, -2.0])}
  state = tx.init(params)
  assert polyak.averaged_params(state) is None  # no update yet
  a = np.zeros(2)
  rng = np.random.default_rng(0)
  for t in range(1, 6):
    grads = {"w": jnp.asarray(rng.normal(size=2), jnp.float32)}
    updates, state = tx.update(grads, state, params)
    # float32's 0.1 (U / 2) and a product, on both sides (rtol=1e-6 before:
    # looser than needed).
    np.testing.assert_allclose(updates["w"], -0.1 * grads["w"], rtol=float32.gamma(3))
    params = optax.apply_updates(params, updates)
    a = a + (1 - decay) * (np.asarray(params["w"]) - a)
    # float32 against float64: 4 roundings per update (t <= 5) and the bias
    # correction (4 more) on values within |p| + |a| <= 3 |a / (1 - decay^t)|
    # (p ~ the average): gamma(3 * 24) = 4.3e-6 (1e-5 before: looser than
    # needed). An average without bias correction is off by 10% or more.
    np.testing.assert_allclose(polyak.averaged_params(state)["w"], a / (1 - decay ** t),
                               rtol=float32.gamma(3 * 24))
  assert polyak.averaged_params(optax.adam(1e-3).init(params)) is None


def _tiny_ssgan():
  config = ssgan.get_config()
  config.model.update(g_width=8, d_widths=(16, 12), latent_dim=4, data_init_examples=40)
  return config


def test_init_from_data_standardises_every_layer_of_d():
  """After `setup.init_from_data` (noise off to see it), each of D's hidden
  layers' pre-activations on the init images have mean 0 and std 1, layer
  after layer (the init pass normalises each before the next sees it)."""
  config = _tiny_ssgan()
  config.model.update(d_input_noise=0.0, d_hidden_noise=0.0)
  images = np.random.default_rng(0).integers(0, 256, (40, 28, 28, 1), np.uint8)
  dataset = data_lib.ImageDataset(images, np.arange(40) % 10, 10, "random")
  g, d = models.create(config.model)
  state = state_lib.create(jax.random.PRNGKey(0), g, d, optax.sgd(0.1), optax.sgd(0.1),
                           latent_dim=4, image_shape=(28, 28, 1), ema_decay=0.0)
  state = setup.init_from_data(config, state, dataset)
  params = state.discriminator.params
  x = (data_lib.to_float(images).reshape(40, -1) + 1) / 2  # d_unit_input
  tol = 0.0
  for i in range(2):
    body = conditional.NoisyMLP(widths=(16, 12)[:i + 1], input_noise=0.0, hidden_noise=0.0,
                                weight_norm=True, unit_input=True)
    sub = {f"Dense_{j}": params["discriminator"][f"Dense_{j}"] for j in range(i + 1)}
    h = body.apply({"params": sub}, data_lib.to_float(images), train=False)
    # ReLU of a standardised pre-activation: recover it where positive; the
    # pre-activation itself from the layer's formula.
    w = sub[f"Dense_{i}"]
    prev = x if i == 0 else np.asarray(conditional.NoisyMLP(
        widths=(16,), input_noise=0.0, hidden_noise=0.0, weight_norm=True,
        unit_input=True).apply({"params": {"Dense_0": sub["Dense_0"]}},
                               data_lib.to_float(images), train=False))
    v = np.asarray(w["kernel"], np.float64)
    pre = (prev @ (v / np.linalg.norm(v, axis=0))) * np.asarray(w["scale"]) + np.asarray(
        w["bias"])
    # float64 here against the init's float32 statistics and the float32 h:
    # each layer's dot products (784 and 16 terms of |x| |V / ||V|||) and batch
    # statistics over 40 images, in units of the pre-activations' std
    # (_standardised_error), earlier layers' errors carried with gain <= 1 (as
    # float32.network_bound): 5.2e-3 for both layers (the first's std is 0.22
    # where its dot products' absolute terms sum to 12; atol=1e-4 and rtol=1e-3
    # before: too tight).
    # Without the data-dependent init, means are O(1) and stds 0.3.
    tol += _standardised_error(prev, w["kernel"], 40)
    np.testing.assert_allclose(pre.mean(0), 0, atol=tol)
    np.testing.assert_allclose(pre.std(0), 1, rtol=tol)
    np.testing.assert_allclose(np.maximum(pre, 0), h, atol=tol)


def test_a_model_without_data_init_is_left_as_it_is():
  config = ml_collections.ConfigDict(ssgan.get_config().to_dict())
  config.model.weight_norm = False
  assert models.data_init_examples(config.model) == 0
  state = object()
  assert setup.init_from_data(config, state, None) is state


def test_weight_norm_needs_init_examples():
  config = _tiny_ssgan()
  config.model.data_init_examples = 1
  with pytest.raises(ValueError, match="data_init_examples"):
    models.check(config.model)


def test_adam_eps_root_is_a_constant_of_the_optimizer():
  """optimizer.eps_root (improved-gan's Theano Adam: g / sqrt(v + 1e-8)) gives
  optax.adam(eps=0, eps_root=1e-8)'s steps; the optimizer state (what a
  checkpoint holds) has the layout it had before eps and eps_root were
  options, with their values."""
  from configs import common
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  grads = {"w": jnp.array([1e-6, -0.5, 2e-5])}
  theano = common.optimizer("adam", 1e-3, eps=0.0, eps_root=1e-8)
  want = optax.adam(1e-3, b1=0.5, eps=0.0, eps_root=1e-8)
  for config, reference in ((theano, want), (common.optimizer("adam", 1e-3),
                                             optax.adam(1e-3, b1=0.5))):
    tx = setup.make_optimizer(config)
    state = tx.init(params)
    before = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, b1=0.5, b2=0.999)
    assert jax.tree.structure(state) == jax.tree.structure(before.init(params))
    assert float(state.hyperparams["eps_root"]) == pytest.approx(config.eps_root)
    updates, _ = tx.update(grads, state, params)
    expected, _ = reference.update(grads, reference.init(params), params)
    # The same formula, its hyperparameters as float32 arrays: float32's 0.999
    # makes 1 - b2 a relative 1.3e-5 off, so where one side takes 1 - b2 from
    # it and the other from 0.999 in float64 (v, or its bias correction), v
    # moves by 1.3e-5 and the step by half that, 6.5e-6, plus < 20 roundings
    # (1.2e-6): < 2e-5. eps_root = 0 instead of 1e-8 would move w[0] by 100x.
    np.testing.assert_allclose(updates["w"], expected["w"], rtol=2e-5)
  # the constants matter for small gradients: eps inside the root damps them
  # (not rounding: by 100x here, g / sqrt(g^2 + 1e-8) against g / (|g| + 1e-8))
  a, _ = setup.make_optimizer(theano).update(grads, setup.make_optimizer(theano).init(params))
  b, _ = optax.adam(1e-3, b1=0.5).update(grads, optax.adam(1e-3, b1=0.5).init(params))
  assert abs(float(a["w"][0])) < 0.1 * abs(float(b["w"][0]))
