"""Tests for jaxgan.losses: values, shapes, stability, gradients, registry."""

import functools
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

LOG2 = math.log(2.0)

REQUIRED_NAMES = {
    "non_saturating",
    "minimax",
    "wasserstein",
    "hinge",
    "least_squares",
    "relativistic_average",
    "relativistic_average_least_squares",
}


# ---------------------------------------------------------------------------
# Independent float64 NumPy references, written from the papers' formulas.
# ---------------------------------------------------------------------------


def _np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _np_bce(x, t):
  p = _np_sigmoid(x)
  return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def _np_reference(name, r, f):
  """(d_loss, g_loss) for moderate logits, straight from the definitions."""
  r = np.asarray(r, np.float64)
  f = np.asarray(f, np.float64)
  if name in ("non_saturating", "minimax"):
    d = np.mean(-np.log(_np_sigmoid(r))) + np.mean(-np.log(1 - _np_sigmoid(f)))
    if name == "minimax":
      g = np.mean(np.log(1 - _np_sigmoid(f)))
    else:
      g = np.mean(-np.log(_np_sigmoid(f)))
  elif name == "wasserstein":
    d, g = np.mean(f) - np.mean(r), -np.mean(f)
  elif name == "hinge":
    d = np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))
    g = -np.mean(f)
  elif name == "least_squares":
    d = 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2)
    g = 0.5 * np.mean((f - 1) ** 2)
  elif name == "relativistic_average":
    rr, ff = r - f.mean(axis=0), f - r.mean(axis=0)
    d = np.mean(_np_bce(rr, 1)) + np.mean(_np_bce(ff, 0))
    g = np.mean(_np_bce(ff, 1)) + np.mean(_np_bce(rr, 0))
  elif name == "relativistic_average_least_squares":
    rr, ff = r - f.mean(axis=0), f - r.mean(axis=0)
    d = np.mean((rr - 1) ** 2) + np.mean((ff + 1) ** 2)
    g = np.mean((ff - 1) ** 2) + np.mean((rr + 1) ** 2)
  else:
    raise KeyError(name)
  return d, g


def _logits(seed, shape, scale=2.0):
  return scale * np.random.default_rng(seed).standard_normal(shape).astype(
      np.float32
  )


# ---------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------


def test_names_sorted_and_complete():
  names = losses.names()
  assert names == sorted(names)
  assert REQUIRED_NAMES <= set(names)


@pytest.mark.parametrize("name", sorted(REQUIRED_NAMES))
def test_get_returns_named_pair(name):
  pair = losses.get(name)
  assert isinstance(pair, losses.GANLoss)
  d_loss, g_loss = pair
  assert pair.d_loss is d_loss and pair.g_loss is g_loss


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError) as excinfo:
    losses.get("nonsaturating")
  message = str(excinfo.value)
  assert "nonsaturating" in message
  for name in REQUIRED_NAMES:
    assert name in message


