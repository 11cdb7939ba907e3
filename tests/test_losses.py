"""Tests for jaxgan.losses: values, shapes, stability, gradients, registry."""

import functools
import math
import pathlib
import subprocess
import sys

import float32
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxgan import losses

LOG2 = math.log(2.0)

# Tolerances from float32 error (tests/float32.py). A hand-computed value below
# is a short chain of float32 operations on exact inputs: each operation rounds
# to a relative U, XLA's exp, log, log1p, softplus and log_sigmoid to 4 U (they
# are within 3 ulp on CPU), and no subtraction of nearly equal values follows a
# rounding; the tests that use _HAND take at most 16 such roundings (counted at
# each use where it is not obvious), so they are within gamma(16) = 9.5e-7 of
# the exact value. A wrong formula moves these values by O(0.1).
_HAND = float32.gamma(16)

REQUIRED_NAMES = {
    "non_saturating",
    "minimax",
    "wasserstein",
    "hinge",
    "least_squares",
    "least_squares_pearson",
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
  elif name == "least_squares_pearson":  # a=-1, b=1, c=0
    d = 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean((f + 1) ** 2)
    g = 0.5 * np.mean(f**2)
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


def _loss_tolerance(r, f, value):
  """How far a float32 loss of ALL_LOSSES (or of the registry) on logits r, f
  of exact value `value` can be from it, or from another float32 evaluation.

  Each loss is a sum of at most two batch means of n <= max(r.size, f.size)
  terms t(x), x a logit, r - E_f[f], f - E_r[r] or r_i - f_i (so |x| <= X =
  max|r| + max|f|), |t'(x)| <= 2 (X + 1) (the squared losses; 1 for the
  others). Its float32 error is at most
    gamma(n + 8) * (sum over the means of mean|t|): the sums, and 8 roundings
      per term (a difference, a square, the label's weight, XLA's softplus
      and log_sigmoid within 4 ulp, the division by n), plus
    gamma(n + 1) * 2 (X + 1) * (mean|r| + mean|f|): the rounding of x, and of
      the batch means inside the relativistic losses and feature matching,
      carried by t' (mean|x| <= mean|r| + mean|f|).
  Where a mean's terms have one sign (all but the Wasserstein and hinge G
  losses' logits) its mean|t| sums to |value|, the others' to mean|r| +
  mean|f|. sum_bound doubles gamma: two float32 evaluations (or one against
  float64, with a margin of 2).
  """
  r, f = np.abs(np.asarray(r, np.float64)), np.abs(np.asarray(f, np.float64))
  x = r.max() + f.max()
  magnitude = abs(value) + (2 * x + 3) * (r.mean() + f.mean())
  return float32.sum_bound(max(r.size, f.size) + 8, magnitude)


def _loss_grad_tolerance(r, f):
  """The same for the gradient of such a loss with respect to r or f: an
  element is t'(x_i) / n plus, for the relativistic losses and feature
  matching, a batch mean of slopes / n (each <= 2 (X + 1) / n), t'(x_i) moved
  by x_i's error (|t''| <= 2) as above: magnitude (6 X + 4) / min(n_r, n_f)."""
  r, f = np.abs(np.asarray(r, np.float64)), np.abs(np.asarray(f, np.float64))
  x = r.max() + f.max()
  return float32.sum_bound(max(r.size, f.size) + 8, (6 * x + 4) / min(r.size, f.size))


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
  # float32 against float64: up to 9.3e-4 (96 terms), for values of 0.1 to 50.
  np.testing.assert_allclose(d, want_d, rtol=0, atol=_loss_tolerance(r, f, want_d))
  np.testing.assert_allclose(g, want_g, rtol=0, atol=_loss_tolerance(r, f, want_g))


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
    # bfloat16 -> float32 is exact: the float32 loss against float64.
    np.testing.assert_allclose(out, want, rtol=0, atol=_loss_tolerance(r, f, want))


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
  # Exact in float32 (w's entries, 25, sqrt(25) = 5, small integers): _HAND and
  # the default rtol=1e-7 only guard.
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key), (5.0 - 1.0) ** 2, rtol=_HAND
  )
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key, target=2.0), 9.0, rtol=_HAND
  )
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, key, one_sided=True), 16.0,
      rtol=_HAND,
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
  # Exact but for the division by 3 (U).
  want = ((5 - 1) ** 2 + (0.5 - 1) ** 2 + (0.5 - 1) ** 2) / 3
  got = losses.gradient_penalty(_quadratic_critic, real, fake, alpha=alpha)
  np.testing.assert_allclose(got, want, rtol=_HAND)
  # One-sided: only the norm above 1 counts.
  got = losses.gradient_penalty(
      _quadratic_critic, real, fake, alpha=alpha, one_sided=True
  )
  np.testing.assert_allclose(got, 16.0 / 3, rtol=_HAND)
  # alpha = 0 evaluates at fake. Norms sqrt(41), sqrt(5), sqrt(10) (2 U each),
  # minus 1 (>= 1.2: a relative U * 2.2 / 1.2 + U), squared, a mean of 3
  # positive terms: < 12 U.
  got = losses.gradient_penalty(_quadratic_critic, real, real + 1.0, alpha=0.0)
  want = np.mean((np.linalg.norm(np.asarray(real) + 1.0, axis=1) - 1) ** 2)
  np.testing.assert_allclose(got, want, rtol=_HAND)


