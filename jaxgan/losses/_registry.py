"""Adversarial losses by name, with one signature for every pair."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax

from jaxgan.losses import _adversarial

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
LossFn = Callable[[ArrayLike, ArrayLike], Array]


class GANLoss(NamedTuple):
  """A discriminator loss and its generator loss.

  Both have the signature ``fn(real_logits, fake_logits) -> scalar`` whatever
  they need: a generator loss that does not use ``real_logits`` ignores it
  (under ``jit`` the unused computation is removed), but its shape is still
  checked. Logits have shape ``(B, ...)``; real and fake may differ in batch
  size but not in trailing shape.

  Attributes:
    d_loss: Discriminator (critic) loss, minimised by the discriminator.
    g_loss: Generator loss, minimised by the generator.
  """

  d_loss: LossFn
  g_loss: LossFn


def _ignoring_real(g_loss: Callable[[ArrayLike], Array]) -> LossFn:
  """Lifts ``g_loss(fake_logits)`` to ``(real_logits, fake_logits)``."""

  def fn(real_logits: ArrayLike, fake_logits: ArrayLike) -> Array:
    # Checks both shapes, like the losses that use real_logits.
    _adversarial._check_pair(real_logits, fake_logits)
    return g_loss(fake_logits)

  fn.__name__ = g_loss.__name__
  fn.__qualname__ = g_loss.__qualname__
  fn.__doc__ = (
      f"``{g_loss.__name__}(fake_logits)`` taking and ignoring "
      f"``real_logits`` first.\n\n{g_loss.__doc__}"
  )
  return fn


def least_squares_pearson_discriminator_loss(
    real_logits: ArrayLike, fake_logits: ArrayLike
) -> Array:
  """LSGAN's discriminator loss with the Pearson χ² coding ``a=-1, b=1``:
  :func:`least_squares_discriminator_loss` with those targets."""
  return _adversarial.least_squares_discriminator_loss(
      real_logits, fake_logits, a=-1.0, b=1.0
  )


def least_squares_pearson_generator_loss(fake_logits: ArrayLike) -> Array:
  """LSGAN's generator loss with the Pearson χ² coding ``c=0``:
  :func:`least_squares_generator_loss` with that target. With ``a=-1, b=1,
  c=0`` (``b - c = 1``, ``b - a = 2``) the generator minimises the Pearson
  χ² divergence between ``p_data + p_g`` and ``2 p_g`` (Mao et al. 2017,
  §3.2.1)."""
  return _adversarial.least_squares_generator_loss(fake_logits, c=0.0)


_LOSSES: dict[str, GANLoss] = {
    "non_saturating": GANLoss(
        _adversarial.minimax_discriminator_loss,
        _ignoring_real(_adversarial.non_saturating_generator_loss),
    ),
    "minimax": GANLoss(
        _adversarial.minimax_discriminator_loss,
        _ignoring_real(_adversarial.minimax_generator_loss),
    ),
    "wasserstein": GANLoss(
        _adversarial.wasserstein_discriminator_loss,
        _ignoring_real(_adversarial.wasserstein_generator_loss),
    ),
    "hinge": GANLoss(
        _adversarial.hinge_discriminator_loss,
        _ignoring_real(_adversarial.hinge_generator_loss),
    ),
    "least_squares": GANLoss(
        _adversarial.least_squares_discriminator_loss,
        _ignoring_real(_adversarial.least_squares_generator_loss),
    ),
    "least_squares_pearson": GANLoss(
        least_squares_pearson_discriminator_loss,
        _ignoring_real(least_squares_pearson_generator_loss),
    ),
    "relativistic_average": GANLoss(
        _adversarial.relativistic_average_discriminator_loss,
        _adversarial.relativistic_average_generator_loss,
    ),
    "relativistic_pairing": GANLoss(
        _adversarial.relativistic_pairing_discriminator_loss,
        _adversarial.relativistic_pairing_generator_loss,
    ),
    "relativistic_average_least_squares": GANLoss(
        _adversarial.relativistic_average_least_squares_discriminator_loss,
        _adversarial.relativistic_average_least_squares_generator_loss,
    ),
}


def names() -> list[str]:
  """Returns the sorted names accepted by :func:`get`."""
  return sorted(_LOSSES)


def get(name: str) -> GANLoss:
  """Returns the (discriminator loss, generator loss) pair called ``name``.

  Both losses take ``(real_logits, fake_logits)`` and return a scalar, the
  mean over the batch; see :class:`GANLoss`. The individual functions (with
  their parameters, e.g. ``label_smoothing``) are exported by
  ``jaxgan.losses`` too; bind parameters with ``functools.partial``.

  Args:
    name: One of :func:`names`: ``'hinge'``, ``'least_squares'``,
      ``'least_squares_pearson'``, ``'minimax'``, ``'non_saturating'``, ``'relativistic_average'``,
      ``'relativistic_average_least_squares'``, ``'relativistic_pairing'``,
      ``'wasserstein'``.

  Returns:
    The ``GANLoss(d_loss, g_loss)`` pair.

  Raises:
    ValueError: If ``name`` is unknown; the message lists the valid names.
  """
  try:
    return _LOSSES[name]
  except (KeyError, TypeError):
    raise ValueError(
        f'Unknown GAN loss {name!r}; valid names: {", ".join(names())}.'
    ) from None
