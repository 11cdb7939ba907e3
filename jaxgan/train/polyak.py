"""Polyak averaging of a player's parameters, kept in its optimizer state.

improved-gan tests its semi-supervised discriminator with averaged weights
(train_mnist_feature_matching.py: `a <- a + 0.0001 (p - a)` after every D
update, from a = 0). `polyak_averaging(decay)` keeps that average, read back
with the bias correction a_t / (1 - decay^t) that an average started at 0
needs (Adam's; the official code, 180,000 updates long, needs none:
0.9999^180000 ~ 1.5e-8, but a shorter run would have its weights shrunk).
The corrected average is kept directly:

  m_t = m_{t-1} + (p_t - m_{t-1}) (1 - decay) / (1 - decay^t),

which equals a_t / (1 - decay^t) exactly (m_1 = p_1). It is the last
transform of the optimizer's chain, so p_t is the parameters after the
update; the updates pass through unchanged. Being optimizer state, the
average is checkpointed and resumed with the run.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class PolyakState(NamedTuple):
  count: jax.Array  # updates so far
  average: Any  # the bias-corrected average of the parameters after each


def polyak_averaging(decay: float) -> optax.GradientTransformation:
  """An identity transform whose state is the bias-corrected exponential
  average (`decay` per update) of the parameters after each update."""

  def init(params):
    return PolyakState(jnp.zeros((), jnp.int32), jax.tree.map(jnp.zeros_like, params))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("polyak_averaging needs the parameters: "
                       "tx.update(updates, state, params).")
    count = state.count + 1
    rate = (1.0 - decay) / (1.0 - decay ** count.astype(jnp.float32))
    average = jax.tree.map(lambda m, p, u: m + (p + u - m) * rate,
                           state.average, params, updates)
    return updates, PolyakState(count, average)

  return optax.GradientTransformation(init, update)


def averaged_params(opt_state: Any) -> Any | None:
  """The Polyak average in a player's optimizer state (None when its
  optimizer keeps none, or before its first update)."""
  found = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, PolyakState))
           if isinstance(s, PolyakState)]
  if not found or int(found[0].count) == 0:
    return None
  return found[0].average