def test_gradient_penalty_random_alpha():
  # x_hat = alpha * 1 with D = 12 features: norm = alpha * sqrt(12).
  real, fake = jnp.ones((256, 3, 2, 2)), jnp.zeros((256, 3, 2, 2))
  gp = functools.partial(losses.gradient_penalty, _quadratic_critic, real, fake)
  values = [float(gp(jax.random.key(i))) for i in range(3)]
  assert len(set(values)) == 3  # the key matters
  # E[(a sqrt(12) - 1)^2] for a ~ U(0, 1) = 12/3 - sqrt(12) + 1.
  want = 4.0 - math.sqrt(12.0) + 1.0
  for v in values:
    # Not rounding: sampling. The term's std is 1.72, the mean of 256 terms'
    # standard error 0.107: 0.25 * want = 0.38 is 3.6 of them.
    assert abs(v - want) < 0.25 * want
  # Same key, same value; under jit too. Two float32 evaluations of a mean of
  # 256 positive terms of mean `want` (sum_bound(256, want)), each term
  # (a sqrt(12) - 1)^2 whose a sqrt(12) <= 3.5 carries a 12-term sum of squares'
  # error (gamma(13)) into the square's slope 2 |a sqrt(12) - 1| <= 5: 7.4e-5.
  tol = float32.sum_bound(256, want) + 2 * 5 * 3.5 * float32.gamma(13)
  np.testing.assert_allclose(jax.jit(gp)(jax.random.key(1)), values[1], rtol=0, atol=tol)


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
    losses.gradient_penalty(
        _quadratic_critic, jnp.zeros((2, 3)), jnp.zeros((3, 3)), key
    )
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

  # At w = 0 the critic's input gradient is exactly zero: the value is exact.
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
    # float32 against float64: w rounded (U / 2, carried with gain 1.1), the
    # norm sqrt(3 w^2) (3 U) less 1 (= -0.48: 1.1 U more), about 10 roundings
    # back, and the backward pass's sum of 4 x 3 equal terms (gamma(12)):
    # within gamma(30) = 1.8e-6 (1e-5 before: looser than needed).
    np.testing.assert_allclose(jax.grad(penalty)(w), want, rtol=float32.gamma(30))


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
  # Exact in float32 (gradients are params' entries, norms 3 and 0.5).
  np.testing.assert_allclose(penalty(params), (4 + 4 + 0.25 + 0.25) / 4, rtol=_HAND)
  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||, each class used twice of 4.
  # Both sides float32 on exact norms: want takes 5 roundings, the backward
  # pass (1 / (2 ||w||), products, the scatter-add of 2 uses, / 4) about 8:
  # within 13 U of each other (1e-5 before: looser than needed).
  norms = jnp.linalg.norm(params, axis=1, keepdims=True)
  want = 2 * (norms - 1) * params / norms * (2 / 4)
  np.testing.assert_allclose(jax.grad(penalty)(params), want, rtol=_HAND)


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
      '             or (m.startswith("jaxgan.")\n'
      '                 and not m.startswith("jaxgan.losses")))\n'
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


# ---------------------------------------------------------------------------
# Individual losses: hand-computed values.
# ---------------------------------------------------------------------------

# Every loss as a function of (real_logits, fake_logits).
ALL_LOSSES = {
    "minimax_discriminator_loss": losses.minimax_discriminator_loss,
    "minimax_discriminator_loss_smoothed": functools.partial(
        losses.minimax_discriminator_loss, label_smoothing=0.1
    ),
    "minimax_generator_loss": lambda r, f: losses.minimax_generator_loss(f),
    "non_saturating_generator_loss": (
        lambda r, f: losses.non_saturating_generator_loss(f)
    ),
    "wasserstein_discriminator_loss": losses.wasserstein_discriminator_loss,
    "wasserstein_generator_loss": lambda r, f: losses.wasserstein_generator_loss(f),
    "hinge_discriminator_loss": losses.hinge_discriminator_loss,
    "hinge_generator_loss": lambda r, f: losses.hinge_generator_loss(f),
    "least_squares_discriminator_loss": losses.least_squares_discriminator_loss,
    "least_squares_discriminator_loss_pm1": functools.partial(
        losses.least_squares_discriminator_loss, a=-1.0, b=1.0
    ),
    "least_squares_generator_loss": (
        lambda r, f: losses.least_squares_generator_loss(f)
    ),
    "least_squares_generator_loss_c0": (
        lambda r, f: losses.least_squares_generator_loss(f, c=0.0)
    ),
    "relativistic_average_discriminator_loss": (
        losses.relativistic_average_discriminator_loss
    ),
    "relativistic_average_discriminator_loss_smoothed": functools.partial(
        losses.relativistic_average_discriminator_loss, label_smoothing=0.2
    ),
    "relativistic_average_generator_loss": (
        losses.relativistic_average_generator_loss
    ),
    "relativistic_average_least_squares_discriminator_loss": (
        losses.relativistic_average_least_squares_discriminator_loss
    ),
    "relativistic_average_least_squares_generator_loss": (
        losses.relativistic_average_least_squares_generator_loss
    ),
    # The pairing loss needs equal batches: the tests below that give real
    # and fake batches of different sizes pair the first min(B_r, B_f).
    "relativistic_pairing_discriminator_loss": lambda r, f: (
        losses.relativistic_pairing_discriminator_loss(*_first_pairs(r, f))
    ),
    "relativistic_pairing_generator_loss": lambda r, f: (
        losses.relativistic_pairing_generator_loss(*_first_pairs(r, f))
    ),
    "feature_matching_loss": losses.feature_matching_loss,
}


