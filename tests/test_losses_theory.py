"""jaxgan.losses against the theory of GANs, on 1-D distributions.

Expectations over a distribution p are taken on a quantile grid: the "batch"
x_i = F^{-1}((i + 1/2) / N) for i < N, so that a loss's mean over the batch
is the midpoint-rule quadrature of the expectation, in probability space.
Reference integrals over the densities are computed independently with
scipy.integrate.quad. The quadrature tests run in float64.
"""

import functools
import math

import float32
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, stats

from jaxgan import losses

GRID = 200_000
# The quadrature tests are float64 (U64 = 2**-53): their tolerances bound the
# midpoint rule's error on GRID quantiles against scipy's adaptive quadrature
# (1e-6 to 2.5e-6 for these smooth densities, a deterministic property of the
# grid), which float64 rounding (a mean of GRID terms: GRID * U64 = 2.2e-11 of
# its magnitude) does not move.
_QUADRATURE = 1e-4

# (p_data, p_g) pairs with known densities.
PAIRS = {
    "gaussians_shifted": (stats.norm(0.0, 1.0), stats.norm(1.5, 1.0)),
    "gaussians_wider": (stats.norm(0.0, 1.0), stats.norm(0.5, 2.0)),
    "logistic_vs_laplace": (stats.logistic(0.0, 0.7), stats.laplace(1.0, 1.0)),
    "identical": (stats.norm(0.3, 1.2), stats.norm(0.3, 1.2)),
}


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def _quantile_grid(dist, n=GRID):
  return jnp.asarray(dist.ppf((np.arange(n) + 0.5) / n), jnp.float64)


def _jsd(p, q):
  """JSD(p || q) in nats, by adaptive quadrature on the densities."""

  def integrand(x):
    a, b = p.pdf(x), q.pdf(x)
    m = 0.5 * (a + b)
    out = 0.0
    if a > 0:
      out += 0.5 * a * math.log(a / m)
    if b > 0:
      out += 0.5 * b * math.log(b / m)
    return out

  lo = min(p.ppf(1e-15), q.ppf(1e-15))
  hi = max(p.isf(1e-15), q.isf(1e-15))
  value, _ = integrate.quad(integrand, lo, hi, limit=500, points=[p.mean(), q.mean()])
  return value


def _optimal_logit(p_data, p_g, x):
  """logit D*(x) = log p_data(x) - log p_g(x), D* = p_data / (p_data + p_g)."""
  return jnp.asarray(p_data.logpdf(np.asarray(x)) - p_g.logpdf(np.asarray(x)))


def _value(real_logits, fake_logits):
  """The minimax value V(D, G) = E_data[log D] + E_g[log(1 - D)]."""
  return -losses.minimax_discriminator_loss(real_logits, fake_logits)


# Perturbations h(x) of the optimal logit: D = σ(logit D* + ε h).
PERTURBATIONS = {
    "constant": lambda x: jnp.ones_like(x),
    "linear": lambda x: x,
    "tanh": jnp.tanh,
    "bump": lambda x: jnp.exp(-jnp.square(x - 0.5)),
    "oscillation": lambda x: jnp.sin(3.0 * x),
}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_optimal_discriminator_value_is_minus_log4_plus_2jsd(pair, x64):
  p_data, p_g = PAIRS[pair]
  x_data, x_g = _quantile_grid(p_data), _quantile_grid(p_g)
  v_star = _value(
      _optimal_logit(p_data, p_g, x_data), _optimal_logit(p_data, p_g, x_g)
  )
  want = -math.log(4.0) + 2.0 * _jsd(p_data, p_g)
  assert abs(float(v_star) - want) < _QUADRATURE, (float(v_star), want)
  if pair == "identical":
    # Logits exactly 0: two float64 means of GRID terms log 2, each within
    # GRID * U64 of its value (atol=1e-12 before: too tight in any order).
    np.testing.assert_allclose(v_star, -math.log(4.0),
                               atol=2 * GRID * 2.0**-53 * math.log(4.0))
  else:
    assert want > -math.log(4.0) + 1e-2  # the JSD term matters (2 JSD >= 0.17)


