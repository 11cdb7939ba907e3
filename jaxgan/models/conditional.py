"""Class-conditional and classifying GANs, built around the unconditional
players of `jaxgan.models.mlp` and `jaxgan.models.dcgan`.

- CGAN (Mirza & Osindero 2014, arXiv:1411.1784): the one-hot label y is an
  input of both players. `CGANMLPGenerator` / `CGANMLPDiscriminator` follow
  the paper's MNIST networks (z and y through their own hidden layers, then a
  joint one); `LabelConcatGenerator` concatenates y to z of any generator, and
  `LabelChannelsDiscriminator` appends y as K constant input maps of a
  convolutional discriminator.
- AC-GAN (Odena et al. 2017, arXiv:1610.09585): `AuxClassifierDiscriminator`
  does not see y; it returns real/fake logits and K class logits from the same
  features, trained with the class cross-entropy (`config.loss.aux_class_weight`).
- The semi-supervised GAN of 'Improved Techniques for Training GANs'
  (Salimans et al. 2016, arXiv:1606.03498, Sec. 5): `SemiSupervisedDiscriminator`
  is a K-way classifier whose "fake" (K+1-th) logit is fixed at 0, so that
  D(x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp l_k(x): its real/fake logit is
  logsumexp_k l_k(x). `NoisyMLP` is the paper's MNIST discriminator body.

Wrapped discriminators are called with `features_only=True` and put their own
heads on the features, which they sow as 'features' (feature matching).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers, mlp


def one_hot(labels: jax.Array, num_classes: int) -> jax.Array:
  """int labels (B,) -> float32 (B, num_classes)."""
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def _logit(features: jax.Array, dtype: Any, name: str = "logit") -> jax.Array:
  return nn.Dense(1, dtype=dtype, name=name)(features).reshape(-1).astype(jnp.float32)


class LabelConcatGenerator(nn.Module):
  """G(z, y) = generator([z, onehot(y)]): any unconditional generator, made
  conditional by widening its input (CGAN; the AC-GAN generator).

  Attributes:
    generator: the unconditional generator (`G(z, train=)`).
    num_classes: K.
  """
  generator: nn.Module
  num_classes: int

  def __call__(self, z, labels, train: bool = True):
    return self.generator(jnp.concatenate([z, one_hot(labels, self.num_classes)], -1),
                          train=train)


class LabelChannelsDiscriminator(nn.Module):
  """D(x, y): a convolutional discriminator of [x, onehot(y) as K constant
  maps] (the image CGAN; y reaches every spatial position of the first layer).

  Attributes:
    discriminator: takes (B, H, W, C + K) images, `features_only=True` supported.
    num_classes: K.
    dtype: computation dtype of the logit layer.
  """
  discriminator: nn.Module
  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels, train: bool = True):
    maps = jnp.broadcast_to(one_hot(labels, self.num_classes)[:, None, None, :],
                            (*x.shape[:3], self.num_classes))
    features = self.discriminator(jnp.concatenate([x, maps.astype(x.dtype)], -1),
                                  train=train, features_only=True)
    self.sow("intermediates", "features", features)
    return _logit(features, self.dtype)


class CGANMLPGenerator(nn.Module):
  """Mirza & Osindero's MNIST generator: z -> ReLU(z_units), y -> ReLU(y_units),
  then a joint ReLU layer of `width` and the output (here tanh, for [-1, 1]),
  an `mlp.Generator` of depth 1 on the concatenation. (The paper's dropout is
  left out.)

  Attributes:
    output_shape: shape of one sample, e.g. (28, 28, 1).
    num_classes: K.
    z_units, y_units: widths of the separate z and y layers (paper: 200, 1000).
    width: width of the joint layer (paper: 1200).
    dtype: computation dtype.
  """
  output_shape: tuple[int, ...]
  num_classes: int
  z_units: int = 200
  y_units: int = 1000
  width: int = 1200
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels, train: bool = True):
    hz = nn.relu(nn.Dense(self.z_units, dtype=self.dtype, name="z")(z))
    hy = nn.relu(nn.Dense(self.y_units, dtype=self.dtype, name="y")(
        one_hot(labels, self.num_classes)))
    return mlp.Generator(self.output_shape, width=self.width, depth=1, tanh=True,
                         dtype=self.dtype, name="joint")(
                             jnp.concatenate([hz, hy], -1), train=train)


class CGANMLPDiscriminator(nn.Module):
  """Mirza & Osindero's MNIST discriminator: x -> x_units, y -> y_units, then a
  joint layer of `width` (an `mlp.Discriminator` of depth 1) and the logit.
  LeakyReLU(0.2) stands in for the paper's maxout units.

  Attributes:
    num_classes: K.
    x_units, y_units: widths of the separate layers (paper: 240, 50).
    width: width of the joint layer (paper: 240).
    dtype: computation dtype.
  """
  num_classes: int
  x_units: int = 240
  y_units: int = 50
  width: int = 240
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels, train: bool = True):
    x = x.reshape(x.shape[0], -1).astype(self.dtype)
    hx = nn.leaky_relu(nn.Dense(self.x_units, dtype=self.dtype, name="x")(x), 0.2)
    hy = nn.leaky_relu(nn.Dense(self.y_units, dtype=self.dtype, name="y")(
        one_hot(labels, self.num_classes)), 0.2)
    features = mlp.Discriminator(width=self.width, depth=1, dtype=self.dtype,
                                 name="joint")(jnp.concatenate([hx, hy], -1),
                                               train=train, features_only=True)
    self.sow("intermediates", "features", features)
    return _logit(features, self.dtype)


class AuxClassifierDiscriminator(nn.Module):
  """AC-GAN's discriminator: a real/fake logit and K class logits, both linear
  in the features of `discriminator`. It does not see the label (the step
  passes it; it is ignored).

  Attributes:
    discriminator: the body, called with `features_only=True`.
    num_classes: K.
    dtype: computation dtype of the heads.
  """
  discriminator: nn.Module
  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del labels  # AC-GAN's D classifies; it is not given the class.
    features = self.discriminator(x, train=train, features_only=True)
    self.sow("intermediates", "features", features)
    class_logits = nn.Dense(self.num_classes, dtype=self.dtype, name="classes")(features)
    return {"logits": _logit(features, self.dtype),
            "class_logits": class_logits.astype(jnp.float32)}


class SemiSupervisedDiscriminator(nn.Module):
  """The K+1-class discriminator of Salimans et al. (2016), Sec. 5.

  K class logits l(x) from the features; the fake class's logit is fixed at 0,
  so p(real | x) = Z / (Z + 1) with Z = sum_k exp l_k, i.e. the real/fake
  logit is logsumexp_k l_k(x). Any GAN loss on that logit is the paper's
  unsupervised loss; the class cross-entropy on labelled data
  (`config.loss.semi_supervised`) is its supervised loss, and argmax_k l_k is
  the classifier.

  Attributes:
    discriminator: the body, called with `features_only=True`; its output
      are the features G's feature matching uses (improved-gan: the last
      hidden layer, before its noise).
    num_classes: K.
    feature_noise: std of the Gaussian noise on the features before the class
      layer while training (improved-gan's last GaussianNoiseLayer).
    weight_norm: the class layer weight-normalised, its scale trained
      (`layers.WeightNormDense`, improved-gan's `train_scale=True`).
    dtype: computation dtype of the class layer.
  """
  discriminator: nn.Module
  num_classes: int
  feature_noise: float = 0.0
  weight_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    features = self.discriminator(x, train=train, features_only=True)
    self.sow("intermediates", "features", features)
    h = layers.GaussianNoise(self.feature_noise)(features, train)
    if self.weight_norm:
      head = layers.WeightNormDense(self.num_classes, dtype=self.dtype, name="classes")
    else:
      head = nn.Dense(self.num_classes, dtype=self.dtype, name="classes")
    class_logits = head(h).astype(jnp.float32)
    return {"logits": jax.nn.logsumexp(class_logits, axis=-1),
            "class_logits": class_logits}


class NoisyMLP(nn.Module):
  """The MNIST discriminator body of Salimans et al. (2016), as improved-gan's
  train_mnist_feature_matching.py: Gaussian noise on the input (std 0.3) and
  after every hidden layer but the last (std 0.5; the last one's is
  `SemiSupervisedDiscriminator.feature_noise`) while training, ReLU layers of
  1000-500-250-250-250 units. Noise draws from the 'dropout' rng.

  Attributes:
    widths: hidden layer widths.
    input_noise, hidden_noise: standard deviations of the added noise.
    weight_norm: weight-normalised layers with data-dependent initialisation
      and fixed scales (`layers.WeightNormDense(train_scale=False)`), as the
      official MNIST code; else plain dense layers.
    unit_input: see images in [0, 1] (improved-gan's MNIST, in whose units
      the noise stds are) instead of jaxgan's [-1, 1].
    dtype: computation dtype.
  """
  widths: tuple[int, ...] = (1000, 500, 250, 250, 250)
  input_noise: float = 0.3
  hidden_noise: float = 0.5
  weight_norm: bool = False
  unit_input: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True, features_only: bool = True):
    """-> the last hidden features (B, widths[-1]), before their noise; a body
    without a logit head, so `features_only` must be True (the wrappers pass
    it)."""
    assert features_only, "NoisyMLP has no logit head: wrap it."
    x = x.reshape(x.shape[0], -1).astype(self.dtype)
    if self.unit_input:
      x = (x + 1.0) / 2.0
    x = layers.GaussianNoise(self.input_noise)(x, train)
    for i, width in enumerate(self.widths):
      if i:
        x = layers.GaussianNoise(self.hidden_noise)(x, train)
      if self.weight_norm:
        dense = layers.WeightNormDense(width, train_scale=False, dtype=self.dtype,
                                       name=f"Dense_{i}")
      else:
        dense = nn.Dense(width, dtype=self.dtype, name=f"Dense_{i}")
      x = nn.relu(dense(x))
    return x