def _first_pairs(r, f):
  n = min(r.shape[0], f.shape[0])
  return r[:n], f[:n]


def test_every_public_loss_is_tested():
  public = {n for n in losses.__all__ if n.endswith("_loss")}
  tested = {n.removesuffix("_smoothed").removesuffix("_pm1").removesuffix("_c0")
            for n in ALL_LOSSES}
  assert public == tested


@pytest.mark.parametrize(
    "fn,want",
    [
        # At logit 0, D = 1/2: every cross-entropy term is log 2.
        (losses.minimax_discriminator_loss, 2 * LOG2),
        (lambda r, f: losses.minimax_generator_loss(f), -LOG2),
        (lambda r, f: losses.non_saturating_generator_loss(f), LOG2),
        (losses.wasserstein_discriminator_loss, 0.0),
        (lambda r, f: losses.wasserstein_generator_loss(f), 0.0),
        (losses.hinge_discriminator_loss, 2.0),
        (lambda r, f: losses.hinge_generator_loss(f), 0.0),
        (losses.least_squares_discriminator_loss, 0.5),  # 1/2 (0-1)^2 + 1/2 0^2
        (lambda r, f: losses.least_squares_generator_loss(f), 0.5),
        (losses.relativistic_average_discriminator_loss, 2 * LOG2),
        (losses.relativistic_average_generator_loss, 2 * LOG2),
        (losses.relativistic_average_least_squares_discriminator_loss, 2.0),
        (losses.relativistic_average_least_squares_generator_loss, 2.0),
    ],
)
def test_values_at_zero_logits(fn, want):
  # log 2 (4 U), a mean of 5 equal terms (5 U), the sum of two means: < 11 U;
  # the zero values are exact.
  np.testing.assert_allclose(fn(jnp.zeros(5), jnp.zeros(3)), want, rtol=_HAND)


def test_hand_computed_values():
  # Exact in float32 (halves, quarters) but the cross-entropies: softplus of
  # exact logits (4 U), means of two (2 U), a sum (U): _HAND.
  r = jnp.array([1.0, 3.0])
  f = jnp.array([-1.0, 0.5])
  # Hinge: real terms max(0, 0), max(0, -2); fake terms max(0, 0), max(0, 1.5).
  np.testing.assert_allclose(losses.hinge_discriminator_loss(r, f), 0.75)
  np.testing.assert_allclose(losses.hinge_generator_loss(f), 0.25)
  # Wasserstein: mean(f) - mean(r) = -0.25 - 2.
  np.testing.assert_allclose(losses.wasserstein_discriminator_loss(r, f), -2.25)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(f), 0.25)
  # LSGAN with a=-1, b=1: 1/2 mean(0, 4) + 1/2 mean(0, 2.25) = 1 + 0.5625.
  np.testing.assert_allclose(
      losses.least_squares_discriminator_loss(r, f, a=-1.0, b=1.0), 1.5625
  )
  # LSGAN G with c=0: 1/2 mean(1, 0.25).
  np.testing.assert_allclose(losses.least_squares_generator_loss(f, c=0.0), 0.3125)
  # Cross-entropy: softplus(-x) = log(1 + e^-x).
  sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
  np.testing.assert_allclose(
      losses.minimax_discriminator_loss(r, f),
      (sp(-1) + sp(-3)) / 2 + (sp(-1) + sp(0.5)) / 2,
      rtol=_HAND,
  )
  np.testing.assert_allclose(
      losses.non_saturating_generator_loss(f), (sp(1) + sp(-0.5)) / 2, rtol=_HAND
  )
  np.testing.assert_allclose(
      losses.minimax_generator_loss(f), -(sp(-1) + sp(0.5)) / 2, rtol=_HAND
  )


