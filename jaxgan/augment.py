"""Differentiable augmentations of the images the discriminator sees.

Two families, each a pure function ``(x, key, ...) -> x`` of a batch of
float images ``x`` of shape ``(B, H, W, C)`` in ``[-1, 1]`` (the range
``jaxgan.data.to_float`` gives, and the range both official implementations
assume):

- :func:`diffaugment`, DiffAugment (Zhao et al., *Differentiable Augmentation
  for Data-Efficient GAN Training*, NeurIPS 2020,
  https://arxiv.org/abs/2006.10738), ported from the official
  ``mit-han-lab/data-efficient-gans`` file ``DiffAugment_pytorch.py``.
- :func:`ada_augment`, the augmentation pipeline of ADA (Karras et al.,
  *Training Generative Adversarial Networks with Limited Data*, NeurIPS 2020,
  https://arxiv.org/abs/2006.06676), ported from the official
  ``NVlabs/stylegan2-ada-pytorch`` file ``training/augment.py``
  (``AugmentPipe``), with the adaptive probability update
  :func:`ada_update` of ``training/training_loop.py``.

Apply the same function to real and generated images before every
discriminator evaluation (the discriminator and generator steps both, with
independent keys for the real and the generated batch). With its random draws
fixed each function is affine in ``x``, so the generator's gradient passes
through. Every example draws its own parameters from ``key``; the same key
gives the same output. Everything is ``jit``-, ``vmap``- and ``grad``-able;
policies, pipelines and transform multipliers are static Python (bind them
with ``functools.partial``), ``p`` and the ranges may be traced.

:data:`AUGMENTATIONS` maps a name to an :class:`AugmentSpec`: the function,
its options with their defaults, and whether it needs the adaptive ``p``. See
``docs/augmentation.md`` for the formulas and the official code each follows.

This module imports nothing else from jaxgan.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _check_images(x: ArrayLike, name: str = "x") -> Array:
  x = jnp.asarray(x)
  if x.ndim != 4:
    raise ValueError(
        f"{name} must be a batch of images of shape (B, H, W, C); got shape "
        f"{x.shape}."
    )
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(
        f"{name} must hold float images in [-1, 1] (see jaxgan.data.to_float); "
        f"got dtype {x.dtype}."
    )
  return x


def _unknown(what: str, names: Sequence[str], valid: Sequence[str]) -> ValueError:
  return ValueError(
      f"Unknown {what} {', '.join(map(repr, names))}; valid names: "
      f"{', '.join(sorted(valid))}."
  )


# ---------------------------------------------------------------------------
# DiffAugment (DiffAugment_pytorch.py).
# ---------------------------------------------------------------------------


def color_factors(key: Array, batch: int,
                  dtype=jnp.float32) -> tuple[Array, Array, Array]:
  """Draws DiffAugment's per-example color factors, each of shape ``(B,)``.

  As in ``rand_brightness``, ``rand_saturation``, ``rand_contrast`` of the
  official ``DiffAugment_pytorch.py``: brightness ``U(-0.5, 0.5)``,
  saturation ``U(0, 2)``, contrast ``U(0.5, 1.5)``.

  Args:
    key: PRNG key.
    batch: Number of examples ``B``.
    dtype: Float dtype of the factors.

  Returns:
    ``(brightness, saturation, contrast)``.
  """
  kb, ks, kc = jax.random.split(key, 3)
  brightness = jax.random.uniform(kb, (batch,), dtype) - 0.5
  saturation = jax.random.uniform(ks, (batch,), dtype) * 2
  contrast = jax.random.uniform(kc, (batch,), dtype) + 0.5
  return brightness, saturation, contrast


def adjust_color(x: ArrayLike, brightness: ArrayLike, saturation: ArrayLike,
                 contrast: ArrayLike) -> Array:
  r"""DiffAugment's color transform with given per-example factors.

  Applied in this order, as the official ``'color'`` policy
  (``[rand_brightness, rand_saturation, rand_contrast]``)::

    x ← x + b                                  (brightness)
    x ← (x - mean_C(x)) · s + mean_C(x)        (saturation; channel mean)
    x ← (x - mean_HWC(x)) · c + mean_HWC(x)    (contrast; per-image mean)

  In ``[-1, 1]`` (the official range) ``b`` shifts by up to a quarter of the
  range. For one channel the saturation step is the identity.

  Args:
    x: Images, shape ``(B, H, W, C)``.
    brightness: ``b``, shape ``(B,)``.
    saturation: ``s``, shape ``(B,)``.
    contrast: ``c``, shape ``(B,)``.

  Returns:
    The adjusted images, shape and dtype of ``x``.
  """
  x = _check_images(x)

  def per_example(v):
    return jnp.asarray(v, x.dtype).reshape(-1, 1, 1, 1)

  x = x + per_example(brightness)
  mean = jnp.mean(x, axis=3, keepdims=True)
  x = (x - mean) * per_example(saturation) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * per_example(contrast) + mean


def color(x: ArrayLike, key: Array) -> Array:
  """DiffAugment policy ``'color'``: :func:`adjust_color` with factors drawn
  by :func:`color_factors`.

  Args:
    x: Images, shape ``(B, H, W, C)``, in ``[-1, 1]``.
    key: PRNG key.

  Returns:
    The augmented images, shape and dtype of ``x``.
  """
  x = _check_images(x)
  return adjust_color(x, *color_factors(key, x.shape[0], x.dtype))


def translation_shifts(key: Array, shape: Sequence[int],
                       ratio: float = 0.125) -> Array:
  """Draws DiffAugment's per-example integer shifts, shape ``(B, 2)``.

  As ``rand_translation`` (official ``DiffAugment_pytorch.py``): with
  ``s_h = int(H * ratio + 0.5)`` and ``s_w = int(W * ratio + 0.5)``, the row
  shift is uniform on the integers ``[-s_h, s_h]`` and the column shift on
  ``[-s_w, s_w]``.

  Args:
    key: PRNG key.
    shape: Image batch shape ``(B, H, W, C)``.
    ratio: Largest shift relative to the image size (official: 1/8).

  Returns:
    int32 ``(row_shift, column_shift)`` per example.
  """
  batch, height, width = shape[0], shape[1], shape[2]
  max_h, max_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
  kh, kw = jax.random.split(key)
  dh = jax.random.randint(kh, (batch,), -max_h, max_h + 1)
  dw = jax.random.randint(kw, (batch,), -max_w, max_w + 1)
  return jnp.stack([dh, dw], axis=1).astype(jnp.int32)


def translate(x: ArrayLike, shifts: ArrayLike) -> Array:
  """Shifts each image by whole pixels, filling with zeros.

  ``out[b, i, j] = x[b, i + dh_b, j + dw_b]`` where that pixel exists, else
  ``0``: the official ``rand_translation`` pads by one zero pixel and clamps
  its indices into the padding. Content moves by ``(-dh, -dw)``.

  Args:
    x: Images, shape ``(B, H, W, C)``.
    shifts: Integer ``(dh, dw)`` per example, shape ``(B, 2)``.

  Returns:
    The shifted images, shape and dtype of ``x``.
  """
  x = _check_images(x)
  height, width = x.shape[1], x.shape[2]

  def one(image, shift):
    rows = jnp.arange(height) + shift[0]
    cols = jnp.arange(width) + shift[1]
    inside = (((rows >= 0) & (rows < height))[:, None]
              & ((cols >= 0) & (cols < width))[None, :])
    moved = image[jnp.clip(rows, 0, height - 1)][:, jnp.clip(cols, 0, width - 1)]
    return jnp.where(inside[..., None], moved, jnp.zeros_like(moved))

  return jax.vmap(one)(x, jnp.asarray(shifts, jnp.int32))


def translation(x: ArrayLike, key: Array, ratio: float = 0.125) -> Array:
  """DiffAugment policy ``'translation'``: :func:`translate` by shifts drawn
  by :func:`translation_shifts`.

  Args:
    x: Images, shape ``(B, H, W, C)``.
    key: PRNG key.
    ratio: Largest shift relative to the image size (official: 1/8).

  Returns:
    The augmented images, shape and dtype of ``x``.
  """
  x = _check_images(x)
  return translate(x, translation_shifts(key, x.shape, ratio))


def cutout_size(shape: Sequence[int], ratio: float = 0.5) -> tuple[int, int]:
  """DiffAugment's cutout square: ``(int(H * ratio + 0.5), int(W * ratio +
  0.5))`` rows and columns, as ``rand_cutout``."""
  return int(shape[1] * ratio + 0.5), int(shape[2] * ratio + 0.5)


def cutout_centers(key: Array, shape: Sequence[int],
                   ratio: float = 0.5) -> Array:
  """Draws DiffAugment's per-example cutout centres, shape ``(B, 2)``.

  As ``rand_cutout`` (official): with cutout size ``(c_h, c_w)``
  (:func:`cutout_size`), the centre row is uniform on the integers
  ``[0, H - c_h % 2]`` and the column on ``[0, W - c_w % 2]``.

  Args:
    key: PRNG key.
    shape: Image batch shape ``(B, H, W, C)``.
    ratio: Cutout size relative to the image size (official: 1/2).

  Returns:
    int32 ``(row, column)`` per example.
  """
  batch, height, width = shape[0], shape[1], shape[2]
  size_h, size_w = cutout_size(shape, ratio)
  kh, kw = jax.random.split(key)
  row = jax.random.randint(kh, (batch,), 0, height + (1 - size_h % 2))
  col = jax.random.randint(kw, (batch,), 0, width + (1 - size_w % 2))
  return jnp.stack([row, col], axis=1).astype(jnp.int32)


def cut_out(x: ArrayLike, centers: ArrayLike, size: tuple[int, int]) -> Array:
  """Zeroes a rectangle of each image (all channels).

  Rows ``[r - c_h // 2, r - c_h // 2 + c_h)`` and columns
  ``[q - c_w // 2, q - c_w // 2 + c_w)`` of example ``b`` with centre
  ``(r, q) = centers[b]`` and ``size = (c_h, c_w)``, clipped to the image (the
  official ``rand_cutout`` clamps the indices, so a square at the border is
  cut short). The result is ``x * mask``, so the gradient is zero inside.

  Args:
    x: Images, shape ``(B, H, W, C)``.
    centers: Integer ``(row, column)`` per example, shape ``(B, 2)``.
    size: ``(c_h, c_w)``.

  Returns:
    The images with the rectangles zeroed, shape and dtype of ``x``.
  """
  x = _check_images(x)
  centers = jnp.asarray(centers, jnp.int32)
  top = centers[:, 0:1] - size[0] // 2
  left = centers[:, 1:2] - size[1] // 2
  rows = jnp.arange(x.shape[1])[None, :]
  cols = jnp.arange(x.shape[2])[None, :]
  in_rows = (rows >= top) & (rows < top + size[0])
  in_cols = (cols >= left) & (cols < left + size[1])
  keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
  return x * keep[..., None].astype(x.dtype)


def cutout(x: ArrayLike, key: Array, ratio: float = 0.5) -> Array:
  """DiffAugment policy ``'cutout'``: :func:`cut_out` of a
  :func:`cutout_size` rectangle at centres drawn by :func:`cutout_centers`.

  Args:
    x: Images, shape ``(B, H, W, C)``.
    key: PRNG key.
    ratio: Cutout size relative to the image size (official: 1/2).

  Returns:
    The augmented images, shape and dtype of ``x``.
  """
  x = _check_images(x)
  centers = cutout_centers(key, x.shape, ratio)
  return cut_out(x, centers, cutout_size(x.shape, ratio))


# Policy name -> fn(x, key) -> x, as AUGMENT_FNS of DiffAugment_pytorch.py.
DIFFAUGMENT_POLICIES: Mapping[str, Callable[[Array, Array], Array]] = (
    types.MappingProxyType({
        "color": color,
        "translation": translation,
        "cutout": cutout,
    }))


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
  """Splits a DiffAugment policy ``'color,translation'`` into checked names.

  Args:
    policy: Comma-separated names of :data:`DIFFAUGMENT_POLICIES` (spaces
      around names are ignored), or a sequence of names. ``''`` is no
      augmentation.

  Returns:
    The names, in order.

  Raises:
    ValueError: If a name is unknown; the message lists the valid names.
  """
  if isinstance(policy, str):
    names = tuple(n.strip() for n in policy.split(",")) if policy.strip() else ()
  else:
    names = tuple(policy)
  unknown = [n for n in names if n not in DIFFAUGMENT_POLICIES]
  if unknown:
    raise _unknown("DiffAugment policy", unknown, DIFFAUGMENT_POLICIES)
  return names


def diffaugment(x: ArrayLike, key: Array,
                policy: str | Sequence[str] = "color,translation,cutout") -> Array:
  """DiffAugment: applies the policies' transforms in order.

  Each policy gets its own key (``jax.random.split(key, n)``), each example
  its own random factors. As the official ``DiffAugment`` (which is
  ``channels_first``; this takes NHWC), with the same ranges; see
  :func:`color`, :func:`translation`, :func:`cutout`.

  References:
    Zhao et al., *Differentiable Augmentation for Data-Efficient GAN
    Training*, NeurIPS 2020, https://arxiv.org/abs/2006.10738; official code
    ``mit-han-lab/data-efficient-gans``, ``DiffAugment_pytorch.py``.

  Args:
    x: Images, shape ``(B, H, W, C)``, float in ``[-1, 1]``.
    key: PRNG key.
    policy: Names of :data:`DIFFAUGMENT_POLICIES`, comma-separated (the
      official default for small data is ``'color,translation,cutout'``).

  Returns:
    The augmented images, shape and dtype of ``x``.

  Raises:
    ValueError: For an unknown policy name (the message lists the valid
      ones) or images that are not a float ``(B, H, W, C)`` batch.
  """
  names = parse_policy(policy)
  x = _check_images(x)
  if not names:
    return x
  for name, k in zip(names, jax.random.split(key, len(names))):
    x = DIFFAUGMENT_POLICIES[name](x, k)
  return x


# ---------------------------------------------------------------------------
# ADA (stylegan2-ada-pytorch training/augment.py, AugmentPipe).
# ---------------------------------------------------------------------------

# The implemented transforms, in the official execution order; a pipeline gives
# each a probability multiplier (0, i.e. disabled, by default, as in
# AugmentPipe.__init__).
ADA_TRANSFORMS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso",
                  "xfrac", "brightness", "contrast", "lumaflip", "hue",
                  "saturation")
_GEOMETRIC = ADA_TRANSFORMS[:7]

# Ranges, with the defaults of AugmentPipe.__init__.
ADA_RANGES: Mapping[str, float] = types.MappingProxyType({
    "xint_max": 0.125,        # integer translation, relative to image size
    "scale_std": 0.2,         # log2 std of isotropic scaling
    "rotate_max": 1.0,        # rotation range, 1 = full circle
    "aniso_std": 0.2,         # log2 std of anisotropic scaling
    "xfrac_std": 0.125,       # std of fractional translation, relative
    "brightness_std": 0.2,    # std of brightness
    "contrast_std": 0.5,      # log2 std of contrast
    "hue_max": 1.0,           # hue rotation range, 1 = full circle
    "saturation_std": 1.0,    # log2 std of saturation
})

_BLIT = {"xflip": 1.0, "rotate90": 1.0, "xint": 1.0}
_GEOM = {"scale": 1.0, "rotate": 1.0, "aniso": 1.0, "xfrac": 1.0}
_COLOR = {"brightness": 1.0, "contrast": 1.0, "lumaflip": 1.0, "hue": 1.0,
          "saturation": 1.0}
# The presets of stylegan2-ada-pytorch train.py (augpipe_specs) made of the
# transforms above ('filter', 'noise', 'cutout' and 'bgcf*' are not ported).
ADA_PIPELINES: Mapping[str, Mapping[str, float]] = types.MappingProxyType({
    "blit": types.MappingProxyType(_BLIT),
    "geom": types.MappingProxyType(_GEOM),
    "color": types.MappingProxyType(_COLOR),
    "bg": types.MappingProxyType({**_BLIT, **_GEOM}),
    "bgc": types.MappingProxyType({**_BLIT, **_GEOM, **_COLOR}),
    # R3GAN's (brownvc/R3GAN train.py, the AugmentPipe it builds): the bgc
    # transforms with the color ones at 0.5 (its cutout 1 is not ported).
    "r3gan": types.MappingProxyType({**_BLIT, **_GEOM, **{k: 0.5 for k in _COLOR}}),
})


def _resolve(pipeline: str | Mapping[str, float],
             ranges: Mapping[str, float]) -> tuple[dict, dict]:
  """(multipliers of all ADA_TRANSFORMS, all ranges), checked."""
  if isinstance(pipeline, str):
    if pipeline not in ADA_PIPELINES:
      raise _unknown("ADA pipeline", [pipeline], ADA_PIPELINES)
    pipeline = ADA_PIPELINES[pipeline]
  unknown = [n for n in pipeline if n not in ADA_TRANSFORMS]
  if unknown:
    raise _unknown("ADA transform", unknown, ADA_TRANSFORMS)
  unknown = [n for n in ranges if n not in ADA_RANGES]
  if unknown:
    raise _unknown("ADA range", unknown, ADA_RANGES)
  multipliers = {n: float(pipeline.get(n, 0.0)) for n in ADA_TRANSFORMS}
  return multipliers, {**ADA_RANGES, **ranges}


_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a: Array, b: Array) -> Array:
  """Float32 matmul at full precision (not TF32/bf16 passes on GPU/TPU)."""
  return jnp.matmul(a, b, precision=_HIGHEST)


def _matrix(*rows) -> Array:
  """Stacks per-example scalars (or constants) into (B, n, m) matrices, as
  ``matrix`` of the official augment.py."""
  elems = jnp.broadcast_arrays(*[jnp.asarray(e, jnp.float32)
                                 for row in rows for e in row])
  return jnp.stack(elems, axis=-1).reshape(elems[0].shape + (len(rows), -1))


def _translate2d(tx, ty):
  return _matrix([1, 0, tx], [0, 1, ty], [0, 0, 1])


def _scale2d(sx, sy):
  return _matrix([sx, 0, 0], [0, sy, 0], [0, 0, 1])


def _rotate2d(theta):
  c, s = jnp.cos(theta), jnp.sin(theta)
  return _matrix([c, -s, 0], [s, c, 0], [0, 0, 1])


class _Draws:
  """Per-example random numbers, one fixed row of ``(B,)`` per use.

  Two RNG calls whatever the pipeline (cheap to compile), and a transform's
  draws do not depend on which other transforms are enabled.
  """

  def __init__(self, key: Array, batch: int, uniform: Sequence[str],
               normal: Sequence[str]):
    ku, kn = jax.random.split(key)
    self._uniform = dict(zip(uniform, jax.random.uniform(ku, (len(uniform), batch))))
    self._normal = dict(zip(normal, jax.random.normal(kn, (len(normal), batch))))

  def uniform(self, name: str) -> Array:
    return self._uniform[name]

  def normal(self, name: str) -> Array:
    return self._normal[name]

  def gate(self, name: str, prob, value: Array, identity) -> Array:
    """``value`` where ``U(0, 1) < prob`` (the draw ``name + '?'``), else
    ``identity``, per example."""
    chosen = self._uniform[name + "?"] < prob
    return jnp.where(chosen.reshape(chosen.shape + (1,) * (value.ndim - 1)),
                     value, identity)


_GEOMETRIC_UNIFORM = ("xflip", "xflip?", "rotate90", "rotate90?", "xint_x",
                      "xint_y", "xint?", "scale?", "pre", "pre?", "aniso?",
                      "post", "post?", "xfrac?")
_GEOMETRIC_NORMAL = ("scale", "aniso", "xfrac_x", "xfrac_y")


def _blit_matrices(d: _Draws, batch, height, width, p, mult, ranges) -> Array:
  """xflip, rotate90, xint of AugmentPipe.forward, as inverse matrices."""
  g = jnp.broadcast_to(jnp.eye(3), (batch, 3, 3))
  if mult["xflip"] > 0:
    i = d.gate("xflip", mult["xflip"] * p, jnp.floor(d.uniform("xflip") * 2), 0.0)
    g = _mm(g, _scale2d(1 / (1 - 2 * i), 1))           # scale2d_inv(1 - 2i, 1)
  if mult["rotate90"] > 0:
    i = d.gate("rotate90", mult["rotate90"] * p,
               jnp.floor(d.uniform("rotate90") * 4), 0.0)
    g = _mm(g, _rotate2d(np.pi / 2 * i))               # rotate2d_inv(-pi/2 i)
  if mult["xint"] > 0:
    t = jnp.stack([d.uniform("xint_x"), d.uniform("xint_y")], axis=1)
    t = d.gate("xint", mult["xint"] * p, (t * 2 - 1) * ranges["xint_max"], 0.0)
    g = _mm(g, _translate2d(-jnp.round(t[:, 0] * width),  # translate2d_inv
                            -jnp.round(t[:, 1] * height)))
  return g


def _rotation(d: _Draws, name: str, p_rot, ranges) -> Array:
  """A rotation angle ``U(-π, π) · rotate_max`` with probability ``p_rot``;
  ``rotate2d_inv(-θ) = rotate2d(θ)``."""
  theta = (d.uniform(name) * 2 - 1) * np.pi * ranges["rotate_max"]
  return d.gate(name, p_rot, theta, 0.0)


def _general_matrices(d: _Draws, g, height, width, p, mult, ranges) -> Array:
  """scale, pre-rotation, aniso, post-rotation, xfrac of AugmentPipe.forward,
  multiplied onto the inverse matrices ``g`` on the right."""
  if mult["scale"] > 0:
    s = d.gate("scale", mult["scale"] * p,
               jnp.exp2(d.normal("scale") * ranges["scale_std"]), 1.0)
    g = _mm(g, _scale2d(1 / s, 1 / s))                 # scale2d_inv(s, s)
  # P(pre OR post rotation) = rotate * p.
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - mult["rotate"] * p, 0, 1))
  if mult["rotate"] > 0:
    g = _mm(g, _rotate2d(_rotation(d, "pre", p_rot, ranges)))
  if mult["aniso"] > 0:
    s = d.gate("aniso", mult["aniso"] * p,
               jnp.exp2(d.normal("aniso") * ranges["aniso_std"]), 1.0)
    g = _mm(g, _scale2d(1 / s, s))                     # scale2d_inv(s, 1/s)
  if mult["rotate"] > 0:
    g = _mm(g, _rotate2d(_rotation(d, "post", p_rot, ranges)))
  if mult["xfrac"] > 0:
    t = jnp.stack([d.normal("xfrac_x"), d.normal("xfrac_y")], axis=1)
    t = d.gate("xfrac", mult["xfrac"] * p, t * ranges["xfrac_std"], 0.0)
    g = _mm(g, _translate2d(-t[:, 0] * width,          # translate2d_inv
                            -t[:, 1] * height))
  return g


def ada_geometric_matrices(key: Array, shape: Sequence[int], p: ArrayLike, *,
                           pipeline: str | Mapping[str, float] = "bgc",
                           **ranges: float) -> Array:
  """Draws ADA's per-example inverse geometric transforms, ``(B, 3, 3)``.

  ``G_inv @ [x_out, y_out, 1] = [x_in, y_in, 1]`` maps an output pixel to
  the input pixel it samples, in pixel units from the image centre (``x``
  the column, ``y`` the row), as ``G_inv`` of ``AugmentPipe.forward``. Each
  enabled transform is chosen per example with probability
  ``multiplier * p`` and multiplied on the right in the official order:
  xflip (``i ~ {0, 1}``, ``x ↦ (1 - 2i) x``), rotate90 (``i ~ {0, 1, 2, 3}``
  quarter turns), xint (``t ~ U(-xint_max, xint_max)²``, rounded to whole
  pixels of ``t · (W, H)``), scale (``s = 2^N(0, scale_std²)``), rotation
  (``θ ~ U(-π, π) · rotate_max``, before and after aniso, each with
  probability ``1 - sqrt(1 - rotate · p)`` so that one of them happens with
  probability ``rotate · p``), aniso (``2^N(0, aniso_std²)`` on ``x``, its
  inverse on ``y``), xfrac (``t ~ N(0, xfrac_std²)²`` times ``(W, H)``).

  Args:
    key: PRNG key.
    shape: Image batch shape ``(B, H, W, C)``.
    p: Augmentation probability, a scalar (may be traced).
    pipeline: A name of :data:`ADA_PIPELINES` or a mapping from names of
      :data:`ADA_TRANSFORMS` to probability multipliers (others are 0).
    **ranges: Overrides of :data:`ADA_RANGES`.

  Returns:
    float32 matrices, shape ``(B, 3, 3)``; the identity (exactly) for the
    examples no transform was chosen for.
  """
  mult, ranges = _resolve(pipeline, ranges)
  batch, height, width = shape[0], shape[1], shape[2]
  p = jnp.asarray(p, jnp.float32)
  d = _Draws(key, batch, _GEOMETRIC_UNIFORM, _GEOMETRIC_NORMAL)
  g = _blit_matrices(d, batch, height, width, p, mult, ranges)
  return _general_matrices(d, g, height, width, p, mult, ranges)


_LUMA = np.array([1.0, 1.0, 1.0, 0.0], np.float32) / np.float32(np.sqrt(3))
_COLOR_UNIFORM = ("brightness?", "contrast?", "lumaflip", "lumaflip?", "hue",
                  "hue?", "saturation?")
_COLOR_NORMAL = ("brightness", "contrast", "saturation")


def _rotate3d(v: np.ndarray, theta: Array) -> Array:
  """Rotation by ``theta`` about the unit axis ``v``, as ``rotate3d``."""
  vx, vy, vz = (float(e) for e in v[:3])
  s, c = jnp.sin(theta), jnp.cos(theta)
  cc = 1 - c
  return _matrix(
      [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
      [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
      [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
      [0, 0, 0, 1])


def ada_color_matrices(key: Array, shape: Sequence[int], p: ArrayLike, *,
                       pipeline: str | Mapping[str, float] = "bgc",
                       **ranges: float) -> Array:
  """Draws ADA's per-example color transforms, ``(B, 4, 4)``.

  ``C @ [r, g, b, 1]`` is the new color, as ``C`` of ``AugmentPipe.forward``.
  Each enabled transform is chosen per example with probability
  ``multiplier * p`` and multiplied on the left in the official order:
  brightness (add ``b ~ N(0, brightness_std²)``), contrast (scale by
  ``2^N(0, contrast_std²)``), lumaflip (``i ~ {0, 1}``, Householder
  reflection ``I - 2 i v vᵀ`` about the luma axis ``v = (1, 1, 1, 0)/√3``),
  hue (rotation about ``v`` by ``θ ~ U(-π, π) · hue_max``), saturation
  (``v vᵀ + (I - v vᵀ) · 2^N(0, saturation_std²)``). Hue and saturation are
  skipped for one channel (``C == 1``), as the official code.

  Args:
    key: PRNG key.
    shape: Image batch shape ``(B, H, W, C)``.
    p: Augmentation probability, a scalar (may be traced).
    pipeline: A name of :data:`ADA_PIPELINES` or a mapping from names of
      :data:`ADA_TRANSFORMS` to probability multipliers (others are 0).
    **ranges: Overrides of :data:`ADA_RANGES`.

  Returns:
    float32 matrices, shape ``(B, 4, 4)``; the identity (exactly) for the
    examples no transform was chosen for.
  """
  mult, ranges = _resolve(pipeline, ranges)
  batch, channels = shape[0], shape[3]
  p = jnp.asarray(p, jnp.float32)
  d = _Draws(key, batch, _COLOR_UNIFORM, _COLOR_NORMAL)
  eye, vv = jnp.eye(4), jnp.asarray(np.outer(_LUMA, _LUMA))
  c = jnp.broadcast_to(eye, (batch, 4, 4))
  if mult["brightness"] > 0:
    b = d.gate("brightness", mult["brightness"] * p,
               d.normal("brightness") * ranges["brightness_std"], 0.0)
    c = _mm(_matrix([1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]), c)
  if mult["contrast"] > 0:
    s = d.gate("contrast", mult["contrast"] * p,
               jnp.exp2(d.normal("contrast") * ranges["contrast_std"]), 1.0)
    c = _mm(_matrix([s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]), c)
  if mult["lumaflip"] > 0:
    i = d.gate("lumaflip", mult["lumaflip"] * p,
               jnp.floor(d.uniform("lumaflip") * 2), 0.0)
    c = _mm(eye - 2 * vv * i[:, None, None], c)      # Householder reflection
  if mult["hue"] > 0 and channels > 1:
    theta = d.gate("hue", mult["hue"] * p,
                   (d.uniform("hue") * 2 - 1) * np.pi * ranges["hue_max"], 0.0)
    c = _mm(_rotate3d(_LUMA, theta), c)
  if mult["saturation"] > 0 and channels > 1:
    s = d.gate("saturation", mult["saturation"] * p,
               jnp.exp2(d.normal("saturation") * ranges["saturation_std"]), 1.0)
    c = _mm(vv + (eye - vv) * s[:, None, None], c)
  return c


# ---------------------------------------------------------------------------
# Executing ADA's transforms.
# ---------------------------------------------------------------------------

# Low-pass filter of the geometric transforms: the sym6 wavelet
# (augment.py `wavelets['sym6']`, AugmentPipe's `Hz_geom`), normalised to unit
# DC gain as upfirdn2d.setup_filter does.
_SYM6 = np.array([
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057,
    -0.048311742585633, 0.4910559419267466, 0.787641141030194,
    0.3379294217276218, -0.07263752278646252, -0.021060292512300564,
    0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
])
_HZ_GEOM = _SYM6 / _SYM6.sum()
_HZ_PAD = _HZ_GEOM.size // 4


def _fir_matrix(length: int, taps: np.ndarray, *, up: int = 1, down: int = 1,
                pad: tuple[int, int] = (0, 0)) -> np.ndarray:
  """``upfirdn`` of a length-``length`` signal as a matrix (``y = M @ x``):
  ``up - 1`` zeros after each sample, zero padding ``pad`` (cropping where
  negative), correlation with ``taps``, every ``down``-th sample."""
  z = np.zeros((length * up, length))
  z[::up] = np.eye(length)
  z = np.pad(z, ((max(pad[0], 0), max(pad[1], 0)), (0, 0)))
  z = z[max(-pad[0], 0):z.shape[0] - max(-pad[1], 0)]
  k = len(taps)
  rows = [np.asarray(taps, np.float64) @ z[i:i + k] for i in range(0, len(z) - k + 1, down)]
  return np.stack(rows)


@functools.cache
def _upsample_matrix(length: int) -> np.ndarray:
  """Reflection padding by ``length - 1`` on both sides, then
  ``upfirdn2d.upsample2d(x, Hz_geom, up=2)`` along one axis: a zero after each
  sample, zero padding ``((fw + 1) // 2, (fw - 2) // 2)``, convolution with
  the filter times 2 (the gain ``up² = 4`` split over the two axes). One
  ``(2 (3 length - 2), length)`` matrix, float32."""
  fw = _HZ_GEOM.size
  reflect = np.pad(np.eye(length), ((length - 1, length - 1), (0, 0)), mode="reflect")
  # Convolution (flip_filter=False) is correlation with the flipped filter.
  up = _fir_matrix(len(reflect), _HZ_GEOM[::-1] * 2, up=2,
                   pad=((fw + 1) // 2, (fw - 2) // 2))
  return (up @ reflect).astype(np.float32)


@functools.cache
def _downsample_matrix(length: int) -> np.ndarray:
  """``upfirdn2d.downsample2d(x, Hz_geom, down=2, padding=-2 * Hz_pad,
  flip_filter=True)`` along one axis of length ``length``: padding
  ``-2 Hz_pad + (fw - 1) // 2`` and ``-2 Hz_pad + (fw - 2) // 2``,
  correlation, every second sample; float32."""
  fw = _HZ_GEOM.size
  return _fir_matrix(length, _HZ_GEOM, down=2,
                     pad=(-2 * _HZ_PAD + (fw - 1) // 2,
                          -2 * _HZ_PAD + (fw - 2) // 2)).astype(np.float32)


def _resample(x: Array, rows: np.ndarray, cols: np.ndarray) -> Array:
  """``rows @ x @ cols.T`` for each image and channel of ``(B, H, W, C)``."""
  x = jnp.einsum("ph,bhwc->bpwc", rows, x, precision=_HIGHEST)
  return jnp.einsum("qw,bpwc->bpqc", cols, x, precision=_HIGHEST)


def _sample_bilinear(image: Array, rows: Array, cols: Array) -> Array:
  """``grid_sample(mode='bilinear', padding_mode='zeros')`` of one ``(H, W,
  C)`` image at fractional pixel indices ``rows``, ``cols`` (pixel centres at
  integers), zero outside the image.

  Each point reads one 2x2 window of the image padded by a zero pixel (one
  gather of windows: its gradient, a scatter, is 4x cheaper on the CPU than
  that of four gathers of single pixels); corners outside the image get
  weight 0."""
  height, width, channels = image.shape
  padded = jnp.pad(image, ((1, 1), (1, 1), (0, 0)))
  r0, c0 = jnp.floor(rows), jnp.floor(cols)
  fr, fc = rows - r0, cols - c0
  r0, c0 = r0.astype(jnp.int32), c0.astype(jnp.int32)

  def weights(i, f, size):  # of corners i and i + 1, 0 outside [0, size)
    return jnp.stack([jnp.where((i >= 0) & (i < size), 1 - f, 0.0),
                      jnp.where((i >= -1) & (i < size - 1), f, 0.0)], axis=-1)

  # Window rows r0 + 1, r0 + 2 of `padded` are the image's r0, r0 + 1;
  # where the start is clipped, both corners are outside and weigh 0.
  starts = (jnp.clip(r0 + 1, 0, height).ravel(), jnp.clip(c0 + 1, 0, width).ravel())
  windows = jax.vmap(lambda r, c: jax.lax.dynamic_slice(
      padded, (r, c, 0), (2, 2, channels)))(*starts)
  windows = windows.reshape(rows.shape + (2, 2, channels))
  w = weights(r0, fr, height)[..., :, None] * weights(c0, fc, width)[..., None, :]
  return jnp.einsum("...rc,...rcd->...d", w, windows, precision=_HIGHEST)


def apply_geometric(x: ArrayLike, g_inv: ArrayLike) -> Array:
  """Resamples each image by its inverse transform, as ``AugmentPipe``.

  The official execution: reflection padding, 2x upsampling with the sym6
  wavelet filter (``upfirdn2d.upsample2d``), bilinear sampling of a
  ``2(H + 2 Hz_pad) x 2(W + 2 Hz_pad)`` grid (``Hz_pad = 3``) at
  ``T(-½) S(2) G_inv S(½) T(½)`` applied to the output pixels in centred
  coordinates (``affine_grid`` + ``grid_sample``, bilinear, zeros outside,
  ``align_corners=False``), then 2x downsampling with the flipped filter
  and a ``2 Hz_pad`` crop (``upfirdn2d.downsample2d``). Up- then
  down-sampling is the identity (sym6 is orthogonal), so integer
  translations are exact; flips and quarter turns are not quite, because
  sym6 is not symmetric (the official code shares this).

  Simplification: the official code pads by the margin the batch's
  transforms need (the maximum over the batch, at most ``W - 1`` by
  ``H - 1``); this pads by ``W - 1`` by ``H - 1`` always, so that shapes are
  static and each example is independent of the others. Outputs differ only
  where the official padding is too narrow for the filter's reach.

  Args:
    x: Images, shape ``(B, H, W, C)``.
    g_inv: Inverse transforms, shape ``(B, 3, 3)``, as returned by
      :func:`ada_geometric_matrices`.

  Returns:
    The transformed images, shape and dtype of ``x``.
  """
  x = _check_images(x)
  _, height, width, _ = x.shape
  # Padding and upsampling are linear along each axis: one constant matrix
  # per axis (two einsums; as depthwise convolutions with lhs dilation they
  # were 6x slower on the CPU).
  images = _resample(x.astype(jnp.promote_types(x.dtype, jnp.float32)),
                     _upsample_matrix(height), _upsample_matrix(width))
  g = _mm(_mm(_mm(_translate2d(-0.5, -0.5), _scale2d(2, 2)),
              jnp.asarray(g_inv, jnp.float32)),
          _mm(_scale2d(0.5, 0.5), _translate2d(0.5, 0.5)))
  out_h, out_w = 2 * (height + 2 * _HZ_PAD), 2 * (width + 2 * _HZ_PAD)
  ys, xs = jnp.meshgrid(jnp.arange(out_h) - (out_h - 1) / 2,
                        jnp.arange(out_w) - (out_w - 1) / 2, indexing="ij")
  grid = jnp.stack([xs, ys, jnp.ones_like(xs)], axis=-1)
  src = jnp.einsum("bij,hwj->bhwi", g[:, :2, :], grid, precision=_HIGHEST)
  cols = src[..., 0] + (images.shape[2] - 1) / 2
  rows = src[..., 1] + (images.shape[1] - 1) / 2
  images = jax.vmap(_sample_bilinear)(images, rows, cols)
  images = _resample(images, _downsample_matrix(out_h), _downsample_matrix(out_w))
  return images.astype(x.dtype)


def apply_color(x: ArrayLike, c: ArrayLike) -> Array:
  """Applies each image's 4x4 color matrix in one matmul, as
  ``AugmentPipe``.

  RGB: ``out = C[:3, :3] @ rgb + C[:3, 3]``. One channel (official
  ``num_channels == 1``): the gray value is treated as ``(g, g, g)`` and the
  output channels averaged, ``out = g · Σ_j m_j + m_3`` with
  ``m = mean of C's first three rows``.

  Args:
    x: Images, shape ``(B, H, W, C)`` with ``C`` 1 or 3.
    c: Color matrices, shape ``(B, 4, 4)``, as returned by
      :func:`ada_color_matrices`.

  Returns:
    The transformed images, shape and dtype of ``x``.

  Raises:
    ValueError: If ``C`` is neither 1 nor 3.
  """
  x = _check_images(x)
  c = jnp.asarray(c, jnp.float32)
  images = x.astype(jnp.promote_types(x.dtype, jnp.float32))
  if x.shape[3] == 3:
    out = jnp.einsum("bij,bhwj->bhwi", c[:, :3, :3], images,
                     precision=_HIGHEST) + c[:, None, None, :3, 3]
  elif x.shape[3] == 1:
    m = jnp.mean(c[:, :3, :], axis=1)
    out = (images * jnp.sum(m[:, :3], axis=1)[:, None, None, None]
           + m[:, None, None, 3:])
  else:
    raise ValueError(
        "ADA's color transforms need RGB (3 channels) or grayscale (1 "
        f"channel) images; got {x.shape[3]} channels."
    )
  return out.astype(x.dtype)


def _unless_identity(fn: Callable[[Array, Array], Array], x: Array,
                     m: Array) -> Array:
  """``fn(x, m)`` for the examples whose matrix is not exactly the identity,
  ``x`` itself for the others; skips ``fn`` if no example needs it."""
  identity = jnp.all(m == jnp.eye(m.shape[-1], dtype=m.dtype), axis=(1, 2))

  def transformed():
    return jnp.where(identity[:, None, None, None], x, fn(x, m))

  return jax.lax.cond(jnp.all(identity), lambda: x, transformed)


def ada_augment(x: ArrayLike, key: Array, p: ArrayLike, *,
                pipeline: str | Mapping[str, float] = "bgc",
                **ranges: float) -> Array:
  """ADA's augmentation pipeline with probability ``p`` per transform.

  With ``k_geom, k_color = jax.random.split(key)``: the geometric transforms
  of :func:`ada_geometric_matrices` (``k_geom``) executed by
  :func:`apply_geometric`, then the color transforms of
  :func:`ada_color_matrices` (``k_color``) executed by :func:`apply_color`,
  as ``AugmentPipe.forward``. An example whose matrix is the identity (no
  transform chosen, e.g. every example at ``p = 0``) is returned unchanged,
  bit for bit; the official code resamples the whole batch, which returns
  such examples up to float rounding.

  References:
    Karras et al., *Training Generative Adversarial Networks with Limited
    Data*, NeurIPS 2020, https://arxiv.org/abs/2006.06676; official code
    ``NVlabs/stylegan2-ada-pytorch``, ``training/augment.py``.

  Args:
    x: Images, shape ``(B, H, W, C)``, float in ``[-1, 1]``; ``C`` must be 1
      or 3 if the pipeline has color transforms.
    key: PRNG key.
    p: Augmentation probability, a scalar in ``[0, 1]`` (may be traced; see
      :func:`ada_update`).
    pipeline: A name of :data:`ADA_PIPELINES` (official presets; default
      ``'bgc'``) or a mapping from names of :data:`ADA_TRANSFORMS` to
      probability multipliers (the others are 0, i.e. disabled).
    **ranges: Overrides of :data:`ADA_RANGES` (e.g. ``xint_max=0.25``).

  Returns:
    The augmented images, shape and dtype of ``x``.

  Raises:
    ValueError: For an unknown pipeline, transform or range name (the
      message lists the valid ones), or images of the wrong shape.
  """
  mult, _ = _resolve(pipeline, ranges)
  x = _check_images(x)
  if any(mult[n] > 0 for n in ADA_TRANSFORMS[7:]) and x.shape[3] not in (1, 3):
    raise ValueError(
        "ADA's color transforms need RGB (3 channels) or grayscale (1 "
        f"channel) images; got {x.shape[3]} channels."
    )
  k_geom, k_color = jax.random.split(key)
  if any(mult[n] > 0 for n in _GEOMETRIC):
    g = ada_geometric_matrices(k_geom, x.shape, p, pipeline=pipeline, **ranges)
    x = _unless_identity(apply_geometric, x, g)
  if any(mult[n] > 0 for n in ADA_TRANSFORMS[7:]):
    c = ada_color_matrices(k_color, x.shape, p, pipeline=pipeline, **ranges)
    x = _unless_identity(apply_color, x, c)
  return x


def ada_sign_stats(real_logits: ArrayLike) -> tuple[Array, Array]:
  """``(Σ sign(D(x_real)), count)`` of one batch, to accumulate over
  ``interval`` steps for :func:`ada_update` (the official training loop
  collects ``Loss/signs/real``, ``real_logits.sign()``)."""
  logits = jnp.asarray(real_logits)
  return (jnp.sum(jnp.sign(logits).astype(jnp.float32)),
          jnp.asarray(logits.size, jnp.float32))


def ada_update(p: ArrayLike, sign_sum: ArrayLike, count: ArrayLike, *,
               batch_size: int, interval: int = 4, target: float = 0.6,
               kimg: float = 500, max_p: float | None = 1.0) -> Array:
  r"""ADA's adjustment of ``p`` from the sign of the real logits.

  ::

    r_t = sign_sum / count                    = E[sign(D(x_real))]
    p  ← clip(p + sign(r_t - target) · batch_size · interval / (kimg · 1000),
              0, max_p)

  as ``training/training_loop.py`` of stylegan2-ada-pytorch (run every
  ``ada_interval`` steps on the statistics collected since the last run;
  ``ada_target = 0.6``, ``ada_interval = 4``, ``ada_kimg = 500``), so ``p``
  can move from 0 to 1 in ``kimg`` thousand images. The official code clips
  at 0 only; ``max_p=None`` does that (every probability saturates at
  ``p = 1`` anyway, but ``p`` then takes time to come back down). With
  ``count == 0`` ``p`` is returned unchanged.

  Args:
    p: Current probability, a scalar.
    sign_sum: ``Σ sign(D(x_real))`` over the interval (:func:`ada_sign_stats`).
    count: Number of logits summed.
    batch_size: Images per step (the global batch).
    interval: Steps between updates (``ada_interval``).
    target: ``ada_target``.
    kimg: ``ada_kimg``, thousands of images for ``p`` to change by 1.
    max_p: Upper clip, or ``None`` for none.

  Returns:
    The new ``p``, a float32 scalar.
  """
  p = jnp.asarray(p, jnp.float32)
  count = jnp.asarray(count, jnp.float32)
  r_t = jnp.asarray(sign_sum, jnp.float32) / jnp.maximum(count, 1.0)
  adjust = jnp.sign(r_t - target) * (batch_size * interval) / (kimg * 1000)
  new = jnp.maximum(p + adjust, 0.0)
  if max_p is not None:
    new = jnp.minimum(new, max_p)
  return jnp.where(count > 0, new, p)


# ---------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------


class AugmentSpec(NamedTuple):
  """An augmentation by name, with what a training step needs to call it.

  Attributes:
    fn: ``fn(x, key, **options) -> x``, or ``fn(x, key, p, **options) -> x``
      if ``adaptive``.
    options: The keyword options of ``fn`` with their defaults.
    adaptive: Whether ``fn`` takes the probability ``p``, state the training
      loop keeps and updates with ``update``.
    update: ``update(p, sign_sum, count, batch_size=..., **update_options)
      -> p`` if ``adaptive``, else ``None``.
    update_options: The keyword options of ``update`` with their defaults.
    initial_p: Starting ``p`` (official ``augment_p = 0``), or ``None``.
  """

  fn: Callable[..., Array]
  options: Mapping[str, Any]
  adaptive: bool
  update: Callable[..., Array] | None = None
  update_options: Mapping[str, Any] = types.MappingProxyType({})
  initial_p: float | None = None


AUGMENTATIONS: Mapping[str, AugmentSpec] = types.MappingProxyType({
    "diffaugment": AugmentSpec(
        fn=diffaugment,
        options=types.MappingProxyType({"policy": "color,translation,cutout"}),
        adaptive=False,
    ),
    "ada": AugmentSpec(
        fn=ada_augment,
        options=types.MappingProxyType({"pipeline": "bgc", **ADA_RANGES}),
        adaptive=True,
        update=ada_update,
        update_options=types.MappingProxyType(
            {"interval": 4, "target": 0.6, "kimg": 500.0, "max_p": 1.0}),
        initial_p=0.0,
    ),
})


def names() -> list[str]:
  """Returns the sorted names accepted by :func:`get`."""
  return sorted(AUGMENTATIONS)


def get(name: str) -> AugmentSpec:
  """Returns the :class:`AugmentSpec` called ``name`` (``'ada'`` or
  ``'diffaugment'``).

  Raises:
    ValueError: If ``name`` is unknown; the message lists the valid names.
  """
  try:
    return AUGMENTATIONS[name]
  except (KeyError, TypeError):
    raise _unknown("augmentation", [name], AUGMENTATIONS) from None