@pytest.mark.parametrize("pair", sorted(set(PAIRS) - {"identical"}))
def test_optimal_discriminator_maximises_value(pair, x64):
  p_data, p_g = PAIRS[pair]
  x_data, x_g = _quantile_grid(p_data), _quantile_grid(p_g)
  l_data = _optimal_logit(p_data, p_g, x_data)
  l_g = _optimal_logit(p_data, p_g, x_g)

  def value(eps, h):
    return _value(l_data + eps * h(x_data), l_g + eps * h(x_g))

  v_star = value(0.0, PERTURBATIONS["constant"])
  rng = np.random.default_rng(0)
  # Random smooth perturbations too: sums of random Fourier features.
  random_h = []
  for _ in range(3):
    freq, phase, amp = rng.normal(size=4), rng.uniform(0, 6.3, 4), rng.normal(size=4)

    def h(x, freq=freq, phase=phase, amp=amp):
      return jnp.sum(amp * jnp.sin(freq * x[:, None] + phase), axis=1)

    random_h.append(h)
  for h in [*PERTURBATIONS.values(), *random_h]:
    # D* is a stationary point: dV/dε = 0 in every direction... (the two
    # quadratures of ∫ h p_d p_g / (p_d + p_g) cancel to their error: < 1.2e-6
    # for the fixed h)
    slope = jax.grad(value)(0.0, h)
    assert abs(float(slope)) < _QUADRATURE, float(slope)
    # ...and a maximum: any perturbation, either sign, any size, lowers V (by
    # >= 1.7e-4 at |ε| = 0.05: far above float64 rounding).
    for eps in (-0.5, -0.05, 0.05, 0.5):
      assert float(value(eps, h)) < float(v_star), (eps, h)
  # Not every discriminator: the constant D = 1/2 has V = -log 4 < V(D*).
  half = _value(jnp.zeros_like(x_data), jnp.zeros_like(x_g))
  # float64 means of GRID equal terms: GRID * U64 = 2.2e-11 < the default 1e-7.
  np.testing.assert_allclose(half, -math.log(4.0))
  assert float(half) < float(v_star) - 1e-2  # by 2 JSD >= 0.17


@pytest.mark.parametrize("pair", ["gaussians_shifted", "logistic_vs_laplace"])
def test_least_squares_optimum_and_pearson_chi2(pair, x64):
  """LSGAN (Mao et al. 2017, Thm 1): D* = (b p_d + a p_g) / (p_d + p_g) and,
  with b - c = 1, b - a = 2, 2 C(G) = Pearson χ²(p_d + p_g || 2 p_g)."""
  p_data, p_g = PAIRS[pair]
  a, b, c = -1.0, 1.0, 0.0
  x_data, x_g = _quantile_grid(p_data), _quantile_grid(p_g)

  def d_star(x):
    w = jax.nn.sigmoid(_optimal_logit(p_data, p_g, x))  # p_d / (p_d + p_g)
    return b * w + a * (1 - w)

  d_loss = functools.partial(losses.least_squares_discriminator_loss, a=a, b=b)
  best = d_loss(d_star(x_data), d_star(x_g))
  # Perturbations of 0.1 raise the loss by >= 3.5e-3: far above float64 rounding.
  for h in PERTURBATIONS.values():
    for eps in (-0.1, 0.1):
      assert float(d_loss(d_star(x_data) + eps * h(x_data),
                          d_star(x_g) + eps * h(x_g))) > float(best)
  # C(G) = 1/2 E_d[(D* - c)^2] + 1/2 E_g[(D* - c)^2].
  c_of_g = losses.least_squares_generator_loss(
      d_star(x_data), c=c
  ) + losses.least_squares_generator_loss(d_star(x_g), c=c)
  def integrand(x):
    total = p_data.pdf(x) + p_g.pdf(x)
    return (p_g.pdf(x) - p_data.pdf(x)) ** 2 / total if total > 0 else 0.0

  chi2, _ = integrate.quad(
      integrand, -30, 30, limit=500, points=[p_data.mean(), p_g.mean()]
  )
  # Quadrature error: 2.7e-7 for logistic_vs_laplace, 1e-8 for the Gaussians.
  assert abs(2 * float(c_of_g) - chi2) < _QUADRATURE, (2 * float(c_of_g), chi2)


