"""One `ModelSpec` per architecture: how to build it, what kind it is, what
its config block must hold. `create`, `check` and `kind` read only the specs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import (
    biggan,
    conditional,
    dcgan,
    infogan,
    layers,
    mlp,
    pix2pix,
    r3gan,
    resnet,
    srgan,
    stylegan2,
    unrolled,
    wgan_gp_mnist,
)

KINDS = ("unconditional", "class_conditional", "paired", "semi_supervised")
# How a model's samples are truncated (`jaxgan generate --truncation=PSI`):
# 'latent': its z ~ N(0, I) is drawn from the normal truncated to [-PSI, PSI]
# in each coordinate (values outside are resampled: BigGAN's truncation trick,
# Brock et al. 2019), which any generator of such a latent allows.
# 'w': a style-based generator (a mapping network z -> w, then synthesis):
# z ~ N(0, I) and each w is moved toward the tracked mean, w_avg + PSI (w -
# w_avg) (StyleGAN's truncation trick: PSI = 0 gives w_avg's image, 1 none);
# its G takes `truncation=PSI` and has `styles` and `synthesize` methods.
TRUNCATIONS = ("latent", "w")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# config.model keys every model has (`create` builds image_size x image_size x
# channels samples unless given a data shape); each spec adds its own.
SHARED_DEFAULTS = dict(dtype="float32", image_size=32, channels=1, latent_dim=100,
                       g_width=64, d_width=64, num_classes=0)

Builder = Callable[[Any, tuple, Any, "str | None"], tuple[nn.Module, nn.Module]]


def _no_check(config: Any) -> None:
  del config


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """An architecture by name.

  Attributes:
    name: its `config.model.name`.
    build: (config.model, data_shape, dtype, axis_name) -> (G, D); the
      config has `defaults` filled in for the keys it lacks (as `create`
      passes it).
    kind: one of KINDS: what `cond` the players take (none, class labels,
      the paired input image) or whether D classifies without labels.
    check: raises ValueError for a config.model this model cannot build
      (after the shared checks of `check`).
    defaults: the config.model keys it reads beyond SHARED_DEFAULTS, with
      the values used when a config lacks them.
    required: keys it reads that have no default.
    optional_labels: an unconditional model that becomes class-conditional
      when config.model.num_classes > 0.
    truncation: one of TRUNCATIONS, how its samples trade variety for
      fidelity; None for a model whose samples cannot be truncated (an
      image-to-image generator, whose noise is its dropout).
  """
  name: str
  build: Builder
  kind: str = "unconditional"
  check: Callable[[Any], None] = _no_check
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  required: tuple[str, ...] = ()
  optional_labels: bool = False
  truncation: str | None = "latent"

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"ModelSpec {self.name!r}: kind {self.kind!r} is not one of "
                       f"{', '.join(KINDS)}.")
    if self.truncation is not None and self.truncation not in TRUNCATIONS:
      raise ValueError(f"ModelSpec {self.name!r}: truncation {self.truncation!r} "
                       f"is not one of {', '.join(TRUNCATIONS)} (or None).")


class _WithDefaults:
  """A read-only view of config.model that falls back to a spec's defaults."""

  def __init__(self, config: Any, defaults: Mapping[str, Any]):
    self._config, self._defaults = config, defaults

  def __contains__(self, key: str) -> bool:
    return key in self._config or key in self._defaults

  def __getitem__(self, key: str) -> Any:
    return self._config[key] if key in self._config else self._defaults[key]

  def __getattr__(self, key: str) -> Any:
    if key.startswith("_"):
      raise AttributeError(key)
    try:
      return self[key]
    except KeyError:
      raise AttributeError(f"config.model has no field {key!r}.") from None

  def get(self, key: str, default: Any = None) -> Any:
    return self[key] if key in self else default


# -- Builders: (config, data_shape, dtype, axis_name) -> (G, D) ----------------

_MINIBATCH = dict(minibatch_discrimination=0, minibatch_stddev=0)


def _minibatch(config: Any) -> dict:
  """The 'Improved Techniques' discriminator layers (0: off)."""
  return {key: config[key] for key in _MINIBATCH}


def _dcgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator = dcgan.Generator(image_size=config.image_size, channels=config.channels,
                              width=config.g_width, dtype=dtype, axis_name=axis_name,
                              conv_impl=config.conv_impl, norm=config.g_norm,
                              reference_size=config.g_reference_size)
  discriminator = dcgan.Discriminator(
      image_size=config.image_size, width=config.d_width,
      norm=discriminator_norm(config), spectral_norm=config.d_spectral_norm,
      dtype=dtype, axis_name=axis_name, conv_impl=config.conv_impl,
      pack=config.get("pack", 1), **_minibatch(config))
  return generator, discriminator