def test_one_sided_label_smoothing():
  # Real target t = 0.9: -(0.9 log σ(2) + 0.1 log σ(-2)); fakes unaffected.
  r, f = jnp.array([2.0]), jnp.array([-3.0])
  p = 1 / (1 + math.exp(-2.0))
  real_term = -(0.9 * math.log(p) + 0.1 * math.log(1 - p))
  fake_term = math.log1p(math.exp(-3.0))
  # float32's 0.9 makes 1 - t = 0.1 (1 + 4 U): 2.6 U of the value; two
  # log_sigmoids and a softplus (4 U each, no cancellation), products, sums:
  # < 12 U.
  np.testing.assert_allclose(
      losses.minimax_discriminator_loss(r, f, label_smoothing=0.1),
      real_term + fake_term,
      rtol=_HAND,
  )
  # The smoothed loss is minimised at D(x) = 0.9 rather than D(x) -> 1.
  grad = jax.grad(
      lambda x: losses.minimax_discriminator_loss(x, f, label_smoothing=0.1)
  )
  # The gradient 0.1 sigmoid(x) - 0.9 (1 - sigmoid(x)) cancels two terms of
  # 0.09, each within 16 U (sigmoid to 4 U, t and 1 - t rounded to 4 U, x =
  # log 9 rounded: U / 2 of 2.2 carried by sigmoid' = 0.09): sum_bound(16, 0.18)
  # = 3.6e-7 (1e-6 before: looser than needed). D(x) -> 1 would give 0.1.
  np.testing.assert_allclose(
      grad(jnp.array([math.log(9.0)])), 0.0, atol=float32.sum_bound(16, 0.18))
  with pytest.raises(ValueError, match="label_smoothing"):
    losses.minimax_discriminator_loss(r, f, label_smoothing=1.0)
  with pytest.raises(ValueError, match="label_smoothing"):
    losses.relativistic_average_discriminator_loss(r, f, label_smoothing=-0.1)


def test_relativistic_average_hand_computed():
  r = jnp.array([2.0, 0.0])
  f = jnp.array([0.0, -2.0])
  # E_f[f] = -1, E_r[r] = 1: r~ = [3, 1], f~ = [-1, -3].
  sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
  want_d = (sp(-3) + sp(-1)) / 2 + (sp(-1) + sp(-3)) / 2
  want_g = (sp(1) + sp(3)) / 2 + (sp(3) + sp(1)) / 2
  # r~ and f~ are exact: log_sigmoid (4 U), means of two (2 U), a sum: 7 U.
  np.testing.assert_allclose(
      losses.relativistic_average_discriminator_loss(r, f), want_d, rtol=_HAND
  )
  np.testing.assert_allclose(
      losses.relativistic_average_generator_loss(r, f), want_g, rtol=_HAND
  )
  # RaLSGAN: D = mean((2)^2, 0^2) + mean(0^2, (-2)^2) = 2 + 2;
  # G = mean((-2)^2, (-4)^2) + mean(4^2, 2^2) = 10 + 10. Exact in float32.
  np.testing.assert_allclose(
      losses.relativistic_average_least_squares_discriminator_loss(r, f), 4.0
  )
  np.testing.assert_allclose(
      losses.relativistic_average_least_squares_generator_loss(r, f), 20.0
  )


def test_relativistic_pairing_hand_computed():
  r = jnp.array([2.0, 0.0, 1.0])
  f = jnp.array([0.0, -2.0, 1.0])
  # Pair differences r - f = [2, 2, 0]: D = mean(softplus(-2), softplus(-2),
  # log 2); G = mean(softplus(2), softplus(2), log 2). No batch mean inside.
  sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
  # Exact differences; softplus (4 U), a mean of 3 (3 U): 7 U.
  np.testing.assert_allclose(losses.relativistic_pairing_discriminator_loss(r, f),
                             (2 * sp(-2) + LOG2) / 3, rtol=_HAND)
  np.testing.assert_allclose(losses.relativistic_pairing_generator_loss(r, f),
                             (2 * sp(2) + LOG2) / 3, rtol=_HAND)
  # Pairing matters: permuting the fakes changes the loss (the average
  # relativistic loss would not change). Not rounding: the permuted pairs
  # (r - f = 1, 2, 1) give 0.251 for 0.316, and 1e-3 is 3e3 times _HAND.
  permuted = losses.relativistic_pairing_discriminator_loss(r, f[::-1])
  assert abs(float(permuted) - (2 * sp(-2) + LOG2) / 3) > 1e-3
  # The registry's pair, on patch outputs: each position of example i is
  # paired with the same position of fake i.
  d_loss, g_loss = losses.get("relativistic_pairing")
  rp, fp = _logits(8, (4, 3, 3, 1)), _logits(9, (4, 3, 3, 1))
  want_d = np.mean(-np.log(_np_sigmoid(rp.astype(np.float64) - fp)))
  want_g = np.mean(-np.log(_np_sigmoid(fp.astype(np.float64) - rp)))
  # float32 against float64 (see _loss_tolerance): 4.4e-4, for values ~ 1.8.
  np.testing.assert_allclose(d_loss(rp, fp), want_d, rtol=0,
                             atol=_loss_tolerance(rp, fp, want_d))
  np.testing.assert_allclose(g_loss(rp, fp), want_g, rtol=0,
                             atol=_loss_tolerance(rp, fp, want_g))
  # D's and G's gradients with respect to f are opposite-signed sigmoids.
  # Exact differences f - r; softplus' derivative exp(x - softplus(x)) (6 U),
  # / 3 (U), against a float64 sigmoid: 7 U.
  grad_d = jax.grad(losses.relativistic_pairing_discriminator_loss, 1)(r, f)
  want = _np_sigmoid(np.asarray(f - r, np.float64)) / 3
  np.testing.assert_allclose(grad_d, want, rtol=_HAND)