def test_saturating_generator_gradient_vanishes():
  """Goodfellow et al. 2014, Section 3: log(1 - D(G(z))) saturates early on.

  p_data = N(4, 1) and G_θ(z) = θ + z, judged by the optimal discriminator
  for the current generator. Far apart, D(G(z)) ≈ 0 and the saturating
  loss's gradient with respect to θ is orders of magnitude smaller than the
  non-saturating one's; at θ = 4 (p_g = p_data) they agree.
  """
  z = jnp.asarray(stats.norm.ppf((np.arange(4096) + 0.5) / 4096), jnp.float32)

  def grads(theta, theta_d):
    # Optimal D for N(4, 1) vs N(theta_d, 1): logit = log p_d - log p_g.
    def logits(x):
      return 0.5 * (jnp.square(x - theta_d) - jnp.square(x - 4.0))

    def sat(theta):
      return losses.minimax_generator_loss(logits(theta + z))

    def nonsat(theta):
      return losses.non_saturating_generator_loss(logits(theta + z))

    d_fake = jnp.mean(jax.nn.sigmoid(logits(theta + z)))
    return d_fake, jax.grad(sat)(theta), jax.grad(nonsat)(theta)

  ratios = []
  for theta in (-4.0, -2.0, 0.0, 2.0):
    d_fake, g_sat, g_ns = grads(jnp.float32(theta), theta)
    assert np.isfinite(g_sat) and np.isfinite(g_ns)
    # Both point the generator towards the data (decreasing loss as θ grows).
    assert g_sat < 0 and g_ns < 0
    ratios.append(float(g_ns / g_sat))
    # d logit / dθ is the constant 4 - θ, so the ratio of the gradients is
    # E[1 - D(G(z))] / E[D(G(z))]. float32: the two gradients and d_fake are
    # each a mean of 4096 terms of one sign (gamma(4096) = 2.4e-4 of it, after
    # < 8 roundings per term), and 1 - d_fake (d_fake <= 1/2) at most as far
    # off: 4 gamma(4096 + 8) = 9.8e-4 of the ratio. Any other weighting of the
    # gradient (a saturating loss with another derivative) is O(1) off.
    np.testing.assert_allclose(ratios[-1], (1 - d_fake) / d_fake,
                               rtol=4 * float32.gamma(4096 + 8))
    if d_fake < 1e-2:
      assert ratios[-1] > 1e2, (theta, float(d_fake), ratios[-1])
  # The further G is from the data, the worse the saturating loss: at θ = -4
  # the gradients differ by more than three orders of magnitude.
  assert ratios[0] > 1e3, ratios
  assert ratios == sorted(ratios, reverse=True), ratios
  # Where p_g = p_data (D* = 1/2) the two gradients coincide.
  # Exactly 0 in float32: the logit 0.5 ((x - 4)^2 - (x - 4)^2) and its
  # derivative subtract equal values; atol only guards.
  _, g_sat, g_ns = grads(jnp.float32(4.0), 4.0)
  np.testing.assert_allclose(g_sat, 0.0, atol=1e-6)
  np.testing.assert_allclose(g_ns, 0.0, atol=1e-6)
  d_fake, g_sat, g_ns = grads(jnp.float32(4.0), 3.0)  # slightly stale D
  assert 0.1 < float(g_ns / g_sat) < 10  # not rounding: D* ~ 1/2 keeps it O(1)


# ---------------------------------------------------------------------------
# WGAN-GP estimates the Wasserstein-1 distance.
# ---------------------------------------------------------------------------


def _critic_init(key, dim, width=64):
  k1, k2, k3 = jax.random.split(key, 3)
  return {
      "w1": jax.random.normal(k1, (dim, width)),
      "b1": jnp.zeros(width),
      "w2": jax.random.normal(k2, (width, width)) / math.sqrt(width),
      "b2": jnp.zeros(width),
      "w3": jax.random.normal(k3, (width, 1)) / math.sqrt(width),
  }


def _critic(params, x):
  h = jax.nn.gelu(x @ params["w1"] + params["b1"])
  h = jax.nn.gelu(h @ params["w2"] + params["b2"])
  return h @ params["w3"]


