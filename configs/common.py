"""Config blocks that every config shares, with every key it may override.

Configs are locked (`--config.loss.label_smoothing=0.1` must name a key that
exists), so each block lists all its keys with their off values.
"""

import ml_collections


def loss(name: str = "non_saturating", **overrides) -> ml_collections.ConfigDict:
  """`config.loss`: the adversarial pair and the extra terms (see
  `jaxgan.train.step.Objective`)."""
  config = ml_collections.ConfigDict(dict(
      name=name,  # one of jaxgan.losses.names()
      gp_weight=0.0,  # WGAN-GP gradient penalty weight (lambda); 0: off
      label_smoothing=0.0,  # one-sided: real target 1 - s (minimax/non_saturating/relativistic_average)
      adv_weight=1.0,  # weight of the generator's adversarial loss
      feature_matching=0.0,  # weight of the feature-matching generator loss; 0: off
      aux_class_weight=0.0,  # AC-GAN auxiliary classifier loss weight; 0: off
      l1_weight=0.0,  # paired data: weight of |G(x) - y| (pix2pix: 100)
      l2_weight=0.0,  # paired data: weight of (G(x) - y)^2 (SRGAN's pixel MSE)
      semi_supervised=0.0,  # weight of D's cross-entropy on labelled data (SSGAN); 0: off
  ))
  config.update(overrides)
  return config


def optimizer(name: str = "adam", learning_rate: float = 2e-4, **overrides
              ) -> ml_collections.ConfigDict:
  """One player's optimizer (`config.optimizer.g` or `.d`)."""
  config = ml_collections.ConfigDict(dict(
      name=name,  # adam | rmsprop | sgd
      learning_rate=learning_rate,
      b1=0.5, b2=0.999,  # adam
      decay=0.9,  # rmsprop
      historical_averaging=0.0,  # weight of ||theta - mean(past thetas)||^2; 0: off
      clip=0.0,  # WGAN weight clipping bound c after each update; 0: off
  ))
  config.update(overrides)
  return config