def test_relativistic_pairing_checks_batches():
  for fn in (losses.relativistic_pairing_discriminator_loss,
             losses.relativistic_pairing_generator_loss):
    with pytest.raises(ValueError, match="same batch size"):
      fn(jnp.zeros((4,)), jnp.zeros((3,)))
    with pytest.raises(ValueError, match="trailing shape"):
      fn(jnp.zeros((4, 1)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch axis"):
      fn(jnp.zeros(()), jnp.zeros((4,)))
    out = fn(jnp.zeros((4,), jnp.bfloat16), jnp.zeros((4,), jnp.bfloat16))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, LOG2, rtol=_HAND)  # log 2 (4 U), a mean of 4


def test_relativistic_average_is_per_position_for_patch_outputs():
  # Two patch positions; averages are over the batch at each position.
  r = jnp.array([[2.0, 10.0], [0.0, 10.0]])
  f = jnp.array([[0.0, 9.0], [-2.0, 11.0]])
  # Position 0 is the example above (4.0); position 1: r~ = 0, f~ = [-1, 1]:
  # mean(1, 1) + mean(0, 4) = 3. The loss averages the positions. Exact in
  # float32 (small integers and halves): the default rtol=1e-7.
  np.testing.assert_allclose(
      losses.relativistic_average_least_squares_discriminator_loss(r, f),
      (4.0 + 3.0) / 2,
  )


def test_feature_matching_loss():
  # Exact in float32 (small integers): the default rtol=1e-7.
  real = jnp.array([[1.0, 2.0], [3.0, 4.0]])  # batch mean [2, 3]
  fake = jnp.array([[0.0, 0.0]])
  np.testing.assert_allclose(losses.feature_matching_loss(real, fake), 13.0)
  # Pytrees of layers: the sum over layers; trailing shapes may differ per layer.
  real2 = jnp.full((4, 2, 2, 3), 1.0)
  fake2 = jnp.zeros((3, 2, 2, 3))
  np.testing.assert_allclose(
      losses.feature_matching_loss([real, real2], [fake, fake2]), 13.0 + 12.0
  )
  np.testing.assert_allclose(
      losses.feature_matching_loss({"a": real}, {"a": real}), 0.0
  )
  with pytest.raises(ValueError, match="tree structure"):
    losses.feature_matching_loss([real], [fake, fake])
  with pytest.raises(ValueError, match="trailing shape"):
    losses.feature_matching_loss(real, jnp.zeros((2, 3)))


# ---------------------------------------------------------------------------
# Stability, gradients, jit.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
@pytest.mark.parametrize("real_value", [-1e4, 1e4])
@pytest.mark.parametrize("fake_value", [-1e4, 1e4])
def test_extreme_logits_finite(name, real_value, fake_value):
  fn = ALL_LOSSES[name]
  r = jnp.array([real_value, 0.5 * real_value, 0.0, 1.0], jnp.float32)
  f = jnp.array([fake_value, -0.5 * fake_value, 0.0], jnp.float32)
  value, grads = jax.value_and_grad(fn, argnums=(0, 1))(r, f)
  assert np.isfinite(value), value
  for g in grads:
    assert np.all(np.isfinite(g)), grads


# Values with real logits 1e4 and fake logits -1e4 (a confident, correct
# discriminator), from the formulas: softplus(-1e4) = 0 and softplus(1e4) = 1e4.
# log(sigmoid(x)) instead of log_sigmoid(x) would give inf or nan here.
CONFIDENT_LIMITS = {
    "minimax_discriminator_loss": 0.0,
    # Real target 0.9: 0.1 * softplus(1e4).
    "minimax_discriminator_loss_smoothed": 0.1 * 1e4,
    "minimax_generator_loss": -0.0,  # log(1 - σ(-1e4)) = -softplus(-1e4)
    "non_saturating_generator_loss": 1e4,
    "wasserstein_discriminator_loss": -2e4,
    "wasserstein_generator_loss": 1e4,
    "hinge_discriminator_loss": 0.0,
    "hinge_generator_loss": 1e4,
    "least_squares_discriminator_loss": 0.5 * (1e4 - 1) ** 2 + 0.5 * 1e8,
    "least_squares_discriminator_loss_pm1": 0.5 * (1e4 - 1) ** 2
    + 0.5 * (1e4 - 1) ** 2,
    "least_squares_generator_loss": 0.5 * (1e4 + 1) ** 2,
    "least_squares_generator_loss_c0": 0.5 * 1e8,
    # r~ = 2e4, f~ = -2e4.
    "relativistic_average_discriminator_loss": 0.0,
    "relativistic_average_discriminator_loss_smoothed": 0.2 * 2e4,
    "relativistic_average_generator_loss": 2e4 + 2e4,
    "relativistic_average_least_squares_discriminator_loss": 2 * (2e4 - 1) ** 2,
    "relativistic_average_least_squares_generator_loss": 2 * (2e4 + 1) ** 2,
    # Pairs (1e4, -1e4): softplus(-2e4) = 0 for D, softplus(2e4) = 2e4 for G.
    "relativistic_pairing_discriminator_loss": 0.0,
    "relativistic_pairing_generator_loss": 2e4,
    # Features: ||E r - E f||^2 = (2e4)^2.
    "feature_matching_loss": 4e8,
}


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_extreme_logits_correct_limits(name):
  value = ALL_LOSSES[name](jnp.full((3,), 1e4), jnp.full((2,), -1e4))
  # Squares such as (1e4 - 1)^2 round (U), float32's 0.9 and 0.8 make 1 - t a
  # relative 4 U off, means of 3 equal terms (3 U), a sum: < 10 U. The zero
  # limits are exact (exp(-1e4) underflows to 0): atol only guards them.
  np.testing.assert_allclose(value, CONFIDENT_LIMITS[name], rtol=_HAND, atol=1e-6)


def _away_from_kinks(x):
  # Keeps hinge inputs away from +-1 so finite differences are smooth.
  return np.where(np.abs(np.abs(x) - 1.0) < 0.1, x + 0.3, x)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_check_grads(name):
  fn = ALL_LOSSES[name]
  with jax.enable_x64(True):
    r = jnp.asarray(_away_from_kinks(_logits(4, (5, 2)).astype(np.float64)))
    f = jnp.asarray(_away_from_kinks(_logits(5, (3, 2)).astype(np.float64)))
    check_grads(fn, (r, f), order=2, modes=("rev",), eps=1e-4)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_jit_matches_eager(name):
  fn = ALL_LOSSES[name]
  r, f = _logits(6, (7, 1)), _logits(7, (9, 1))
  eager = fn(r, f)
  jitted = jax.jit(fn)(r, f)
  # Fusion may sum in another order: two float32 evaluations (_loss_tolerance:
  # 1.4e-4 to 1.8e-4 here, for values of 0.3 to 19; gradients 1.6e-5, for
  # elements of ~0.1).
  np.testing.assert_allclose(jitted, eager, rtol=0, atol=_loss_tolerance(r, f, eager))
  eager_grads = jax.grad(fn, argnums=(0, 1))(r, f)
  jit_grads = jax.jit(jax.grad(fn, argnums=(0, 1)))(r, f)
  for a, b in zip(jit_grads, eager_grads, strict=True):
    np.testing.assert_allclose(a, b, rtol=0, atol=_loss_grad_tolerance(r, f))


# ---------------------------------------------------------------------------
# R1, R2, DRAGAN.
# ---------------------------------------------------------------------------


def test_r1_r2_hand_computed():
  # critic = 0.5 ||x||^2 has input gradient x: R = mean ||x||^2. Exact in
  # float32 (small integers): the default rtol=1e-7.
  x = jnp.array([[3.0, 4.0], [1.0, 0.0]])
  np.testing.assert_allclose(losses.r1_penalty(_quadratic_critic, x), 13.0)
  np.testing.assert_allclose(losses.r2_penalty(_quadratic_critic, 2 * x), 52.0)

  # A linear critic on images: the gradient is w for every example.
  w = jnp.arange(12.0).reshape(2, 2, 3) / 10

  def critic(x):
    return jnp.sum(x * w, axis=(1, 2, 3))[:, None]  # (B, 1) outputs

  images = jnp.ones((5, 2, 2, 3))
  want = float(jnp.sum(w**2))
  # The input gradient is w, exactly; two float32 sums of its 12 squares (in
  # any order: sum_bound(12) relative, the terms being positive), and the mean
  # of 5 equal norms (5 U): sum_bound(17) = 2.1e-6 (1e-6 before: too tight).
  rtol = float32.sum_bound(12 + 5)
  np.testing.assert_allclose(losses.r1_penalty(critic, images), want, rtol=rtol)
  np.testing.assert_allclose(losses.r2_penalty(critic, images), want, rtol=rtol)
  # No square root: finite gradient at a zero-gradient critic (exactly 0).
  grad = jax.grad(
      lambda s: losses.r1_penalty(lambda x: s * _quadratic_critic(x), x)
  )(0.0)
  np.testing.assert_allclose(grad, 0.0)


def test_dragan_penalty():
  real = jnp.asarray(_logits(8, (16, 3)))
  key = jax.random.key(3)

  # Linear critic: gradient norm ||w|| = 2 everywhere, whatever the noise.
  def linear(x):
    return x @ jnp.array([0.0, 2.0, 0.0])

  # Exact in float32: the gradient is w, its norm sqrt(4) = 2, (2 - 1)^2 = 1
  # and (2 - 2)^2 = 0; rtol and atol only guard.
  np.testing.assert_allclose(losses.dragan_penalty(linear, real, key), 1.0, rtol=_HAND)
  np.testing.assert_allclose(
      losses.dragan_penalty(linear, real, key, target=2.0), 0.0, atol=1e-12
  )
  # Quadratic critic: the gradient x_hat = x + a c std(x) u lies between x and
  # x + c std(x) u, so the penalty lies between those two extremes.
  value = losses.dragan_penalty(_quadratic_critic, real, key)
  x = np.asarray(real, np.float64)
  at_real = (np.linalg.norm(x, axis=1) - 1) ** 2
  assert np.isfinite(value)
  # Not rounding: the perturbation moves the value by 1.4e-3 of it; float32
  # error (see below) by < 7e-6 of it, so an ignored perturbation would fail.
  assert float(value) != pytest.approx(float(at_real.mean()), rel=1e-3)
  assert value != losses.dragan_penalty(_quadratic_critic, real, jax.random.key(4))
  # With zero perturbation it is the gradient penalty at the real data.
  # float32 against float64: the norms of 3 coordinates (gamma(4) of ||x||)
  # carried by the slope 2 |norm - 1| of each term, and the mean of 16
  # positive terms: sum_bound(16) of the terms plus those slopes times ||x||.
  norm = np.linalg.norm(x, axis=1)
  tol = float32.sum_bound(16, np.mean(at_real + 2 * np.abs(norm - 1) * norm))
  np.testing.assert_allclose(
      losses.dragan_penalty(_quadratic_critic, real, key, perturbation_scale=0.0),
      at_real.mean(),
      rtol=0, atol=tol,
  )


# A small smooth critic: params -> (x -> logits of shape (B, 1)).
def _mlp_critic(params, x):
  h = jnp.tanh(x.reshape(x.shape[0], -1) @ params["w1"] + params["b1"])
  return h @ params["w2"]


def _mlp_params(dtype=np.float32):
  rng = np.random.default_rng(9)
  return {
      "w1": jnp.asarray(rng.standard_normal((6, 8)), dtype) / 2,
      "b1": jnp.asarray(rng.standard_normal(8), dtype) / 2,
      "w2": jnp.asarray(rng.standard_normal((8, 1)), dtype) / 3,
  }


def _mlp_penalty_magnitude(params, real, fake):
  """The largest absolute sum along a penalty of _mlp_critic on real and fake
  (as float32.network_bound's `magnitude`): a pre-activation's |x| |w1| + |b1|,
  |x| <= 1.5 max|input| (DRAGAN perturbs x by up to std(x) / 2), or a penalty
  term (||g|| + 1)^2, the input gradient's ||g|| <= sqrt(D) max(|w1| |w2|)."""
  w1, b1, w2 = (np.abs(np.asarray(params[k], np.float64)) for k in ("w1", "b1", "w2"))
  x = 1.5 * max(np.max(np.abs(real)), np.max(np.abs(fake)))
  pre = np.max(x * w1.sum(axis=0) + b1)
  grad_norm = math.sqrt(w1.shape[0]) * np.max(w1 @ w2)
  return max(pre, (grad_norm + 1) ** 2)


def _penalty_fns():
  key = jax.random.key(11)
  return {
      "gradient_penalty": lambda c, r, f: losses.gradient_penalty(c, r, f, key),
      "gradient_penalty_one_sided": lambda c, r, f: losses.gradient_penalty(
          c, r, f, key, target=0.1, one_sided=True
      ),
      "r1_penalty": lambda c, r, f: losses.r1_penalty(c, r),
      "r2_penalty": lambda c, r, f: losses.r2_penalty(c, f),
      "dragan_penalty": lambda c, r, f: losses.dragan_penalty(c, r, key),
  }


def test_every_public_penalty_is_tested():
  public = {n for n in losses.__all__ if n.endswith("_penalty")}
  assert public == {n.removesuffix("_one_sided") for n in _penalty_fns()}


@pytest.mark.parametrize("name", sorted(_penalty_fns()))
def test_penalty_check_grads(name):
  penalty = _penalty_fns()[name]
  with jax.enable_x64(True):
    params = _mlp_params(np.float64)
    real = jnp.asarray(_logits(12, (4, 2, 3), scale=1.0), jnp.float64)
    fake = jnp.asarray(_logits(13, (4, 2, 3), scale=1.0), jnp.float64)

    def of_params(params):
      return penalty(functools.partial(_mlp_critic, params), real, fake)

    def of_data(real, fake):
      return penalty(functools.partial(_mlp_critic, params), real, fake)

    check_grads(of_params, (params,), order=1, modes=("rev",), eps=1e-4)
    check_grads(of_data, (real, fake), order=1, modes=("rev",), eps=1e-4)


@pytest.mark.parametrize("name", sorted(_penalty_fns()))
def test_penalty_jit_matches_eager(name):
  penalty = _penalty_fns()[name]
  real = jnp.asarray(_logits(14, (4, 6)))
  fake = jnp.asarray(_logits(15, (4, 6)))

  def fn(params):
    return penalty(functools.partial(_mlp_critic, params), real, fake)

  params = _mlp_params()
  eager_value, eager_grad = jax.value_and_grad(fn)(params)
  jit_value, jit_grad = jax.jit(jax.value_and_grad(fn))(params)
  assert eager_value > 0
  # Fusion may sum in another order. The value runs 4 float32 sums of at most 8
  # terms (the critic's dense layer, the input gradient back through w1, the
  # squared norm, the batch mean), the gradient those and 4 more back: as
  # float32.network_bound with _mlp_penalty_magnitude (30 here): 1.3e-4 for
  # values of 0.1 to 0.44, 2.6e-4 for gradients of 0.2 to 2.
  magnitude = _mlp_penalty_magnitude(params, real, fake)
  np.testing.assert_allclose(jit_value, eager_value, rtol=0,
                             atol=float32.network_bound(4, 8, magnitude))
  for a, b in zip(jax.tree.leaves(jit_grad), jax.tree.leaves(eager_grad), strict=True):
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=0, atol=float32.network_bound(8, 8, magnitude))


