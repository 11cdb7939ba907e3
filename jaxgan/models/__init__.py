"""GAN architectures, chosen by name with `create(config.model)`."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import dcgan
from jaxgan.models.dcgan import Discriminator, Generator

# name -> (generator class, discriminator class); each takes image_size,
# width, dtype and axis_name; the generator also takes channels.
_MODELS = {
    "dcgan": (dcgan.Generator, dcgan.Discriminator),
}
_SUPPORTED_IMAGE_SIZES = {"dcgan": dcgan.SUPPORTED_IMAGE_SIZES}
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def names() -> list[str]:
  return sorted(_MODELS)


def check(config: Any) -> None:
  """Raises ValueError, before anything is built, for a model config that cannot work."""
  if config.name not in _MODELS:
    raise ValueError(f"Unknown model {config.name!r} (config.model.name); valid "
                     f"names: {', '.join(names())}.")
  sizes = _SUPPORTED_IMAGE_SIZES[config.name]
  if config.image_size not in sizes:
    raise ValueError(f"Model {config.name!r} supports image sizes {sizes}, got "
                     f"config.model.image_size={config.image_size}.")
  if config.conv_impl not in dcgan.CONV_IMPLS:
    raise ValueError(f"Unknown config.model.conv_impl {config.conv_impl!r}; valid: "
                     f"{', '.join(dcgan.CONV_IMPLS)}.")
  if config.dtype not in _DTYPES:
    raise ValueError(f"Unknown config.model.dtype {config.dtype!r}; valid: "
                     f"{', '.join(_DTYPES)}.")
  for key in ("channels", "g_width", "d_width", "latent_dim"):
    if config[key] <= 0:
      raise ValueError(f"config.model.{key} must be positive, got {config[key]}.")


def create(config: Any, axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from `config.model`."""
  check(config)
  g_cls, d_cls = _MODELS[config.name]
  dtype = _DTYPES[config.dtype]
  generator = g_cls(image_size=config.image_size, channels=config.channels,
                    width=config.g_width, dtype=dtype, axis_name=axis_name,
                    conv_impl=config.conv_impl)
  discriminator = d_cls(image_size=config.image_size, width=config.d_width,
                        use_batch_norm=config.d_batch_norm, dtype=dtype,
                        axis_name=axis_name)
  return generator, discriminator


__all__ = ["Discriminator", "Generator", "check", "create", "names"]
