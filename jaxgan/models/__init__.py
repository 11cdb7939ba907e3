"""GAN architectures, chosen by name with `create(config.model, data_shape)`.

Every generator is called as `G(z, train=)`, or `G(z, cond, train=)` when it
is conditional, and returns samples of the data's shape (images in [-1, 1]);
every discriminator as `D(x, train=)` or `D(x, cond, train=)`, and returns
logits (B,) (PatchGAN: (B, h, w), one per patch; a packing D: (B / pack,)),
or {'logits': (B,), 'class_logits': (B, K)} when it also classifies (AC-GAN,
the semi-supervised K+1 discriminator); the losses average over all logits. `cond` is the
int class label (B,) of a class-conditional model, or the paired input image
of an image-to-image one. A discriminator sows its last hidden features
(B, ...) as 'features' in the 'intermediates' collection (feature matching).
Non-parameter state (BatchNorm statistics, spectral-norm vectors) lives in
'batch_stats'; dropout draws from the 'dropout' rng.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import conditional, dcgan, mlp, pix2pix, resnet, srgan
from jaxgan.models.dcgan import Discriminator, Generator

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _minibatch(config: Any) -> dict:
  """The 'Improved Techniques' discriminator layers (0: off)."""
  return dict(minibatch_discrimination=config.get("minibatch_discrimination", 0),
              minibatch_stddev=config.get("minibatch_stddev", 0))


def _dcgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator = dcgan.Generator(image_size=config.image_size, channels=config.channels,
                              width=config.g_width, dtype=dtype, axis_name=axis_name,
                              conv_impl=config.conv_impl)
  discriminator = dcgan.Discriminator(
      image_size=config.image_size, width=config.d_width,
      norm=discriminator_norm(config),
      spectral_norm=config.get("d_spectral_norm", False), dtype=dtype,
      axis_name=axis_name, conv_impl=config.conv_impl, **_minibatch(config))
  return generator, discriminator


def _resnet(config: Any, data_shape: tuple, dtype, axis_name):
  num_classes = config.get("num_classes", 0)
  sngan = config.variant == "sngan"
  generator = resnet.Generator(image_size=config.image_size, channels=config.channels,
                               width=config.g_width, num_classes=num_classes,
                               dtype=dtype, axis_name=axis_name)
  discriminator = resnet.Discriminator(
      width=config.d_width, spectral_norm=sngan or config.get("d_spectral_norm", False),
      pooling="sum" if sngan else "mean", num_classes=num_classes, dtype=dtype,
      axis_name=axis_name, **_minibatch(config))
  return generator, discriminator


def _mlp(config: Any, data_shape: tuple, dtype, axis_name):
  depth = config.get("depth", 3)
  generator = mlp.Generator(output_shape=tuple(data_shape), width=config.g_width,
                            depth=depth, tanh=len(data_shape) == 3,
                            batch_norm=config.get("g_batch_norm", False), dtype=dtype,
                            axis_name=axis_name)
  discriminator = mlp.Discriminator(width=config.d_width, depth=depth,
                                    pack=config.get("pack", 1), dtype=dtype,
                                    dropout=config.get("d_dropout", 0.0),
                                    **_minibatch(config))
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


def _cgan_mlp(config: Any, data_shape: tuple, dtype, axis_name):
  k = config.num_classes
  generator = conditional.CGANMLPGenerator(
      output_shape=tuple(data_shape), num_classes=k, z_units=config.g_z_units,
      y_units=config.g_y_units, width=config.g_width, dtype=dtype)
  discriminator = conditional.CGANMLPDiscriminator(
      num_classes=k, x_units=config.d_x_units, y_units=config.d_y_units,
      width=config.d_width, dtype=dtype)
  return generator, discriminator


def _cgan_dcgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator, discriminator = _dcgan(config, data_shape, dtype, axis_name)
  k = config.num_classes
  return (conditional.LabelConcatGenerator(generator, k),
          conditional.LabelChannelsDiscriminator(discriminator, k, dtype=dtype))


def _acgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator, discriminator = _dcgan(config, data_shape, dtype, axis_name)
  k = config.num_classes
  return (conditional.LabelConcatGenerator(generator, k),
          conditional.AuxClassifierDiscriminator(discriminator, k, dtype=dtype))


def _ssgan_mlp(config: Any, data_shape: tuple, dtype, axis_name):
  generator = mlp.Generator(output_shape=tuple(data_shape), width=config.g_width,
                            depth=config.depth, tanh=True, dtype=dtype)
  body = conditional.NoisyMLP(widths=tuple(config.d_widths),
                              input_noise=config.d_input_noise,
                              hidden_noise=config.d_hidden_noise, dtype=dtype)
  return generator, conditional.SemiSupervisedDiscriminator(
      body, config.d_classes, dtype=dtype)


# name -> builder(config.model, data_shape, dtype, axis_name) -> (G, D)
_MODELS = {"dcgan": _dcgan, "mlp": _mlp, "resnet": _resnet, "cgan_mlp": _cgan_mlp,
           "cgan_dcgan": _cgan_dcgan, "acgan": _acgan, "ssgan_mlp": _ssgan_mlp,
           "pix2pix": _pix2pix, "srgan": _srgan}
# Models whose players take class labels (need config.model.num_classes > 0),
# and models that classify into config.model.d_classes without being given labels.
CLASS_CONDITIONAL = ("cgan_mlp", "cgan_dcgan", "acgan")
SEMI_SUPERVISED = ("ssgan_mlp",)
_DCGAN_BASED = ("dcgan", "cgan_dcgan", "acgan")
# Image-to-image models: G and D take the paired input image as `cond`.
PAIRED = ("pix2pix", "srgan")


def names() -> list[str]:
  return sorted(_MODELS)


def check(config: Any) -> None:
  """Raises ValueError, before anything is built, for a model config that cannot work."""
  if config.name not in _MODELS:
    raise ValueError(f"Unknown model {config.name!r} (config.model.name); valid "
                     f"names: {', '.join(names())}.")
  num_classes = config.get("num_classes", 0)
  if config.name in CLASS_CONDITIONAL and num_classes <= 0:
    raise ValueError(f"Model {config.name!r} is class-conditional: set "
                     f"config.model.num_classes > 0 (got {num_classes}).")
  if num_classes and config.name not in CLASS_CONDITIONAL + ("resnet",):
    raise ValueError(f"Model {config.name!r} takes no labels, but "
                     f"config.model.num_classes={num_classes}; use one of "
                     f"{', '.join(CLASS_CONDITIONAL + ('resnet',))}, or num_classes=0.")
  if config.name in SEMI_SUPERVISED and config.get("d_classes", 0) <= 0:
    raise ValueError(f"Model {config.name!r} needs config.model.d_classes > 0 "
                     "(the K of its K+1-class discriminator).")
  if config.name in _DCGAN_BASED:
    if config.image_size not in dcgan.SUPPORTED_IMAGE_SIZES:
      raise ValueError(f"Model 'dcgan' supports image sizes "
                       f"{dcgan.SUPPORTED_IMAGE_SIZES}, got "
                       f"config.model.image_size={config.image_size}.")
    if config.conv_impl not in dcgan.CONV_IMPLS:
      raise ValueError(f"Unknown config.model.conv_impl {config.conv_impl!r}; valid: "
                       f"{', '.join(dcgan.CONV_IMPLS)}.")
    if config.get("d_norm", "batch") not in dcgan.NORMS:
      raise ValueError(f"Unknown config.model.d_norm {config.d_norm!r}; valid: "
                       f"{', '.join(dcgan.NORMS)}.")
  if config.name == "resnet":
    if config.image_size not in resnet.SUPPORTED_IMAGE_SIZES:
      raise ValueError(f"Model 'resnet' supports image sizes "
                       f"{resnet.SUPPORTED_IMAGE_SIZES}, got "
                       f"config.model.image_size={config.image_size}.")
    if config.get("variant") not in resnet.VARIANTS:
      raise ValueError(f"Unknown config.model.variant {config.get('variant')!r} for "
                       f"model 'resnet'; valid: {', '.join(resnet.VARIANTS)}.")
  if config.name == "pix2pix":
    pix2pix.check(config)
  if config.dtype not in _DTYPES:
    raise ValueError(f"Unknown config.model.dtype {config.dtype!r}; valid: "
                     f"{', '.join(_DTYPES)}.")
  if config.get("pack", 1) != 1 and config.name != "mlp":
    raise ValueError(f"config.model.pack (PacGAN) is implemented for the 'mlp' "
                     f"discriminator only, not {config.name!r}; set it to 1.")
  for key in ("channels", "g_width", "d_width", "latent_dim", "pack"):
    if key in config and config[key] <= 0:
      raise ValueError(f"config.model.{key} must be positive, got {config[key]}.")
  for key in ("num_classes", "minibatch_discrimination", "minibatch_stddev"):
    if config.get(key, 0) < 0:
      raise ValueError(f"config.model.{key} must be >= 0 (0: off), got {config[key]}.")


def discriminator_norm(config: Any) -> str | None:
  """The normalisation in the hidden layers of a DCGAN-style discriminator of
  `config.model` ('batch', 'layer' or 'none'; `d_batch_norm=False`, the older
  switch, turns 'batch' into 'none'), or None for the other models."""
  if config.name not in _DCGAN_BASED:
    return None
  norm = config.get("d_norm", "batch")
  return "none" if norm == "batch" and not config.get("d_batch_norm", True) else norm


def is_class_conditional(config: Any) -> bool:
  """Whether the models of `config.model` take class labels."""
  return config.get("num_classes", 0) > 0


def kind(config: Any) -> str:
  """What the players of `config.model` take and give: 'paired',
  'semi_supervised', 'class_conditional' or 'unconditional'."""
  if config.name in PAIRED:
    return "paired"
  if config.name in SEMI_SUPERVISED:
    return "semi_supervised"
  return "class_conditional" if is_class_conditional(config) else "unconditional"


def is_semi_supervised(config: Any) -> bool:
  """Whether the discriminator of `config.model` is a K+1-class classifier."""
  return config.name in SEMI_SUPERVISED


def create(config: Any, data_shape: tuple | None = None,
           axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from `config.model` for samples of
  `data_shape` (default: image_size x image_size x channels)."""
  check(config)
  if data_shape is None:
    data_shape = (config.image_size, config.image_size, config.channels)
  return _MODELS[config.name](config, tuple(data_shape), _DTYPES[config.dtype], axis_name)


__all__ = ["PAIRED", "Discriminator", "Generator", "check", "create",
           "discriminator_norm", "is_class_conditional", "is_semi_supervised", "names"]
