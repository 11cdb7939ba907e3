"""Adversarial losses: pure functions of discriminator (critic) outputs.

Every function takes raw, unbounded discriminator outputs ("logits"; for the
Wasserstein and hinge losses these are critic values) and returns a scalar:
the mean over the batch and over any trailing axes, so that per-patch
discriminators (PatchGAN, outputs of shape ``(B, H, W, 1)``) work unchanged.
Real and fake outputs may have different batch sizes (except for the
relativistic pairing loss, which pairs them) but must share the trailing
shape. Shapes are checked when the function is traced.

Computation is done in at least float32: bfloat16/float16 outputs are upcast
before any log or square, float64 is kept when x64 is enabled.

Notation used in the docstrings: ``r`` are the logits on real data, ``f`` the
logits on generated data, ``σ`` the logistic sigmoid, ``D = σ(logit)`` the
discriminator's probability that its input is real, and ``E_r``, ``E_f``
means over the real and the fake batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _as_float(x: ArrayLike, name: str) -> Array:
  """Converts to an array of at least float32 with a leading batch axis."""
  x = jnp.asarray(x)
  if x.ndim < 1:
    raise ValueError(
        f"{name} must have a leading batch axis, shape (B,) or (B, ...); got a "
        f"scalar of shape {x.shape}."
    )
  if x.shape[0] == 0:
    raise ValueError(f"{name} has an empty batch: shape {x.shape}.")
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _check_pair(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> tuple[Array, Array]:
  """Checks and converts a (real, fake) pair of discriminator outputs."""
  real = _as_float(real_logits, "real_logits")
  fake = _as_float(fake_logits, "fake_logits")
  if real.shape[1:] != fake.shape[1:]:
    raise ValueError(
        "real_logits and fake_logits may differ in batch size but must have "
        f"the same trailing shape; got real_logits.shape={real.shape} and "
        f"fake_logits.shape={fake.shape}."
    )
  return real, fake


def _check_label_smoothing(label_smoothing: float) -> None:
  if isinstance(label_smoothing, (int, float)) and not 0.0 <= label_smoothing < 1:
    raise ValueError(
        f"label_smoothing must be in [0, 1); got {label_smoothing}."
    )


def _binary_cross_entropy(logits: Array, target: ArrayLike) -> Array:
  """Elementwise -[t log σ(x) + (1 - t) log(1 - σ(x))], in a stable form."""
  # log(1 - σ(x)) = log σ(-x).
  return -(
      target * jax.nn.log_sigmoid(logits)
      + (1.0 - target) * jax.nn.log_sigmoid(-logits)
  )


# ---------------------------------------------------------------------------
# Minimax / non-saturating GAN (Goodfellow et al., 2014).
# ---------------------------------------------------------------------------


def minimax_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    label_smoothing: float = 0.0,
) -> Array:
  r"""Discriminator loss of the original GAN: binary cross-entropy.

  The negated minimax value, ``-V(D, G)``::

    L_D = -E_r[t log σ(r) + (1 - t) log(1 - σ(r))] - E_f[log(1 - σ(f))]
        = E_r[softplus(-r) + (1 - t) r] + E_f[softplus(f)]

  with real target ``t = 1 - label_smoothing`` (one-sided label smoothing,
  Salimans et al., 2016: fake targets stay 0). This is also the discriminator
  loss of the non-saturating GAN. Its minimum over all ``D`` for fixed ``G``,
  reached at ``D* = p_data / (p_data + p_g)``, is
  ``log 4 - 2 JSD(p_data || p_g)`` when ``label_smoothing = 0``.

  References:
    Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014,
    https://arxiv.org/abs/1406.2661.
    Salimans et al., *Improved Techniques for Training GANs*, NeurIPS 2016,
    https://arxiv.org/abs/1606.03498 (one-sided label smoothing).

  Args:
    real_logits: Discriminator logits on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator logits on generated data, shape ``(B_f, ...)``
      with the same trailing shape as ``real_logits``.
    label_smoothing: Amount of one-sided label smoothing, in ``[0, 1)``; the
      real target is ``1 - label_smoothing``. 0 gives the original loss.

  Returns:
    A scalar: the loss, averaged over the real and over the fake batch.
  """
  _check_label_smoothing(label_smoothing)
  real, fake = _check_pair(real_logits, fake_logits)
  real_loss = _binary_cross_entropy(real, 1.0 - label_smoothing)
  fake_loss = _binary_cross_entropy(fake, 0.0)
  return jnp.mean(real_loss) + jnp.mean(fake_loss)


def minimax_generator_loss(fake_logits: ArrayLike) -> Array:
  r"""Saturating generator loss of the original minimax GAN.

  ::

    L_G = E_f[log(1 - σ(f))] = -E_f[softplus(f)]

  The generator minimises ``V(D, G)`` directly. When the discriminator
  confidently rejects the samples (``σ(f) → 0``) the gradient
  ``∂L_G/∂f = -σ(f)`` vanishes, which is why the non-saturating form
  (:func:`non_saturating_generator_loss`) is used in practice.

  References:
    Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014,
    https://arxiv.org/abs/1406.2661.

  Args:
    fake_logits: Discriminator logits on generated data, shape ``(B, ...)``.

  Returns:
    A scalar: the loss, averaged over the batch.
  """
  fake = _as_float(fake_logits, "fake_logits")
  return jnp.mean(jax.nn.log_sigmoid(-fake))


def non_saturating_generator_loss(fake_logits: ArrayLike) -> Array:
  r"""Non-saturating generator loss (the "-log D trick").

  ::

    L_G = -E_f[log σ(f)] = E_f[softplus(-f)]

  Same fixed points as the minimax game, but strong gradients
  (``∂L_G/∂f = σ(f) - 1``) early in training, when ``σ(f) → 0``.

  References:
    Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014,
    https://arxiv.org/abs/1406.2661, Section 3.

  Args:
    fake_logits: Discriminator logits on generated data, shape ``(B, ...)``.

  Returns:
    A scalar: the loss, averaged over the batch.
  """
  fake = _as_float(fake_logits, "fake_logits")
  return -jnp.mean(jax.nn.log_sigmoid(fake))


# ---------------------------------------------------------------------------
# Wasserstein GAN (Arjovsky et al., 2017).
# ---------------------------------------------------------------------------


def wasserstein_discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Wasserstein critic loss.

  ::

    L_D = E_f[f] - E_r[r]

  Minimising it over 1-Lipschitz critics makes ``-L_D`` an estimate of the
  Wasserstein-1 distance between the data and the generator distributions.
  The Lipschitz constraint is not part of the loss: add
  :func:`gradient_penalty` (WGAN-GP) or use :func:`weight_clipping` (WGAN).

  References:
    Arjovsky, Chintala and Bottou, *Wasserstein GAN*, ICML 2017,
    https://arxiv.org/abs/1701.07875.

  Args:
    real_logits: Critic outputs on real data, shape ``(B_r, ...)``.
    fake_logits: Critic outputs on generated data, shape ``(B_f, ...)`` with
      the same trailing shape as ``real_logits``.

  Returns:
    A scalar: the loss.
  """
  real, fake = _check_pair(real_logits, fake_logits)
  return jnp.mean(fake) - jnp.mean(real)