@pytest.mark.parametrize("name", sorted(_penalty_fns()))
def test_penalty_extreme_critic_finite(name):
  # A saturated critic (tanh units at +-1e4 pre-activations) has an input
  # gradient that underflows to zero: the penalty and its gradient stay finite.
  penalty = _penalty_fns()[name]
  real = jnp.full((4, 6), 1e4)
  fake = jnp.full((4, 6), -1e4)

  def fn(params):
    return penalty(functools.partial(_mlp_critic, params), real, fake)

  value, grads = jax.value_and_grad(fn)(_mlp_params())
  assert np.isfinite(value)
  for g in jax.tree.leaves(grads):
    assert np.all(np.isfinite(g))


# ---------------------------------------------------------------------------
# Weight clipping.
# ---------------------------------------------------------------------------


def test_weight_clipping_keeps_params_in_box():
  c = 0.01
  params = {"w": jnp.array([0.0, 0.009, -0.009, 0.005]), "b": jnp.array([0.02])}
  tx = optax.chain(optax.sgd(1.0), losses.weight_clipping(c))
  state = tx.init(params)
  grads = {"w": jnp.array([-0.5, -0.0005, 0.5, 0.002]), "b": jnp.array([0.0])}
  updates, state = tx.update(grads, state, params)
  new = optax.apply_updates(params, updates)
  # Clipped where sgd would leave the box, untouched elsewhere (already
  # out-of-box initial params are brought back too). float32's 0.009, 0.0005,
  # 0.005, 0.002 and 0.01 are within U / 2, one subtraction adds U: < 3 U.
  np.testing.assert_allclose(new["w"], [0.01, 0.0095, -0.01, 0.003], rtol=_HAND)
  np.testing.assert_allclose(new["b"], [0.01], rtol=_HAND)
  np.testing.assert_array_equal(updates["w"][1], -grads["w"][1])