@pytest.mark.parametrize("name", sorted(REQUIRED_NAMES))
@pytest.mark.parametrize(
    "real_shape,fake_shape",
    [((8,), (8,)), ((8, 1), (8, 1)), ((8, 1), (5, 1)), ((3, 4, 4, 1), (6, 4, 4, 1))],
)
def test_registry_matches_reference(name, real_shape, fake_shape):
  r = _logits(0, real_shape)
  f = _logits(1, fake_shape)
  d_loss, g_loss = losses.get(name)
  d, g = d_loss(r, f), g_loss(r, f)
  want_d, want_g = _np_reference(name, r, f)
  assert d.shape == () and g.shape == ()
  assert d.dtype == jnp.float32 and g.dtype == jnp.float32
  np.testing.assert_allclose(d, want_d, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(g, want_g, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(REQUIRED_NAMES))
def test_registry_checks_shapes(name):
  d_loss, g_loss = losses.get(name)
  for fn in (d_loss, g_loss):
    with pytest.raises(ValueError, match="trailing shape"):
      fn(jnp.zeros((4, 1)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch axis"):
      fn(jnp.zeros(()), jnp.zeros((4,)))
    with pytest.raises(ValueError, match="trailing shape"):
      jax.jit(fn)(jnp.zeros((4,)), jnp.zeros((4, 1)))


@pytest.mark.parametrize("name", sorted(REQUIRED_NAMES))
def test_registry_low_precision_inputs_give_float32(name):
  r = jnp.asarray(_logits(2, (16, 1)), jnp.bfloat16)
  f = jnp.asarray(_logits(3, (16, 1)), jnp.bfloat16)
  d_loss, g_loss = losses.get(name)
  want_d, want_g = _np_reference(
      name, np.asarray(r, np.float64), np.asarray(f, np.float64)
  )
  for fn, want in ((d_loss, want_d), (g_loss, want_g)):
    out = fn(r, f)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Gradient penalty (the part the trainer uses first).
# ---------------------------------------------------------------------------


def _quadratic_critic(x):
  """0.5 ||x||^2 per example: input gradient x, norm ||x||."""
  return 0.5 * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=1)


def test_gradient_penalty_linear_critic():
  # critic(x) = <w, x>: the input gradient is w everywhere.
  w = jnp.array([[3.0, 0.0], [0.0, 4.0]])  # ||w|| = 5.

  def critic(x):
    return jnp.einsum("bij,ij->b", x, w)

  real = jnp.ones((6, 2, 2))
  fake = -jnp.ones((6, 2, 2))
  key = jax.random.key(0)
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key), (5.0 - 1.0) ** 2, rtol=1e-6
  )
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key, target=2.0), 9.0, rtol=1e-6
  )
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key, one_sided=True), 16.0,
      rtol=1e-6,
  )
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key, target=7.0, one_sided=True),
      0.0,
  )


def test_gradient_penalty_per_example_interpolates():
  real = jnp.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
  fake = jnp.zeros((3, 2))
  alpha = jnp.array([1.0, 0.5, 0.25])
  # x_hat = alpha * real: [3, 4], [0.5, 0], [0, 0.5]; norms 5, 0.5, 0.5.
  want = ((5 - 1) ** 2 + (0.5 - 1) ** 2 + (0.5 - 1) ** 2) / 3
  got = losses.gradient_penalty(_quadratic_critic, real, fake, alpha=alpha)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # One-sided: only the norm above 1 counts.
  got = losses.gradient_penalty(
      _quadratic_critic, real, fake, alpha=alpha, one_sided=True
  )
  np.testing.assert_allclose(got, 16.0 / 3, rtol=1e-6)
  # alpha = 0 evaluates at fake.
  got = losses.gradient_penalty(_quadratic_critic, real, real + 1.0, alpha=0.0)
  want = np.mean((np.linalg.norm(np.asarray(real) + 1.0, axis=1) - 1) ** 2)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gradient_penalty_random_alpha():
  # x_hat = alpha * 1 with D = 12 features: norm = alpha * sqrt(12).
  real, fake = jnp.ones((256, 3, 2, 2)), jnp.zeros((256, 3, 2, 2))
  gp = functools.partial(losses.gradient_penalty, _quadratic_critic, real, fake)
  values = [float(gp(jax.random.key(i))) for i in range(3)]
  assert len(set(values)) == 3  # the key matters
  # E[(a sqrt(12) - 1)^2] for a ~ U(0, 1) = 12/3 - sqrt(12) + 1.
  want = 4.0 - math.sqrt(12.0) + 1.0
  for v in values:
    assert abs(v - want) < 0.25 * want
  # Same key, same value; under jit too.
  np.testing.assert_allclose(
      jax.jit(gp)(jax.random.key(1)), values[1], rtol=1e-6
  )


def test_gradient_penalty_key_xor_alpha():
  real = fake = jnp.zeros((2, 3))
  with pytest.raises(ValueError, match="exactly one"):
    losses.gradient_penalty(_quadratic_critic, real, fake)
  with pytest.raises(ValueError, match="exactly one"):
    losses.gradient_penalty(
        _quadratic_critic, real, fake, jax.random.key(0), alpha=0.5
    )


