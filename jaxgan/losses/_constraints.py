"""Constraints on the discriminator's parameters that compose with optax."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

if TYPE_CHECKING:  # optax is imported lazily to keep `import jaxgan.losses` light.
  import optax


def weight_clipping(clip_value: float) -> optax.GradientTransformation:
  r"""WGAN weight clipping as an optax gradient transformation.

  Changes the updates so that the parameters after
  ``optax.apply_updates(params, updates)`` lie in ``[-c, c]``::

    u' = clip(p + u, -c, c) - p

  Updates that keep a parameter inside the box are passed through unchanged;
  the others are replaced so that the parameter lands on the boundary (to
  within one float rounding of ``p + u'``). Put it last in an
  ``optax.chain``, after the optimizer, and pass ``params`` to ``update``::

    tx = optax.chain(optax.rmsprop(5e-5), weight_clipping(0.01))
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)

  Being an optax transformation it works with ``flax.training.train_state``
  (``apply_gradients`` passes ``params``) and with ``optax.masked`` to clip
  only some parameters. Clipping the initial parameters is left to the
  caller; with the usual initialisers and ``c = 0.01`` the first update
  clips them anyway.

  References:
    Arjovsky, Chintala and Bottou, *Wasserstein GAN*, ICML 2017,
    https://arxiv.org/abs/1701.07875 (``c = 0.01`` with RMSProp).

  Args:
    clip_value: ``c > 0``, the bound on the absolute value of every parameter.

  Returns:
    An ``optax.GradientTransformation`` with no state whose ``update``
    requires ``params``.
  """
  import optax  # pylint: disable=g-import-not-at-top

  if not clip_value > 0:
    raise ValueError(f"clip_value must be positive; got {clip_value}.")

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
          "weight_clipping needs the current parameters: call "
          "`tx.update(updates, state, params)`."
      )

    def clip(u, p):
      new = p + u
      inside = jnp.abs(new) <= clip_value
      clipped = jnp.clip(new, -clip_value, clip_value) - p
      return jnp.where(inside, u, clipped).astype(u.dtype)

    updates = jax.tree.map(clip, updates, params)
    return updates, state

  return optax.GradientTransformation(init_fn, update_fn)


class HistoricalAveragingState(NamedTuple):
  """The step count and the running mean of the parameters so far."""

  count: jax.Array
  mean: Any


def historical_averaging(weight: float) -> optax.GradientTransformation:
  r"""Historical averaging ('Improved Techniques', Sec. 3.3) as an optax transformation.

  Adds to each player's cost the penalty::

    weight * || θ - (1/t) Σ_{i=1..t} θ_i ||^2

  where ``θ_i`` are the parameters at the ``t`` updates so far (the current
  ones included), i.e. it adds ``2 * weight * (θ - mean)`` to the gradients.
  The mean is a running average kept in the transformation's state. Put it
  first in an ``optax.chain``, before the optimizer, and pass ``params`` to
  ``update``::

    tx = optax.chain(historical_averaging(1e-3), optax.adam(2e-4, b1=0.5))

  References:
    Salimans et al., *Improved Techniques for Training GANs*, NeurIPS 2016,
    https://arxiv.org/abs/1606.03498, Section 3.3.

  Args:
    weight: ``>= 0``, the weight of the penalty (0 leaves gradients as they
      are).

  Returns:
    An ``optax.GradientTransformation`` whose ``update`` requires ``params``.
  """
  import optax  # pylint: disable=g-import-not-at-top

  if not weight >= 0:
    raise ValueError(f"weight must be >= 0; got {weight}.")

  def init_fn(params):
    return HistoricalAveragingState(
        count=jnp.zeros((), jnp.int32),
        mean=jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), params))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
          "historical_averaging needs the current parameters: call "
          "`tx.update(updates, state, params)`."
      )
    count = state.count + 1
    step = 1.0 / count.astype(jnp.float32)
    mean = jax.tree.map(lambda m, p: m + step * (p - m), state.mean, params)
    updates = jax.tree.map(
        lambda u, p, m: (u + 2.0 * weight * (p - m)).astype(u.dtype),
        updates, params, mean)
    return updates, HistoricalAveragingState(count=count, mean=mean)

  return optax.GradientTransformation(init_fn, update_fn)