def test_weight_clipping_many_steps_under_jit():
  c = 0.01
  params = _mlp_params()
  tx = optax.chain(optax.rmsprop(5e-3), losses.weight_clipping(c))
  opt_state = tx.init(params)
  real = jnp.asarray(_logits(16, (32, 6)))
  fake = jnp.asarray(_logits(17, (32, 6))) + 1.0

  @jax.jit
  def step(params, opt_state):
    def loss(params):
      return losses.wasserstein_discriminator_loss(
          _mlp_critic(params, real), _mlp_critic(params, fake)
      )

    grads = jax.grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  # Within float32 rounding of the box: apply_updates adds clip(p + u) - p to
  # p, two roundings of values up to |p| + c, |p| at most the initial 1.26:
  # c (1 + 1.5e-5) (c (1 + 1e-6) before: too tight at the first step).
  # Unclipped, rmsprop's first steps of ~1.6e-2 would leave it by far.
  box = c + 2 * float32.U * (max(np.max(np.abs(p)) for p in jax.tree.leaves(params)) + c)
  for _ in range(20):
    params, opt_state = step(params, opt_state)
    for leaf in jax.tree.leaves(params):
      assert np.max(np.abs(leaf)) <= box
  # The box is actually reached: rmsprop pushes weights to the boundary (not
  # rounding: the first clip puts the initial weights, ~N(0, 0.5^2), on it).
  assert max(np.max(np.abs(leaf)) for leaf in jax.tree.leaves(params)) > 0.99 * c


