"""Gradient penalties on the discriminator (critic).

Each penalty takes the critic as a function ``critic_fn(x) -> logits`` of a
batch ``x`` of shape ``(B, ...)``, returning outputs of shape ``(B,)`` or
``(B, 1)``. Anything else the critic needs (its parameters, class labels of a
conditional critic, a ``train`` flag) is bound by a closure or
``functools.partial``, e.g.::

  critic_fn = lambda x: discriminator.apply({'params': params}, x, labels)
  gp = gradient_penalty(critic_fn, real_images, fake_images, key)

so that the penalty is differentiable with respect to whatever the closure
captures (take ``jax.grad`` of the total discriminator loss with respect to
``params`` as usual). Per-example input gradients are computed as the
gradient of the sum of the critic outputs, which is exact only when the
critic treats examples independently: a critic with batch statistics (e.g.
BatchNorm in training mode, minibatch discrimination) mixes examples, as it
does in the papers' PyTorch implementations.

Penalties are returned without their weight: multiply by ``λ`` (WGAN-GP,
DRAGAN) or ``γ/2`` (R1, R2) yourself.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
CriticFn = Callable[[Array], Array]


def _float_batch(x: ArrayLike, name: str) -> Array:
  x = jnp.asarray(x)
  if x.ndim < 1 or x.shape[0] == 0:
    raise ValueError(
        f"{name} must be a non-empty batch of shape (B, ...); got shape "
        f"{x.shape}."
    )
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  return x


def _input_gradients(critic_fn: CriticFn, x: Array) -> Array:
  """Per-example gradients d critic(x)_i / d x_i, shape of ``x``."""

  def summed(x):
    out = jnp.asarray(critic_fn(x))
    if out.ndim < 1 or out.shape[0] != x.shape[0] or out.size != x.shape[0]:
      raise ValueError(
          "critic_fn must return one output per example, shape (B,) or "
          f"(B, 1); for an input of shape {x.shape} it returned shape "
          f"{out.shape}."
      )
    return jnp.sum(out.astype(jnp.promote_types(out.dtype, jnp.float32)))

  return jax.grad(summed)(x)


def _squared_norms(grads: Array) -> Array:
  """Per-example squared L2 norms over all non-batch axes, at least float32."""
  grads = grads.astype(jnp.promote_types(grads.dtype, jnp.float32))
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def _safe_norm(squared_norm: Array) -> Array:
  """sqrt with a zero (not NaN/inf) derivative at 0.

  ``jnp.sqrt`` has an infinite derivative at 0, which turns into NaN when
  multiplied by the zero derivative of the squared norm of a vanishing
  gradient. The double ``where`` keeps both the value (exactly 0) and its
  derivative (0) finite.
  """
  positive = squared_norm > 0
  safe = jnp.where(positive, squared_norm, 1.0)
  return jnp.where(positive, jnp.sqrt(safe), 0.0)


def _norm_penalty(norms: Array, target: float, one_sided: bool) -> Array:
  excess = norms - target
  if one_sided:
    excess = jax.nn.relu(excess)
  return jnp.mean(jnp.square(excess))


def _interpolation_weights(key: Array | None, alpha: ArrayLike | None,
                           shape: tuple, dtype) -> Array:
  """Per-example weights of shape (B, 1, ...) for data of `shape`: drawn
  from U(0, 1) with `key`, or `alpha` (a scalar or B values) checked."""
  batch = shape[0]
  if alpha is None:
    alpha = jax.random.uniform(key, (batch,), dtype=dtype)
  else:
    alpha = jnp.asarray(alpha, dtype=dtype)
    if not (alpha.size == 1 or (alpha.ndim >= 1 and alpha.shape[0] == batch
                                and alpha.size == batch)):
      raise ValueError(
          f"alpha must be a scalar or hold one weight per example, shape "
          f"({batch},); got shape {alpha.shape}."
      )
    alpha = jnp.broadcast_to(alpha.reshape(-1), (batch,))
  return alpha.reshape((batch,) + (1,) * (len(shape) - 1))


def gradient_penalty(
    critic_fn: CriticFn,
    real: ArrayLike,
    fake: ArrayLike,
    key: Array | None = None,
    *,
    alpha: ArrayLike | None = None,
    target: float = 1.0,
    one_sided: bool = False,
) -> Array:
  r"""WGAN-GP gradient penalty on random interpolates of real and fake data.

  ::

    x̂_i = α_i x_i + (1 - α_i) x̃_i,          α_i ~ U(0, 1)
    GP  = E_i[(||∇_x̂ critic(x̂_i)||_2 - target)^2]

  or, with ``one_sided=True``, ``E_i[max(0, ||∇ critic(x̂_i)|| - target)^2]``
  (penalises only gradients steeper than ``target``). The norm is the L2
  norm over all non-batch axes of each example's input gradient, computed
  safely: a zero gradient gives a finite penalty and finite gradients with
  respect to the critic's parameters. Add ``λ * GP`` (``λ = 10`` in the
  paper) to the critic loss.

  References:
    Gulrajani et al., *Improved Training of Wasserstein GANs*, NeurIPS 2017,
    https://arxiv.org/abs/1704.00028. The one-sided form is discussed in its
    Appendix and by Petzka et al., *On the regularization of Wasserstein
    GANs*, ICLR 2018, https://arxiv.org/abs/1709.08894.

  Args:
    critic_fn: ``x -> outputs`` of shape ``(B,)`` or ``(B, 1)``. Extra inputs
      (parameters, labels of a conditional critic) are bound by a closure; see
      the module docstring.
    real: Real data, shape ``(B, ...)``.
    fake: Generated data, same shape as ``real``.
    key: PRNG key to draw ``α`` from ``U(0, 1)``, one per example. Exactly one
      of ``key`` and ``alpha`` must be given.
    alpha: Interpolation weights, shape ``(B,)`` (or ``(B, 1, ...)``, or a
      scalar), instead of
      drawing them from ``key``. ``α = 1`` evaluates at ``real``, ``α = 0`` at
      ``fake``.
    target: Gradient norm the critic is pushed towards (``K`` of a
      ``K``-Lipschitz critic).
    one_sided: Whether to penalise only norms above ``target``.

  Returns:
    A scalar: the unweighted penalty.

  Raises:
    ValueError: If both or neither of ``key`` and ``alpha`` are given, or the
      shapes do not match.
  """
  if (key is None) == (alpha is None):
    raise ValueError(
        'gradient_penalty needs exactly one of `key` (to draw the '
        'interpolation weights) and `alpha` (to give them); got '
        f'{"both" if key is not None else "neither"}.'
    )
  real = _float_batch(real, "real")
  fake = _float_batch(fake, "fake")
  if real.shape != fake.shape:
    raise ValueError(
        "real and fake must have the same shape to be interpolated; got "
        f"real.shape={real.shape} and fake.shape={fake.shape}."
    )
  alpha = _interpolation_weights(key, alpha, real.shape,
                                 jnp.promote_types(real.dtype, fake.dtype))
  interpolates = alpha * real + (1.0 - alpha) * fake
  grads = _input_gradients(critic_fn, interpolates)
  norms = _safe_norm(_squared_norms(grads))
  return _norm_penalty(norms, target, one_sided)


def r1_penalty(critic_fn: CriticFn, real: ArrayLike) -> Array:
  r"""R1 penalty: squared gradient norm of the discriminator on real data.

  ::

    R1 = E_r[||∇_x D(x)||_2^2]

  The paper's regulariser is ``γ/2 * R1`` added to the discriminator loss
  (``D`` there is the logit, as here). No square root is taken, so there is
  no singularity at zero gradient.

  References:
    Mescheder, Geiger and Nowozin, *Which Training Methods for GANs do
    actually Converge?*, ICML 2018, https://arxiv.org/abs/1801.04406.

  Args:
    critic_fn: ``x -> logits`` of shape ``(B,)`` or ``(B, 1)``; extra inputs
      bound by a closure (see the module docstring).
    real: Real data, shape ``(B, ...)``.

  Returns:
    A scalar: the unweighted penalty.
  """
  real = _float_batch(real, "real")
  return jnp.mean(_squared_norms(_input_gradients(critic_fn, real)))


def r2_penalty(critic_fn: CriticFn, fake: ArrayLike) -> Array:
  r"""R2 penalty: squared gradient norm of the discriminator on fake data.

  ::

    R2 = E_f[||∇_x D(x̃)||_2^2]

  The paper's regulariser is ``γ/2 * R2``. Pass ``fake`` through
  ``jax.lax.stop_gradient`` if the generator should not be differentiated.

  References:
    Mescheder, Geiger and Nowozin, *Which Training Methods for GANs do
    actually Converge?*, ICML 2018, https://arxiv.org/abs/1801.04406.

  Args:
    critic_fn: ``x -> logits`` of shape ``(B,)`` or ``(B, 1)``; extra inputs
      bound by a closure (see the module docstring).
    fake: Generated data, shape ``(B, ...)``.

  Returns:
    A scalar: the unweighted penalty.
  """
  fake = _float_batch(fake, "fake")
  return jnp.mean(_squared_norms(_input_gradients(critic_fn, fake)))


def dragan_penalty(
    critic_fn: CriticFn,
    real: ArrayLike,
    key: Array,
    *,
    perturbation_scale: float = 0.5,
    target: float = 1.0,
) -> Array:
  r"""DRAGAN gradient penalty in a noisy neighbourhood of the real data.

  ::

    x_p = x + c · std(x) · u,                 u ~ U(0, 1) elementwise
    x̂   = x + α (x_p - x),                    α ~ U(0, 1) per example
    P   = E[(||∇_x̂ D(x̂)||_2 - target)^2]

  with ``c = perturbation_scale`` and ``std(x)`` the standard deviation of
  the whole real batch, as in the authors' reference implementation (the
  paper writes the perturbation as ``δ ~ N(0, cI)``). Add ``λ * P``
  (``λ = 10`` in the paper) to the discriminator loss.

  References:
    Kodali et al., *On Convergence and Stability of GANs*, 2017,
    https://arxiv.org/abs/1705.07215.

  Args:
    critic_fn: ``x -> logits`` of shape ``(B,)`` or ``(B, 1)``; extra inputs
      bound by a closure (see the module docstring).
    real: Real data, shape ``(B, ...)``.
    key: PRNG key for the perturbation and the interpolation weights.
    perturbation_scale: ``c``, the size of the perturbation relative to the
      data's standard deviation.
    target: Gradient norm the discriminator is pushed towards (``k``).

  Returns:
    A scalar: the unweighted penalty.
  """
  real = _float_batch(real, "real")
  noise_key, alpha_key = jax.random.split(key)
  noise = jax.random.uniform(noise_key, real.shape, dtype=real.dtype)
  scale = perturbation_scale * jnp.std(real)
  perturbed = real + scale * noise
  # alpha * perturbed + (1 - alpha) * real = real + alpha * (perturbed - real).
  return gradient_penalty(
      critic_fn, perturbed, real, alpha_key, target=target
  )