def wasserstein_generator_loss(fake_logits: ArrayLike) -> Array:
  r"""Wasserstein generator loss.

  ::

    L_G = -E_f[f]

  References:
    Arjovsky, Chintala and Bottou, *Wasserstein GAN*, ICML 2017,
    https://arxiv.org/abs/1701.07875.

  Args:
    fake_logits: Critic outputs on generated data, shape ``(B, ...)``.

  Returns:
    A scalar: the loss.
  """
  fake = _as_float(fake_logits, "fake_logits")
  return -jnp.mean(fake)


# ---------------------------------------------------------------------------
# Hinge loss (Lim & Ye, 2017; Miyato et al., 2018).
# ---------------------------------------------------------------------------


def hinge_discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Hinge discriminator loss.

  ::

    L_D = E_r[max(0, 1 - r)] + E_f[max(0, 1 + f)]

  References:
    Lim and Ye, *Geometric GAN*, 2017, https://arxiv.org/abs/1705.02894.
    Miyato et al., *Spectral Normalization for Generative Adversarial
    Networks*, ICLR 2018, https://arxiv.org/abs/1802.05957.

  Args:
    real_logits: Discriminator outputs on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator outputs on generated data, shape
      ``(B_f, ...)`` with the same trailing shape as ``real_logits``.

  Returns:
    A scalar: the loss.
  """
  real, fake = _check_pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def hinge_generator_loss(fake_logits: ArrayLike) -> Array:
  r"""Generator loss paired with the hinge discriminator loss.

  ::

    L_G = -E_f[f]

  (the same as :func:`wasserstein_generator_loss`).

  References:
    Lim and Ye, *Geometric GAN*, 2017, https://arxiv.org/abs/1705.02894.
    Miyato et al., *Spectral Normalization for Generative Adversarial
    Networks*, ICLR 2018, https://arxiv.org/abs/1802.05957.

  Args:
    fake_logits: Discriminator outputs on generated data, shape ``(B, ...)``.

  Returns:
    A scalar: the loss.
  """
  fake = _as_float(fake_logits, "fake_logits")
  return -jnp.mean(fake)


# ---------------------------------------------------------------------------
# Least squares GAN (Mao et al., 2017).
# ---------------------------------------------------------------------------


def least_squares_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    a: float = 0.0,
    b: float = 1.0,
) -> Array:
  r"""Least squares (LSGAN) discriminator loss.

  ::

    L_D = 1/2 E_r[(r - b)^2] + 1/2 E_f[(f - a)^2]

  ``a`` is the target for fake data and ``b`` the target for real data. The
  defaults (``a=0, b=1, c=1``) are the common 0-1 coding; ``a=-1, b=1, c=0``
  makes the generator minimise the Pearson χ² divergence between
  ``p_data + p_g`` and ``2 p_g`` (the paper's Section 3.2.1).

  References:
    Mao et al., *Least Squares Generative Adversarial Networks*, ICCV 2017,
    https://arxiv.org/abs/1611.04076.

  Args:
    real_logits: Discriminator outputs on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator outputs on generated data, shape
      ``(B_f, ...)`` with the same trailing shape as ``real_logits``.
    a: Target value for fake data.
    b: Target value for real data.

  Returns:
    A scalar: the loss.
  """
  real, fake = _check_pair(real_logits, fake_logits)
  return 0.5 * jnp.mean(jnp.square(real - b)) + 0.5 * jnp.mean(
      jnp.square(fake - a)
  )


def least_squares_generator_loss(
    fake_logits: ArrayLike, c: float = 1.0
) -> Array:
  r"""Least squares (LSGAN) generator loss.

  ::

    L_G = 1/2 E_f[(f - c)^2]

  ``c`` is the value the generator wants the discriminator to output on its
  samples (see :func:`least_squares_discriminator_loss`).

  References:
    Mao et al., *Least Squares Generative Adversarial Networks*, ICCV 2017,
    https://arxiv.org/abs/1611.04076.

  Args:
    fake_logits: Discriminator outputs on generated data, shape ``(B, ...)``.
    c: Target value the generator pushes the discriminator output towards.

  Returns:
    A scalar: the loss.
  """
  fake = _as_float(fake_logits, "fake_logits")
  return 0.5 * jnp.mean(jnp.square(fake - c))


# ---------------------------------------------------------------------------
# Relativistic average GANs (Jolicoeur-Martineau, 2018).
# ---------------------------------------------------------------------------


def _relativistic_average(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> tuple[Array, Array]:
  """Returns (r - E_f[f], f - E_r[r]), batch means taken over axis 0 only."""
  real, fake = _check_pair(real_logits, fake_logits)
  real_rel = real - jnp.mean(fake, axis=0, keepdims=True)
  fake_rel = fake - jnp.mean(real, axis=0, keepdims=True)
  return real_rel, fake_rel


def relativistic_average_discriminator_loss(
    real_logits: ArrayLike,
    fake_logits: ArrayLike,
    label_smoothing: float = 0.0,
) -> Array:
  r"""Relativistic average standard GAN (RaSGAN) discriminator loss.

  With ``r̃ = r - E_f[f]`` and ``f̃ = f - E_r[r]`` (the discriminator judges
  whether real data is more realistic than fake data on average)::

    L_D = -E_r[t log σ(r̃) + (1 - t) log(1 - σ(r̃))] - E_f[log(1 - σ(f̃))]

  with real target ``t = 1 - label_smoothing`` (one-sided label smoothing).
  The batch averages are taken over the batch axis only, so for per-patch
  outputs of shape ``(B, H, W, 1)`` each patch position is compared with its
  own average. Gradients flow through the averages.

  References:
    Jolicoeur-Martineau, *The relativistic discriminator: a key element
    missing from standard GAN*, ICLR 2019, https://arxiv.org/abs/1807.00734.

  Args:
    real_logits: Discriminator logits on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator logits on generated data, shape ``(B_f, ...)``
      with the same trailing shape as ``real_logits``.
    label_smoothing: One-sided label smoothing in ``[0, 1)``.

  Returns:
    A scalar: the loss.
  """
  _check_label_smoothing(label_smoothing)
  real_rel, fake_rel = _relativistic_average(real_logits, fake_logits)
  return jnp.mean(
      _binary_cross_entropy(real_rel, 1.0 - label_smoothing)
  ) + jnp.mean(_binary_cross_entropy(fake_rel, 0.0))


def relativistic_average_generator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Relativistic average standard GAN (RaSGAN) generator loss.

  The discriminator loss with the roles of real and fake swapped::

    L_G = -E_f[log σ(f̃)] - E_r[log(1 - σ(r̃))]

  with ``r̃ = r - E_f[f]`` and ``f̃ = f - E_r[r]``. Unlike most generator
  losses it needs the logits on real data too.

  References:
    Jolicoeur-Martineau, *The relativistic discriminator: a key element
    missing from standard GAN*, ICLR 2019, https://arxiv.org/abs/1807.00734.

  Args:
    real_logits: Discriminator logits on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator logits on generated data, shape ``(B_f, ...)``
      with the same trailing shape as ``real_logits``.

  Returns:
    A scalar: the loss.
  """
  real_rel, fake_rel = _relativistic_average(real_logits, fake_logits)
  return jnp.mean(_binary_cross_entropy(fake_rel, 1.0)) + jnp.mean(
      _binary_cross_entropy(real_rel, 0.0)
  )


def relativistic_average_least_squares_discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Relativistic average least squares GAN (RaLSGAN) discriminator loss.

  ::

    L_D = E_r[(r̃ - 1)^2] + E_f[(f̃ + 1)^2]

  with ``r̃ = r - E_f[f]`` and ``f̃ = f - E_r[r]`` (batch means over axis 0).

  References:
    Jolicoeur-Martineau, *The relativistic discriminator: a key element
    missing from standard GAN*, ICLR 2019, https://arxiv.org/abs/1807.00734.

  Args:
    real_logits: Discriminator outputs on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator outputs on generated data, shape
      ``(B_f, ...)`` with the same trailing shape as ``real_logits``.

  Returns:
    A scalar: the loss.
  """
  real_rel, fake_rel = _relativistic_average(real_logits, fake_logits)
  return jnp.mean(jnp.square(real_rel - 1.0)) + jnp.mean(
      jnp.square(fake_rel + 1.0)
  )


def relativistic_average_least_squares_generator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Relativistic average least squares GAN (RaLSGAN) generator loss.

  ::

    L_G = E_f[(f̃ - 1)^2] + E_r[(r̃ + 1)^2]

  with ``r̃ = r - E_f[f]`` and ``f̃ = f - E_r[r]`` (batch means over axis 0).

  References:
    Jolicoeur-Martineau, *The relativistic discriminator: a key element
    missing from standard GAN*, ICLR 2019, https://arxiv.org/abs/1807.00734.

  Args:
    real_logits: Discriminator outputs on real data, shape ``(B_r, ...)``.
    fake_logits: Discriminator outputs on generated data, shape
      ``(B_f, ...)`` with the same trailing shape as ``real_logits``.

  Returns:
    A scalar: the loss.
  """
  real_rel, fake_rel = _relativistic_average(real_logits, fake_logits)
  return jnp.mean(jnp.square(fake_rel - 1.0)) + jnp.mean(
      jnp.square(real_rel + 1.0)
  )


# ---------------------------------------------------------------------------
# Relativistic pairing GAN (Jolicoeur-Martineau, 2018; R3GAN, Huang et al. 2024).
# ---------------------------------------------------------------------------


def _paired(real_logits: ArrayLike, fake_logits: ArrayLike) -> tuple[Array, Array]:
  """Checks a (real, fake) pair that is compared example by example."""
  real, fake = _check_pair(real_logits, fake_logits)
  if real.shape[0] != fake.shape[0]:
    raise ValueError(
        "The relativistic pairing loss pairs each real example with one fake: "
        "real_logits and fake_logits must have the same batch size; got "
        f"real_logits.shape={real.shape} and fake_logits.shape={fake.shape}."
    )
  return real, fake


def relativistic_pairing_discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Relativistic pairing GAN (RpGAN) discriminator loss.

  Each real example ``x_i`` is paired with the fake ``G(z_i)`` drawn beside
  it, and the discriminator is asked that the real one be the more real of
  the two::

    L_D = E_i[softplus(-(r_i - f_i))] = -E_i[log σ(r_i - f_i)]

  Unlike the relativistic *average* loss there is no batch mean inside the
  sigmoid. With R1 and R2 (``gamma/2 (R1 + R2)``) this is the loss of R3GAN,
  which proves local convergence for the regularised pair; R3GAN's code
  computes it as ``softplus(-(RealLogits - FakeLogits))``
  (brownvc/R3GAN, R3GAN/Trainer.py, ``AccumulateDiscriminatorGradients``).

  References:
    Jolicoeur-Martineau, *The relativistic discriminator: a key element
    missing from standard GAN*, ICLR 2019, https://arxiv.org/abs/1807.00734
    (RpGAN, Section 4). Huang et al., *The GAN is dead; long live the GAN! A
    Modern GAN Baseline*, NeurIPS 2024, https://arxiv.org/abs/2501.05441,
    Eq. (2).

  Args:
    real_logits: Discriminator logits on real data, shape ``(B, ...)``.
    fake_logits: Discriminator logits on generated data, the same shape:
      ``fake_logits[i]`` is paired with ``real_logits[i]``.

  Returns:
    A scalar: the loss.

  Raises:
    ValueError: If the batch sizes differ (nothing to pair with).
  """
  real, fake = _paired(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(fake - real))


def relativistic_pairing_generator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  r"""Relativistic pairing GAN (RpGAN) generator loss.

  The discriminator loss with real and fake swapped: each fake should look
  more real than the real example it is paired with::

    L_G = E_i[softplus(-(f_i - r_i))]

  It needs the logits on real data; the gradient reaches the generator
  through ``f`` (R3GAN's code detaches nothing else:
  brownvc/R3GAN, R3GAN/Trainer.py, ``AccumulateGeneratorGradients``).

  References:
    Jolicoeur-Martineau, ICLR 2019, https://arxiv.org/abs/1807.00734;
    Huang et al., NeurIPS 2024, https://arxiv.org/abs/2501.05441, Eq. (2).

  Args:
    real_logits: Discriminator logits on real data, shape ``(B, ...)``.
    fake_logits: Discriminator logits on generated data, the same shape.

  Returns:
    A scalar: the loss.

  Raises:
    ValueError: If the batch sizes differ.
  """
  real, fake = _paired(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(real - fake))


# ---------------------------------------------------------------------------
# Feature matching (Salimans et al., 2016).
# ---------------------------------------------------------------------------


def feature_matching_loss(real_features, fake_features) -> Array:
  r"""Feature matching generator loss on intermediate discriminator features.

  ::

    L_G = Σ_l || E_r[φ_l(x)] - E_f[φ_l(G(z))] ||_2^2

  where ``φ_l`` are the features of layer ``l`` of the discriminator, batch
  means are taken over axis 0 and the squared norm sums over all remaining
  axes. ``real_features`` and ``fake_features`` may be single arrays or
  matching pytrees (e.g. a list with one array per layer); the sum runs over
  the leaves. Gradients flow into both sides; wrap ``real_features`` in
  ``jax.lax.stop_gradient`` if they should be treated as constants.

  References:
    Salimans et al., *Improved Techniques for Training GANs*, NeurIPS 2016,
    https://arxiv.org/abs/1606.03498, Section 3.1.

  Args:
    real_features: Features of real data: an array of shape ``(B_r, ...)`` or
      a pytree of such arrays.
    fake_features: Features of generated data with the same structure as
      ``real_features``; each leaf of shape ``(B_f, ...)`` with the same
      trailing shape as the matching real leaf.

  Returns:
    A scalar: the loss.
  """
  real_leaves, real_tree = jax.tree.flatten(real_features)
  fake_leaves, fake_tree = jax.tree.flatten(fake_features)
  if real_tree != fake_tree:
    raise ValueError(
        "real_features and fake_features must have the same tree structure; "
        f"got {real_tree} and {fake_tree}."
    )
  if not real_leaves:
    raise ValueError("feature_matching_loss needs at least one feature array.")
  total = jnp.zeros((), jnp.float32)
  for i, (real, fake) in enumerate(zip(real_leaves, fake_leaves, strict=True)):
    real = _as_float(real, f"real_features[{i}]")
    fake = _as_float(fake, f"fake_features[{i}]")
    if real.shape[1:] != fake.shape[1:]:
      raise ValueError(
          f"Feature {i}: real and fake features must have the same trailing "
          f"shape; got {real.shape} and {fake.shape}."
      )
    diff = jnp.mean(real, axis=0) - jnp.mean(fake, axis=0)
    total = total + jnp.sum(jnp.square(diff))
  return total
