"""Constraints on the discriminator's parameters that compose with optax."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