def test_gradient_penalty_shape_errors():
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="same shape"):
    losses.gradient_penalty(_quadratic_critic, jnp.zeros((2, 3)), jnp.zeros((3, 3)), key)
  with pytest.raises(ValueError, match="one output per example"):
    losses.gradient_penalty(lambda x: x, jnp.zeros((2, 3)), jnp.zeros((2, 3)), key)
  with pytest.raises(ValueError, match="alpha"):
    losses.gradient_penalty(
        _quadratic_critic, jnp.zeros((2, 3)), jnp.zeros((2, 3)), alpha=jnp.ones(3)
    )


def _naive_gradient_penalty(critic_fn, x_hat):
  grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=1))
  return jnp.mean(jnp.square(norms - 1.0))


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_safe_at_zero_gradient(one_sided):
  real, fake = jnp.ones((4, 3)), jnp.zeros((4, 3))

  def penalty(w):
    def critic(x):
      return w * jnp.sum(x, axis=1)

    return losses.gradient_penalty(
        critic, real, fake, alpha=0.5, one_sided=one_sided
    )

  # At w = 0 the critic's input gradient is exactly zero.
  value, grad = jax.value_and_grad(penalty)(0.0)
  assert np.isfinite(value) and np.isfinite(grad)
  np.testing.assert_allclose(value, 0.0 if one_sided else 1.0)
  # The naive sqrt(sum g^2) gives NaN here: the test above can fail.
  naive_grad = jax.grad(
      lambda w: _naive_gradient_penalty(lambda x: w * jnp.sum(x, axis=1), real)
  )(0.0)
  assert np.isnan(naive_grad)
  # Away from zero the gradient is the analytic one: d/dw (|w| sqrt(3) - 1)^2.
  if not one_sided:
    w = 0.3
    want = 2 * (w * math.sqrt(3) - 1) * math.sqrt(3)
    np.testing.assert_allclose(jax.grad(penalty)(w), want, rtol=1e-5)


def test_gradient_penalty_critic_params_and_conditioning_through_closure():
  # A conditional critic: per-class weight vectors, labels bound by a closure.
  labels = jnp.array([0, 1, 1, 0])
  real = jnp.arange(12.0).reshape(4, 3)
  fake = -real

  def penalty(params):
    def critic(x):
      return jnp.sum(x * params[labels], axis=1)

    return losses.gradient_penalty(critic, real, fake, alpha=0.5)

  params = jnp.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.5]])  # norms 3 and 0.5
  np.testing.assert_allclose(penalty(params), (4 + 4 + 0.25 + 0.25) / 4, rtol=1e-6)
  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||, each class used twice of 4.
  norms = jnp.linalg.norm(params, axis=1, keepdims=True)
  want = 2 * (norms - 1) * params / norms * (2 / 4)
  np.testing.assert_allclose(jax.grad(penalty)(params), want, rtol=1e-5)


# ---------------------------------------------------------------------------
# Import weight.
# ---------------------------------------------------------------------------


def test_import_is_light():
  code = (
      'import sys\n'
      'import jaxgan.losses\n'
      'heavy = ("tensorflow", "tensorflow_datasets", "orbax", "flax", "optax",\n'
      '         "torch", "sklearn", "ml_collections", "tensorboardX")\n'
      'bad = sorted(m for m in sys.modules\n'
      '             if m.split(".")[0] in heavy\n'
      '             or (m.startswith("jaxgan.") and not m.startswith("jaxgan.losses")))\n'
      'print(",".join(bad))\n'
  )
  out = subprocess.run(
      [sys.executable, "-c", code],
      capture_output=True,
      text=True,
      check=True,
      cwd=pathlib.Path(__file__).resolve().parents[1],
  )
  assert out.stdout.strip() == "", f"import jaxgan.losses imported {out.stdout}"