def test_weight_clipping_needs_params():
  tx = losses.weight_clipping(0.01)
  params = {"w": jnp.zeros(3)}
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params))
  with pytest.raises(ValueError, match="positive"):
    losses.weight_clipping(0.0)


def test_historical_averaging_adds_the_gradient_of_the_penalty():
  """grad of w * ||θ - mean(θ_1..θ_t)||^2, the mean over the updates so far."""
  weight = 0.3
  tx = losses.historical_averaging(weight)
  history = [np.array([1.0, -2.0]), np.array([3.0, 0.5]), np.array([-1.0, 4.0])]
  state = tx.init(history[0])
  for t, params in enumerate(history, start=1):
    grads = np.array([0.25, -0.5])
    updates, state = tx.update(grads, state, params)
    mean = np.mean(history[:t], axis=0)
    want = grads + 2 * weight * (params - mean)
    # float32 against float64: the running mean m + (p - m) / t takes 4
    # roundings per update (t <= 3), the update 4 more (float32's 0.6
    # included), on quantities within |g| + 2 w (|p| + max |history|) = 5.3:
    # sum_bound(16, 5.3) = 1.1e-5 (rtol=1e-6 before: too tight for 0.25).
    magnitude = np.max(np.abs(grads) + 2 * weight * (np.abs(params)
                                                     + np.max(np.abs(history))))
    np.testing.assert_allclose(updates, want, rtol=0,
                               atol=float32.sum_bound(16, magnitude))
  assert int(state.count) == len(history)
  with pytest.raises(ValueError, match="current parameters"):
    tx.update(grads, state)
  with pytest.raises(ValueError, match="weight must be >= 0"):
    losses.historical_averaging(-1.0)