def _infogan(config: Any, data_shape: tuple, dtype, axis_name):
  generator = infogan.Generator(image_size=config.image_size, channels=config.channels,
                                width=config.g_width, conv_impl=config.conv_impl,
                                dtype=dtype, axis_name=axis_name)
  discriminator = infogan.Discriminator(
      image_size=config.image_size, width=config.d_width,
      norm=discriminator_norm(config), conv_impl=config.conv_impl, dtype=dtype,
      axis_name=axis_name)
  return generator, discriminator


def _wgan_gp_mnist(config: Any, data_shape: tuple, dtype, axis_name):
  del data_shape, dtype  # 28x28 (checked), float32 as the official code
  return (wgan_gp_mnist.Generator(width=config.g_width, channels=config.channels,
                                  axis_name=axis_name),
          wgan_gp_mnist.Discriminator(width=config.d_width, axis_name=axis_name))


def _check_wgan_gp_mnist(config: Any) -> None:
  _check_image_size(config, (wgan_gp_mnist.IMAGE_SIZE,))
  if config.dtype != "float32":
    raise ValueError(f"Model 'wgan_gp_mnist' computes in float32 (its official code's); "
                     f"got config.model.dtype={config.dtype!r}.")


def _unrolled(config: Any, data_shape: tuple, dtype, axis_name):
  generator = unrolled.Generator(image_size=config.image_size, channels=config.channels,
                                 width=config.g_width, dtype=dtype, axis_name=axis_name)
  discriminator = unrolled.Discriminator(image_size=config.image_size, width=config.d_width,
                                         pack=config.pack, dtype=dtype, axis_name=axis_name)
  return generator, discriminator


def _resnet(config: Any, data_shape: tuple, dtype, axis_name):
  sngan = config.variant == "sngan"
  generator = resnet.Generator(image_size=config.image_size, channels=config.channels,
                               width=config.g_width, num_classes=config.num_classes,
                               dtype=dtype, axis_name=axis_name)
  discriminator = resnet.Discriminator(
      width=config.d_width, spectral_norm=sngan or config.d_spectral_norm,
      pooling="sum" if sngan else "mean", num_classes=config.num_classes,
      dtype=dtype, axis_name=axis_name, **_minibatch(config))
  return generator, discriminator


def _r3gan(config: Any, data_shape: tuple, dtype, axis_name):
  g_kwargs, d_kwargs = r3gan.player_kwargs(config)
  generator = r3gan.Generator(channels=config.channels, num_classes=config.num_classes,
                              dtype=dtype, axis_name=axis_name, **g_kwargs)
  discriminator = r3gan.Discriminator(num_classes=config.num_classes, dtype=dtype,
                                      axis_name=axis_name, **d_kwargs)
  return generator, discriminator


def _biggan(config: Any, data_shape: tuple, dtype, axis_name):
  common = dict(image_size=config.image_size, num_classes=config.num_classes,
                sn_eps=config.sn_eps, weight_init=config.init, dtype=dtype,
                axis_name=axis_name)
  generator = biggan.Generator(
      channels=config.channels, width=config.g_width, latent_dim=config.latent_dim,
      shared_dim=config.shared_dim, shared=config.shared,
      hierarchical=config.hierarchical, attention=config.g_attention,
      bn_eps=config.bn_eps, **common)
  discriminator = biggan.Discriminator(width=config.d_width, attention=config.d_attention,
                                       **common)
  return generator, discriminator


def _stylegan2(config: Any, data_shape: tuple, dtype, axis_name):
  return stylegan2.build(config, dtype, axis_name)


def _mlp(config: Any, data_shape: tuple, dtype, axis_name):
  generator = mlp.Generator(output_shape=tuple(data_shape), width=config.g_width,
                            depth=config.depth, tanh=len(data_shape) == 3,
                            batch_norm=config.g_batch_norm, dtype=dtype,
                            axis_name=axis_name)
  discriminator = mlp.Discriminator(width=config.d_width, depth=config.depth,
                                    pack=config.pack, dtype=dtype,
                                    dropout=config.d_dropout, **_minibatch(config))
  return generator, discriminator


def _pix2pix(config: Any, data_shape: tuple, dtype, axis_name):
  num_downs = config.num_downs or pix2pix.max_downs(data_shape[0])
  generator = pix2pix.UNetGenerator(channels=data_shape[-1], num_downs=num_downs,
                                    width=config.g_width, dtype=dtype, axis_name=axis_name)
  discriminator = pix2pix.PatchDiscriminator(num_layers=config.patch_layers,
                                             width=config.d_width, dtype=dtype,
                                             axis_name=axis_name)
  return generator, discriminator


