"""GAN architectures, chosen by name with `create(config.model, data_shape)`.

Every generator is called as `G(z, train=)`, or `G(z, cond, train=)` when it
is conditional, and returns samples of the data's shape (images in [-1, 1]);
every discriminator as `D(x, train=)` or `D(x, cond, train=)`, and returns
logits (B,), or {'logits': (B,), 'class_logits': (B, K)} when it also
classifies (AC-GAN, the semi-supervised K+1 discriminator). `cond` is the
int class label (B,) of a class-conditional model, or the paired input image
of an image-to-image one. A discriminator sows its last hidden features
(B, ...) as 'features' in the 'intermediates' collection (feature matching).
Non-parameter state (BatchNorm statistics, spectral-norm vectors) lives in
'batch_stats'; dropout draws from the 'dropout' rng.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import dcgan, mlp, pix2pix, srgan
from jaxgan.models.dcgan import Discriminator, Generator

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _dcgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator = dcgan.Generator(image_size=config.image_size, channels=config.channels,
                              width=config.g_width, dtype=dtype, axis_name=axis_name,
                              conv_impl=config.conv_impl)
  discriminator = dcgan.Discriminator(image_size=config.image_size, width=config.d_width,
                                      use_batch_norm=config.d_batch_norm, dtype=dtype,
                                      axis_name=axis_name, conv_impl=config.conv_impl)
  return generator, discriminator


def _mlp(config: Any, data_shape: tuple, dtype, axis_name):
  depth = config.get("depth", 3)
  generator = mlp.Generator(output_shape=tuple(data_shape), width=config.g_width,
                            depth=depth, tanh=len(data_shape) == 3, dtype=dtype)
  discriminator = mlp.Discriminator(width=config.d_width, depth=depth, dtype=dtype)
  return generator, discriminator


def _pix2pix(config: Any, data_shape: tuple, dtype, axis_name):
  num_downs = config.get("num_downs", 0) or pix2pix.max_downs(data_shape[0])
  generator = pix2pix.UNetGenerator(channels=data_shape[-1], num_downs=num_downs,
                                    width=config.g_width, dtype=dtype, axis_name=axis_name)
  discriminator = pix2pix.PatchDiscriminator(num_layers=config.get("patch_layers", 1),
                                             width=config.d_width, dtype=dtype,
                                             axis_name=axis_name)
  return generator, discriminator


def _srgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator = srgan.SRResNet(channels=data_shape[-1], num_blocks=config.get("num_blocks", 16),
                             width=config.g_width, dtype=dtype, axis_name=axis_name)
  discriminator = srgan.Discriminator(width=config.d_width, dtype=dtype, axis_name=axis_name)
  return generator, discriminator


# name -> builder(config.model, data_shape, dtype, axis_name) -> (G, D)
_MODELS = {"dcgan": _dcgan, "mlp": _mlp, "pix2pix": _pix2pix, "srgan": _srgan}
# Image-to-image models: G and D take the paired input image as `cond`.
PAIRED = ("pix2pix", "srgan")


def names() -> list[str]:
  return sorted(_MODELS)


def check(config: Any) -> None:
  """Raises ValueError, before anything is built, for a model config that cannot work."""
  if config.name not in _MODELS:
    raise ValueError(f"Unknown model {config.name!r} (config.model.name); valid "
                     f"names: {', '.join(names())}.")
  if config.name == "dcgan":
    if config.image_size not in dcgan.SUPPORTED_IMAGE_SIZES:
      raise ValueError(f"Model 'dcgan' supports image sizes "
                       f"{dcgan.SUPPORTED_IMAGE_SIZES}, got "
                       f"config.model.image_size={config.image_size}.")
    if config.conv_impl not in dcgan.CONV_IMPLS:
      raise ValueError(f"Unknown config.model.conv_impl {config.conv_impl!r}; valid: "
                       f"{', '.join(dcgan.CONV_IMPLS)}.")
  if config.name == "pix2pix":
    pix2pix.check(config)
  if config.dtype not in _DTYPES:
    raise ValueError(f"Unknown config.model.dtype {config.dtype!r}; valid: "
                     f"{', '.join(_DTYPES)}.")
  for key in ("channels", "g_width", "d_width", "latent_dim"):
    if key in config and config[key] <= 0:
      raise ValueError(f"config.model.{key} must be positive, got {config[key]}.")


def is_class_conditional(config: Any) -> bool:
  """Whether the models of `config.model` take class labels."""
  return config.get("num_classes", 0) > 0


def create(config: Any, data_shape: tuple | None = None,
           axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from `config.model` for samples of
  `data_shape` (default: image_size x image_size x channels)."""
  check(config)
  if data_shape is None:
    data_shape = (config.image_size, config.image_size, config.channels)
  return _MODELS[config.name](config, tuple(data_shape), _DTYPES[config.dtype], axis_name)


__all__ = ["PAIRED", "Discriminator", "Generator", "check", "create", "is_class_conditional",
           "names"]
