"""Walks and sums in latent space: interpolation strips and DCGAN-style
latent arithmetic."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

INTERPOLATIONS = ('linear', 'spherical')


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """(1 - t) a + t b, for latents a, b (..., d) and weights t (k,) -> (..., k, d)."""
  t = jnp.asarray(t)[:, None]
  return (1 - t) * a[..., None, :] + t * b[..., None, :]


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation (Shoemake 1985; for GAN latents White 2016):
  sin((1-t) w)/sin(w) a + sin(t w)/sin(w) b with w the angle between a and b,
  which keeps the norm of Gaussian latents typical where the straight line
  shrinks it; linear where a and b are (anti)parallel. Shapes as `lerp`."""
  t = jnp.asarray(t)[:, None]
  na = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  nb = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(na * nb, -1), -1.0, 1.0))[..., None, None]
  sin = jnp.sin(omega)
  safe = jnp.where(sin > 1e-6, sin, 1.0)
  spherical = (jnp.sin((1 - t) * omega) / safe * a[..., None, :]
               + jnp.sin(t * omega) / safe * b[..., None, :])
  return jnp.where(sin > 1e-6, spherical, lerp(a, b, t[:, 0]))


def interpolation_strips(start: jax.Array, end: jax.Array, steps: int,
                         how: str = 'linear') -> jax.Array:
  """Latents (rows * steps, d) of `rows` strips from start[i] to end[i]
  (both (rows, d)), endpoints included, `how` one of INTERPOLATIONS."""
  if how not in INTERPOLATIONS:
    raise ValueError(f'Unknown interpolation {how!r}; valid: {", ".join(INTERPOLATIONS)}.')
  if steps < 2:
    raise ValueError(f'An interpolation strip needs at least 2 steps, got {steps}.')
  fn = lerp if how == 'linear' else slerp
  path = fn(start, end, jnp.linspace(0.0, 1.0, steps))
  return path.reshape(-1, start.shape[-1])


def parse_arithmetic(text: str) -> list[tuple[int, list[int]]]:
  """'3,17,22 - 5,9,40 + 11,12,13' -> [(+1, [3, 17, 22]), (-1, [5, 9, 40]),
  (+1, [11, 12, 13])]: signed groups of sample indices (a leading sign is
  allowed)."""
  tokens = re.split(r'\s*([+-])\s*', text.strip())
  if tokens and tokens[0] == '':
    tokens = tokens[1:]
  else:
    tokens = ['+', *tokens]
  terms = []
  for sign, group in zip(tokens[0::2], tokens[1::2]):
    try:
      indices = [int(i) for i in group.split(',') if i.strip()]
    except ValueError:
      indices = []
    if not indices:
      raise ValueError(f'Bad latent arithmetic {text!r}: each term is a '
                       "comma-separated list of sample indices, e.g. '3,17,22 - 5,9 + 11'.")
    terms.append((1 if sign == '+' else -1, indices))
  if len(tokens) % 2 or not terms:
    raise ValueError(f'Bad latent arithmetic {text!r}: it ends with a sign.')
  return terms


def arithmetic(z: jax.Array, terms: list[tuple[int, list[int]]]) -> tuple[jax.Array, jax.Array]:
  """The DCGAN paper's vector arithmetic (Radford et al. 2016, section 6.3):
  each term the mean latent of its samples, added or subtracted.

  Returns:
    (means (terms, d): each term's mean latent, result (d,): their signed sum).
  """
  largest = max(max(indices) for _, indices in terms)
  if largest >= len(z) or min(min(indices) for _, indices in terms) < 0:
    raise ValueError(f'Sample indices must be in [0, {len(z)}) (the samples drawn: '
                     f'raise --num), got {largest}.')
  means = jnp.stack([z[np.asarray(indices)].mean(0) for _, indices in terms])
  signs = jnp.asarray([sign for sign, _ in terms], means.dtype)
  return means, (signs[:, None] * means).sum(0)