def _train_wgan_gp_critic(shift, *, one_sided, weight=10.0, steps=600, seed=0):
  """Trains a critic between N(0, I) and N(shift, I); returns E_r f - E_g f."""
  shift = jnp.asarray(shift, jnp.float32)
  dim, batch = shift.shape[0], 256
  # Gulrajani et al.'s Adam settings; the decay removes SGD noise at the end.
  tx = optax.adam(optax.cosine_decay_schedule(1e-3, steps), b1=0.5, b2=0.9)
  params = _critic_init(jax.random.key(seed), dim)

  def loss(params, key):
    k_real, k_fake, k_gp = jax.random.split(key, 3)
    real = jax.random.normal(k_real, (batch, dim))
    fake = shift + jax.random.normal(k_fake, (batch, dim))
    critic = functools.partial(_critic, params)
    gp = losses.gradient_penalty(critic, real, fake, k_gp, one_sided=one_sided)
    return losses.wasserstein_discriminator_loss(critic(real), critic(fake)) + (
        weight * gp
    )

  def step(carry, key):
    params, opt_state = carry
    grads = jax.grad(loss)(params, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  @jax.jit
  def train(params):
    keys = jax.random.split(jax.random.key(seed + 1), steps)
    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), keys)
    return params

  params = train(params)
  z = jnp.asarray(
      stats.norm.ppf((np.arange(20_000) + 0.5) / 20_000), jnp.float32
  )[:, None]
  if dim > 1:  # the other coordinates are identically distributed: reuse z
    z = jnp.concatenate([z, jnp.roll(z, 7919, axis=0)], axis=1)
  return float(jnp.mean(_critic(params, z)) - jnp.mean(_critic(params, z + shift)))


def _penalised_optimum(distance, weight):
  """E_r f - E_g f of the best critic under the penalty, in 1-D.

  Maximising ∫ f'(x) ΔF(x) dx - λ ∫ max(0, |f'| - 1)^2 ρ(x) dx pointwise
  (ΔF = F_r - F_g, ρ the density of the interpolates) gives
  |f'| = 1 + |ΔF| / (2 λ ρ): the estimate is W1 + ∫ ΔF^2 / (2 λ ρ) dx, above
  W1 by about distance / (2 λ) of it.
  """
  x = np.linspace(-8.0, distance + 8.0, 8001)
  alpha = (np.arange(2000) + 0.5) / 2000
  mean = (1 - alpha[:, None]) * distance
  std = np.sqrt(alpha**2 + (1 - alpha) ** 2)[:, None]
  rho = stats.norm.pdf(x[None, :], mean, std).mean(axis=0)
  delta = np.abs(stats.norm.cdf(x) - stats.norm.cdf(x - distance))
  dx = x[1] - x[0]
  return float(np.sum(delta + delta**2 / (2 * weight * rho)) * dx)


def test_gradient_penalty_critic_estimates_w1():
  """Between N(0, 1) and N(1, 1), W1 = 1; λ = 10 as in Gulrajani et al.

  The estimate exceeds W1 by the penalty's bias, which the critic reproduces
  to within 1% of the analytic optimum (about 5.4% here, see
  _penalised_optimum).

  In exactly one dimension the two-sided penalty has a barrier at f' = 0 (the
  gradient cannot change sign without its norm passing through 0, which the
  penalty punishes), so a critic initialised with the wrong orientation
  stays there; the one-sided penalty has no such barrier. In two dimensions
  the gradient can turn around without shrinking, and the two-sided penalty
  works too (next test).
  """
  # Not rounding: the trained critic's optimisation error (one machine: 7e-5
  # of the optimum; a CPU that rounds otherwise follows another trajectory of
  # the same decayed Adam) and the penalty's bias (5.4%).
  estimate = _train_wgan_gp_critic([1.0], one_sided=True, steps=400)
  assert abs(estimate - 1.0) < 0.1, estimate
  want = _penalised_optimum(1.0, weight=10.0)
  assert abs(estimate / want - 1) < 0.01, (estimate, want)


def test_two_sided_gradient_penalty_critic_estimates_w1():
  # N(0, I) vs N((1, 0), I) in 2-D: W1 = 1, all in the first coordinate.
  estimate = _train_wgan_gp_critic([1.0, 0.0], one_sided=False, steps=500)
  # Not rounding: the penalty's bias and optimisation error (one machine: 1.059).
  assert abs(estimate - 1.0) < 0.1, estimate


def test_gradient_penalty_critic_reaches_the_penalised_optimum():
  # At distance 2 the penalty's bias (≈ distance / 2λ = 10%) is plain, and
  # the trained critic matches the analytic optimum of the penalised problem
  # rather than W1 itself.
  want = _penalised_optimum(2.0, weight=10.0)
  assert want > 2.0 * 1.08
  estimate = _train_wgan_gp_critic([2.0], one_sided=True, steps=400)
  # Not rounding: optimisation error (one machine: 2.6e-4 of it), as above.
  assert abs(estimate / want - 1) < 0.01, (estimate, want)
