"""Adversarial losses, penalties and constraints for GANs.

Pure JAX functions of discriminator outputs (and, for the penalties, of the
discriminator as a function). This package imports nothing from the rest of
jaxgan and nothing heavy, so other projects can use it on its own::

  from jaxgan import losses

  d_loss_fn, g_loss_fn = losses.get('non_saturating')
  d_loss = d_loss_fn(real_logits, fake_logits)
  d_loss += 10.0 * losses.gradient_penalty(critic_fn, real, fake, key)

See ``docs/losses.md`` for a table of all losses with their formulas.
"""

from jaxgan.losses._adversarial import (
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    minimax_discriminator_loss,
    minimax_generator_loss,
    non_saturating_generator_loss,
    relativistic_average_discriminator_loss,
    relativistic_average_generator_loss,
    relativistic_average_least_squares_discriminator_loss,
    relativistic_average_least_squares_generator_loss,
    relativistic_pairing_discriminator_loss,
    relativistic_pairing_generator_loss,
    wasserstein_discriminator_loss,
    wasserstein_generator_loss,
)
from jaxgan.losses._constraints import historical_averaging, weight_clipping
from jaxgan.losses._penalties import (
    dragan_penalty,
    gradient_penalty,
    r1_penalty,
    r2_penalty,
)
from jaxgan.losses._registry import GANLoss, get, names

__all__ = [
    "GANLoss",
    "dragan_penalty",
    "feature_matching_loss",
    "get",
    "gradient_penalty",
    "hinge_discriminator_loss",
    "historical_averaging",
    "hinge_generator_loss",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "names",
    "non_saturating_generator_loss",
    "r1_penalty",
    "r2_penalty",
    "relativistic_average_discriminator_loss",
    "relativistic_average_generator_loss",
    "relativistic_average_least_squares_discriminator_loss",
    "relativistic_average_least_squares_generator_loss",
    "relativistic_pairing_discriminator_loss",
    "relativistic_pairing_generator_loss",
    "wasserstein_discriminator_loss",
    "wasserstein_generator_loss",
    "weight_clipping",
]