def _srgan(config: Any, data_shape: tuple, dtype, axis_name):
  generator = srgan.SRResNet(channels=data_shape[-1], num_blocks=config.num_blocks,
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
  if config.g_net == "improved_gan":
    generator = mlp.FeatureMatchingGenerator(
        output_shape=tuple(data_shape), width=config.g_width, depth=config.depth,
        weight_norm=config.weight_norm, dtype=dtype, axis_name=axis_name)
  else:
    generator = mlp.Generator(output_shape=tuple(data_shape), width=config.g_width,
                              depth=config.depth, tanh=True, dtype=dtype)
  body = conditional.NoisyMLP(widths=tuple(config.d_widths),
                              input_noise=config.d_input_noise,
                              hidden_noise=config.d_hidden_noise,
                              weight_norm=config.weight_norm,
                              unit_input=config.d_unit_input, dtype=dtype)
  return generator, conditional.SemiSupervisedDiscriminator(
      body, config.d_classes, feature_noise=config.d_hidden_noise,
      weight_norm=config.weight_norm, dtype=dtype)


# -- Per-model checks ---------------------------------------------------------

def _check_image_size(config: Any, supported: tuple[int, ...]) -> None:
  if config.image_size not in supported:
    raise ValueError(f"Model {config.name!r} supports image sizes {supported}, got "
                     f"config.model.image_size={config.image_size}.")


def _check_conv_impl(config: Any, valid: tuple[str, ...]) -> None:
  if config.conv_impl not in valid:
    raise ValueError(f"Unknown config.model.conv_impl {config.conv_impl!r}; valid: "
                     f"{', '.join(valid)}.")


def _check_dcgan(config: Any) -> None:
  _check_image_size(config, dcgan.SUPPORTED_IMAGE_SIZES)
  _check_conv_impl(config, dcgan.CONV_IMPLS)
  if config.d_norm not in dcgan.NORMS:
    raise ValueError(f"Unknown config.model.d_norm {config.d_norm!r}; valid: "
                     f"{', '.join(dcgan.NORMS)}.")
  g_norm = config.get("g_norm", "batch")
  if g_norm not in dcgan.G_NORMS:
    raise ValueError(f"Unknown config.model.g_norm {g_norm!r}; valid: "
                     f"{', '.join(dcgan.G_NORMS)}.")
  if g_norm == "virtual_batch" and config.name != "dcgan":
    raise ValueError(f"config.model.g_norm='virtual_batch' is for the unconditional "
                     f"'dcgan' generator (its reference batch has no labels), not "
                     f"{config.name!r}; use g_norm='batch'.")
  if config.get("g_reference_size", 1) < 1:
    raise ValueError(f"config.model.g_reference_size must be positive, got "
                     f"{config.g_reference_size}.")


def _check_infogan(config: Any) -> None:
  _check_image_size(config, infogan.SUPPORTED_IMAGE_SIZES)
  _check_conv_impl(config, layers.IMPLS)
  norm = discriminator_norm(config)
  if norm not in infogan.NORMS:
    raise ValueError(f"config.model.d_norm={norm!r} is not one of the InfoGAN "
                     f"discriminator's: {', '.join(infogan.NORMS)}.")


def _check_unrolled(config: Any) -> None:
  _check_image_size(config, unrolled.SUPPORTED_IMAGE_SIZES)


def _check_resnet(config: Any) -> None:
  _check_image_size(config, resnet.SUPPORTED_IMAGE_SIZES)
  if config.variant not in resnet.VARIANTS:
    raise ValueError(f"Unknown config.model.variant {config.variant!r} for "
                     f"model 'resnet'; valid: {', '.join(resnet.VARIANTS)}.")


def _check_ssgan(config: Any) -> None:
  if config.d_classes <= 0:
    raise ValueError(f"Model {config.name!r} needs config.model.d_classes > 0 "
                     "(the K of its K+1-class discriminator).")
  if config.g_net not in SSGAN_GENERATORS:
    raise ValueError(f"Unknown config.model.g_net {config.g_net!r}; valid: "
                     f"{', '.join(SSGAN_GENERATORS)}.")
  if config.weight_norm and config.data_init_examples < 2:
    raise ValueError("config.model.weight_norm initialises D's layers from "
                     "config.model.data_init_examples training images; set it to at "
                     f"least 2 (improved-gan: 500), got {config.data_init_examples}.")


# The semi-supervised GAN's generators: 'mlp' (ReLU, tanh, normal z) or
# 'improved_gan' (mlp.FeatureMatchingGenerator, the official MNIST one).
SSGAN_GENERATORS = ("mlp", "improved_gan")


# BigGAN's own keys, at BigGAN-PyTorch's ImageNet settings
# (scripts/launch_BigGAN_bs256x8.sh) but attention: its '64' needs a 64x64
# block, and the shared default image size is 32 (configs/biggan.py sets both).
BIGGAN_DEFAULTS = dict(shared_dim=128, shared=True, hierarchical=True, g_attention="0",
                       d_attention="0", bn_eps=1e-5, sn_eps=1e-6, init="ortho")
# g_norm: G's normalisation, 'batch' or 'virtual_batch' (dcgan.VirtualBatchNorm,
# a reference batch of g_reference_size latents; unconditional G only).
_DCGAN_DEFAULTS = dict(conv_impl="auto", d_norm="batch", d_spectral_norm=False,
                       g_norm="batch", g_reference_size=64,
                       **_MINIBATCH)
_SPECS: dict[str, ModelSpec] = {s.name: s for s in (
    # pack: PacGAN (unconditional only: a pack's samples would have different
    # labels, so the conditional DCGANs below refuse it).
    ModelSpec("dcgan", _dcgan, check=_check_dcgan, defaults=dict(_DCGAN_DEFAULTS, pack=1)),
    # Lucic et al. 2018's shared networks ("Are GANs Created Equal?").
    ModelSpec("infogan", _infogan, check=_check_infogan,
              defaults=dict(conv_impl="auto", d_norm="batch")),
    # Unrolled GAN's small Stacked MNIST nets (PacGAN's Table 3; g_width 8,
    # d_width 2: D at 1/4 of G), packing as PacGAN's code.
    # WGAN-GP's official MNIST networks (gan_mnist.py), 28x28.
    ModelSpec("wgan_gp_mnist", _wgan_gp_mnist, check=_check_wgan_gp_mnist),
    ModelSpec("unrolled", _unrolled, check=_check_unrolled, defaults=dict(pack=1)),
    ModelSpec("mlp", _mlp, defaults=dict(depth=3, g_batch_norm=False, d_dropout=0.0,
                                         pack=1, **_MINIBATCH)),
    ModelSpec("resnet", _resnet, check=_check_resnet, optional_labels=True,
              defaults=dict(d_spectral_norm=False, **_MINIBATCH), required=("variant",)),
    # R3GAN: per-stage lists of G, from 4x4 up (g_width and d_width unused);
    # the defaults are the official CIFAR-10 preset.
    ModelSpec("r3gan", _r3gan, check=r3gan.check, optional_labels=True,
              defaults=r3gan.CIFAR10),
    # BigGAN: g_width, d_width are BigGAN-PyTorch's G_ch, D_ch (channel multipliers).
    ModelSpec("biggan", _biggan, "class_conditional", biggan.check,
              defaults=BIGGAN_DEFAULTS, truncation="latent"),
    # StyleGAN2: channel_base, channel_max set the widths (g_width, d_width unused).
    ModelSpec("stylegan2", _stylegan2, check=stylegan2.check, optional_labels=True,
              defaults=stylegan2.DEFAULTS, truncation="w"),
    ModelSpec("cgan_mlp", _cgan_mlp, "class_conditional",
              required=("g_z_units", "g_y_units", "d_x_units", "d_y_units")),
    ModelSpec("cgan_dcgan", _cgan_dcgan, "class_conditional", _check_dcgan,
              _DCGAN_DEFAULTS),
    ModelSpec("acgan", _acgan, "class_conditional", _check_dcgan, _DCGAN_DEFAULTS),
    # weight_norm: improved-gan's weight-normalised layers, D's initialised
    # from data_init_examples training images (`data_init_examples`).
    ModelSpec("ssgan_mlp", _ssgan_mlp, "semi_supervised", _check_ssgan,
              defaults=dict(d_classes=0, g_net="mlp", weight_norm=False,
                            d_unit_input=False, data_init_examples=500),
              required=("depth", "d_widths", "d_input_noise", "d_hidden_noise")),
    ModelSpec("pix2pix", _pix2pix, "paired", pix2pix.check,
              defaults=dict(num_downs=0, patch_layers=1), truncation=None),
    ModelSpec("srgan", _srgan, "paired", defaults=dict(num_blocks=16),
              truncation=None),
)}


def names(of_kind: str | None = None) -> list[str]:
  """The valid config.model.name values, sorted; with `of_kind`, those of
  the models whose spec is of that kind (see `KINDS`)."""
  return sorted(n for n, s in _SPECS.items() if of_kind is None or s.kind == of_kind)


def spec(name: str) -> ModelSpec:
  """The ModelSpec called `name`; ValueError listing the valid names if none is."""
  if name not in _SPECS:
    raise ValueError(f"Unknown model {name!r} (config.model.name); valid "
                     f"names: {', '.join(names())}.")
  return _SPECS[name]


def kind(config: Any) -> str:
  """What `config.model` builds: one of KINDS."""
  model = spec(config.name)
  if model.optional_labels and config.get("num_classes", 0) > 0:
    return "class_conditional"
  return model.kind


def _with_defaults(config: Any) -> _WithDefaults:
  model = spec(config.name)
  return _WithDefaults(config, {**SHARED_DEFAULTS, **model.defaults})


def _check_labels(config: Any, model: ModelSpec) -> None:
  num_classes = config.get("num_classes", 0)
  if model.kind == "class_conditional" and num_classes <= 0:
    raise ValueError(f"Model {config.name!r} is class-conditional: set "
                     f"config.model.num_classes > 0 (got {num_classes}).")
  if num_classes and model.kind != "class_conditional" and not model.optional_labels:
    labelled = ([s.name for s in _SPECS.values() if s.kind == "class_conditional"]
                + [s.name for s in _SPECS.values() if s.optional_labels])
    raise ValueError(f"Model {config.name!r} takes no labels, but "
                     f"config.model.num_classes={num_classes}; use one of "
                     f"{', '.join(labelled)}, or num_classes=0.")


def check(config: Any) -> None:
  """Raises ValueError, before anything is built, for a model config that cannot work."""
  model = spec(config.name)
  missing = [key for key in model.required if key not in config]
  if missing:
    raise ValueError(f"Model {config.name!r} needs config.model."
                     f"{', config.model.'.join(missing)}.")
  _check_labels(config, model)
  model.check(_with_defaults(config))
  if config.get("dtype", SHARED_DEFAULTS["dtype"]) not in _DTYPES:
    raise ValueError(f"Unknown config.model.dtype {config.dtype!r}; valid: "
                     f"{', '.join(_DTYPES)}.")
  if config.get("pack", 1) != 1 and "pack" not in model.defaults:
    packing = [s.name for s in _SPECS.values() if "pack" in s.defaults]
    raise ValueError(f"config.model.pack (PacGAN) is implemented for the "
                     f"{', '.join(map(repr, packing))} discriminator only, not "
                     f"{config.name!r}; set it to 1.")
  for key in ("channels", "g_width", "d_width", "latent_dim", "pack"):
    if key in config and config[key] <= 0:
      raise ValueError(f"config.model.{key} must be positive, got {config[key]}.")
  for key in ("num_classes", "minibatch_discrimination", "minibatch_stddev"):
    if config.get(key, 0) < 0:
      raise ValueError(f"config.model.{key} must be >= 0 (0: off), got {config[key]}.")


def discriminator_norm(config: Any) -> str | None:
  """The normalisation in the hidden layers of a DCGAN-style discriminator of
  `config.model` ('batch', 'layer' or 'none'), or None for the models without
  one."""
  model = _SPECS.get(config.name)
  if model is None or "d_norm" not in model.defaults:
    return None
  return config.get("d_norm", "batch")


def create(config: Any, data_shape: tuple | None = None,
           axis_name: str | None = None) -> tuple[nn.Module, nn.Module]:
  """Builds (generator, discriminator) from `config.model` for samples of
  `data_shape` (default: image_size x image_size x channels)."""
  check(config)
  config = _with_defaults(config)
  if data_shape is None:
    data_shape = (config.image_size, config.image_size, config.channels)
  return spec(config.name).build(config, tuple(data_shape), _DTYPES[config.dtype],
                                 axis_name)


def data_init_examples(config: Any) -> int:
  """How many training images the discriminator's data-dependent
  initialisation sees (`data_init`); 0 for a model without one."""
  config = _with_defaults(config)
  return int(config.data_init_examples) if config.get("weight_norm", False) else 0


def data_init(discriminator: nn.Module, variables: dict, images: jax.Array,
              rng: jax.Array) -> dict:
  """D's parameters after its data-dependent initialisation: one training
  pass (noise on, as improved-gan's init pass) over `images` ([-1, 1]) with
  'params' mutable, in which each `layers.WeightNormDense` sets its scale and
  bias from the statistics of its input (Salimans & Kingma 2016)."""
  _, updated = discriminator.apply(variables, images, train=True, rngs={"dropout": rng},
                                   mutable=["params"])
  return updated["params"]
