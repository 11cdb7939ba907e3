"""Tests for jaxgan.augment: DiffAugment and ADA against the official code
(outputs recorded in tests/golden/augment.json by
tests/scripts/record_augment_golden.py) and against NumPy references computed
from the same random draws, invariants, gradients, jit/vmap, the ADA
controller and the registry."""

import functools
import inspect
import json
import pathlib

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment

KEY = jax.random.PRNGKey(0)
# One compiled bgc pipeline with a traced p, shared by the tests (same shapes).
_ADA = jax.jit(augment.ada_augment)


@functools.cache
def _jit_ada(*transforms):
  """ada_augment compiled for the pipeline of these transforms (multiplier
  1): compiling once costs less CPU than running the pipeline op by op."""
  pipeline = {name: 1.0 for name in transforms}
  return jax.jit(functools.partial(augment.ada_augment, pipeline=pipeline))


GOLDEN = json.loads(
    (pathlib.Path(__file__).parent / "golden" / "augment.json").read_text())


def _images(shape, key=KEY, low=-1.0, high=1.0):
  return jax.random.uniform(key, shape, minval=low, maxval=high)


def _smooth(batch, size, channels):
  """Low-frequency, asymmetric images in [-1, 1] (resampling through ADA's
  sym6 filter is close to exact on them)."""
  y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size),
                     indexing="ij")
  out = []
  for b in range(batch):
    base = [np.exp(-((x - 0.3) ** 2 + (y + 0.2 * b / batch) ** 2) * 2),
            0.5 * x + 0.3 * y, np.cos(0.8 * x - 0.5 * y + b)]
    out.append(np.stack(base[:channels], axis=-1))
  return np.asarray(out, np.float32) * 0.9


def _color_bound(x, b, s, c, *, x_error=0.0, factor_error=0.0, transpose=False):
  """The largest difference between two float32 evaluations of
  adjust_color(x, b, s, c) (so also between one and the exact result), for
  inputs x within x_error and factors within factor_error of each other, per
  example (B,); `transpose`: of its transpose (the gradient), whose two means
  come in the other order.

  Forward error analysis in float64: each intermediate has a magnitude A (a
  bound on its |value|) and an error E. A rounding adds U A per evaluation
  (2 U A between two); a mean of n terms adds float32.sum_bound(n, its terms'
  mean magnitude) and the mean of their errors; y = (e - m) f + m carries
  them as |f| E_e + |1 - f| E_m, plus |e - m| for an error in f."""
  u = float32.U
  x = np.abs(np.asarray(x, np.float64))
  b, s, c = (np.asarray(v, np.float64).reshape(-1, 1, 1, 1) for v in (b, s, c))
  a = x + np.abs(b)
  err = x_error + factor_error + 2 * u * a
  stages = ((s, (3,)), (c, (1, 2, 3)))
  for f, axes in stages[::-1] if transpose else stages:
    n = int(np.prod([x.shape[i] for i in axes]))
    m = a.mean(axes, keepdims=True)
    m_err = float32.sum_bound(n, m) + err.mean(axes, keepdims=True)
    d = a + m  # |e - m|
    a = np.abs(f) * d + m
    err = (np.abs(f) * err + np.abs(1 - f) * m_err + factor_error * d
           + 2 * u * (d + np.abs(f) * d + a))
  return err.max((1, 2, 3))


# ---------------------------------------------------------------------------
# DiffAugment.
# ---------------------------------------------------------------------------


def test_translation_moves_content_by_the_drawn_integer_shifts_with_zero_fill():
  x = _images((8, 16, 16, 3), low=0.1, high=1.0)  # no zeros of its own
  shifts = np.asarray(augment.translation_shifts(KEY, x.shape))
  out = np.asarray(augment.translation(x, KEY))
  assert shifts.dtype == np.int32 and np.abs(shifts).max() <= 2  # 16 / 8
  assert len({tuple(s) for s in shifts}) > 1  # per-example shifts
  for b, (dh, dw) in enumerate(shifts):
    expected = np.roll(np.asarray(x[b]), (-dh, -dw), axis=(0, 1))
    rows, cols = np.arange(16) + dh, np.arange(16) + dw
    expected[(rows < 0) | (rows >= 16)] = 0
    expected[:, (cols < 0) | (cols >= 16)] = 0
    np.testing.assert_array_equal(out[b], expected)
    assert (out[b] == 0).sum() == 3 * (16 * 16 - (16 - abs(dh)) * (16 - abs(dw)))


def test_cutout_zeroes_the_official_clipped_square_per_example():
  x = _images((8, 16, 16, 2), low=0.1, high=1.0)
  centers = np.asarray(augment.cutout_centers(KEY, x.shape))
  out = np.asarray(augment.cutout(x, KEY))
  assert augment.cutout_size(x.shape) == (8, 8)
  assert augment.cutout_size((1, 15, 9, 1)) == (8, 5)  # int(size / 2 + 0.5)
  assert centers.min() >= 0 and centers.max() <= 16   # [0, H - size % 2]
  assert len({tuple(c) for c in centers}) > 1
  for b, (r, q) in enumerate(centers):
    top, left = r - 4, q - 4
    rows = slice(max(top, 0), min(top + 8, 16))
    cols = slice(max(left, 0), min(left + 8, 16))
    expected = np.asarray(x[b]).copy()
    expected[rows, cols] = 0
    np.testing.assert_array_equal(out[b], expected)
    area = (rows.stop - rows.start) * (cols.stop - cols.start)
    assert (out[b] == 0).sum() == 2 * area


def test_diffaugment_draws_cover_the_official_ranges():
  # int(size * ratio + 0.5): rows 12 -> shifts up to 2, columns 20 -> 3.
  shifts = np.asarray(augment.translation_shifts(KEY, (4000, 12, 20, 1)))
  assert set(shifts[:, 0]) == set(range(-2, 3))
  assert set(shifts[:, 1]) == set(range(-3, 4))
  # Cutout 7 x 8 of 14 x 16: centres in [0, 14 - 1] x [0, 16].
  centers = np.asarray(augment.cutout_centers(KEY, (4000, 14, 16, 1)))
  assert augment.cutout_size((1, 14, 16, 1)) == (7, 8)
  assert set(centers[:, 0]) == set(range(14))
  assert set(centers[:, 1]) == set(range(17))
  for factor, (low, high) in zip(augment.color_factors(KEY, 4000),
                                 [(-0.5, 0.5), (0.0, 2.0), (0.5, 1.5)]):
    factor = np.asarray(factor)
    # Sampling, not rounding: 4,000 uniform draws on a width w (1 or 2) miss
    # [low, low + 0.01) with probability (1 - 0.01 / w)^4000 < e^-20 (so too
    # at the top); their mean has standard error w / sqrt(12 * 4000) = 0.0046
    # or 0.0091, so 0.03 is 3.3 standard errors or more.
    assert low <= factor.min() < low + 0.01 and high - 0.01 < factor.max() < high
    assert abs(factor.mean() - (low + high) / 2) < 0.03


def test_color_matches_the_official_formulas_for_the_drawn_factors():
  x = _images((8, 16, 16, 3))
  b, s, c = map(np.asarray, augment.color_factors(KEY, 8))
  assert -0.5 <= b.min() and b.max() < 0.5 and np.ptp(b) > 0
  assert 0 <= s.min() and s.max() < 2 and 0.5 <= c.min() and c.max() < 1.5
  e = np.asarray(x, np.float64) + b[:, None, None, None]
  mean = e.mean(axis=3, keepdims=True)
  e = (e - mean) * s[:, None, None, None] + mean
  mean = e.mean(axis=(1, 2, 3), keepdims=True)
  e = (e - mean) * c[:, None, None, None] + mean
  # float32 against float64: _color_bound (the mean over 768 values dominates),
  # 7.8e-5 here (2.9e-7 seen on one machine); without contrast: 0.38 off.
  np.testing.assert_allclose(augment.color(x, KEY), e, rtol=0,
                             atol=_color_bound(x, b, s, c).max())


def test_diffaugment_applies_the_policies_in_order_with_one_key_each():
  x = _images((8, 16, 16, 3))
  k1, k2, k3 = jax.random.split(KEY, 3)
  expected = augment.cutout(augment.translation(augment.color(x, k1), k2), k3)
  np.testing.assert_array_equal(augment.diffaugment(x, KEY), expected)
  k1, k2 = jax.random.split(KEY, 2)
  expected = augment.color(augment.cutout(x, k1), k2)
  np.testing.assert_array_equal(
      augment.diffaugment(x, KEY, " cutout, color"), expected)
  np.testing.assert_array_equal(augment.diffaugment(x, KEY, ""), x)


def test_diffaugment_same_key_same_output_other_key_other_output():
  x = _images((8, 16, 16, 3))
  a = augment.diffaugment(x, KEY)
  np.testing.assert_array_equal(a, augment.diffaugment(x, KEY))
  # Must differ: other draws move pixels by O(1), not np.allclose's 1e-5.
  assert not np.allclose(a, augment.diffaugment(x, jax.random.PRNGKey(1)))
  jitted = jax.jit(augment.diffaugment, static_argnames="policy")
  # Jitted or not, two float32 evaluations of the color step (the translation
  # and cutout only move and zero pixels): _color_bound of its draws, 1.1e-4
  # (equal on one machine); other draws move pixels by O(0.1).
  factors = augment.color_factors(jax.random.split(KEY, 3)[0], 8)
  np.testing.assert_allclose(jitted(x, KEY), a, rtol=0,
                             atol=_color_bound(x, *factors).max())


def _check_affine_gradient(fn, x, pixel_error=None):
  """For a map affine in x (the augmentations with their random draws
  fixed), <grad of sum(fn(x) * w), v> = sum((fn(x + v) - fn(x)) * w).

  pixel_error(x, v, w): per example, how far float32 evaluations of fn(x +
  v) and fn(x) can be off per pixel (together), and of the gradient. The two
  sides, float32 sums of n products, are then within float32.sum_bound(n,
  sum |products|) each, plus sum |w| (error of fn) + sum |v| (error of the
  gradient). Without it, the ADA test's tolerance (see there)."""
  w = _images(x.shape, jax.random.PRNGKey(2))
  v = _images(x.shape, jax.random.PRNGKey(3))
  grad = jax.jit(jax.grad(lambda x: jnp.sum(fn(x) * w)))(x)
  assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0
  difference = fn(x + v) - fn(x)
  expected = jnp.sum(difference * w)
  if pixel_error is None:
    tolerance = dict(rtol=1e-4, atol=1e-3)
  else:
    n, per_image = x.size, lambda a: np.abs(np.asarray(a)).sum((1, 2, 3))
    fn_error, grad_error = pixel_error(x, v, w)
    tolerance = dict(rtol=0, atol=float32.sum_bound(n, float(jnp.sum(jnp.abs(grad * v))))
                     + float32.sum_bound(n, float(jnp.sum(jnp.abs(difference * w))))
                     + per_image(w) @ fn_error + per_image(v) @ grad_error)
  np.testing.assert_allclose(jnp.sum(grad * v), expected, **tolerance)


def test_diffaugment_gradients_flow_to_the_images():
  # Per pixel: the color step's error on x + v (rounded once) and on x, and
  # its transpose's on w (the moves and zeros are exact and only drop values).
  # The tolerance, 2.1 of 44 (7.6e-6 seen on one machine), is mostly the two
  # 6,144-term float32 sums; a gradient that missed the cutout mask or the
  # color step is off by 7.
  x = _images((8, 16, 16, 3))
  b, s, c = augment.color_factors(jax.random.split(KEY, 3)[0], 8)

  def pixel_error(x, v, w):
    return (_color_bound(x + v, b, s, c, x_error=4 * float32.U)
            + _color_bound(x, b, s, c),
            _color_bound(w, np.zeros(8), s, c, transpose=True))

  _check_affine_gradient(lambda x: augment.diffaugment(x, KEY), x, pixel_error)


def test_diffaugment_unknown_policy_lists_the_valid_names():
  x = _images((8, 16, 16, 3))
  with pytest.raises(ValueError, match="'colour'.*valid names: color, cutout, "
                     "translation"):
    augment.diffaugment(x, KEY, "colour,translation")
  with pytest.raises(ValueError, match="shape"):
    augment.diffaugment(x[0], KEY)


def test_diffaugment_matches_the_official_code_for_the_same_draws():
  golden = GOLDEN["diffaugment"]
  x = np.asarray(GOLDEN["x"], np.float32)
  # Two float32 evaluations (PyTorch's and ours), with the stored factors
  # rounded to 6 decimals (5e-7, and float32's 2U |f| <= 2.4e-7 each way:
  # <= 1e-6) and the stored outputs too (5e-7): 3.2e-5 here (5.7e-7 seen on
  # one machine); a factor left out moves pixels by O(0.1).
  atol = _color_bound(x, *golden["factors"], factor_error=1e-6).max() + 5e-7
  np.testing.assert_allclose(augment.adjust_color(x, *golden["factors"]),
                             golden["color"], rtol=0, atol=atol)
  # Moves and zeros of x's own stored values: equal up to float32's rounding
  # of 6 decimals (<= U |x| = 6e-8); 1e-6, the decimals' step, is slack.
  np.testing.assert_allclose(augment.translate(x, golden["shifts"]),
                             golden["translation"], atol=1e-6)
  np.testing.assert_allclose(augment.cut_out(x, golden["centers"], (4, 4)),
                             golden["cutout"], atol=1e-6)
  assert augment.cutout_size(x.shape) == (4, 4)


# ---------------------------------------------------------------------------
# ADA.
# ---------------------------------------------------------------------------


def _ada_bound(x, key, p, **kwargs):
  """How far two float32 evaluations of ada_augment(x, key, p, **kwargs) can
  differ per example (B,), for square images; a model in the spirit of
  float32.network_bound:

  - Sums: upsampling (<= 6 taps a side), bilinear sampling (4 corners, their
    weights 3 roundings), downsampling (<= 12 taps a side), the color matrix
    (3 terms and the bias; its entries, products of <= 5 4x4 matrices with
    sines, cosines and exp2, <= 30 roundings): < 80 roundings on terms whose
    absolute sum is <= G max(|x|, 1), G the absolute row sums of the filters
    (squared: two axes) and of C: float32.sum_bound(80, G max(|x|, 1)).
  - Sample positions: 3-term dot products of the output grid with g, a
    product of <= 12 3x3 matrices (gamma(36)) whose sines, cosines and exp2
    are within 2 ulp and angles within 2U (<= 35U more), plus the centre
    offset: within 80U of P, their terms' absolute sum, P <= 2.83 |A| (half +
    1/2) + 2 |t| + 1/2 + the upsampled image's half size (A, t: g's linear
    part and translation; 2.83 = sqrt(2)^3 for three rotations' absolute
    values; half: the output grid's). A sample moves by that times L, the
    largest step between neighbouring upsampled pixels, then through the
    downsampling and C; twice for two evaluations. This term dominates."""
  u = float32.U
  n = x.shape[1]
  k_geom, k_color = jax.random.split(key)
  g = np.asarray(augment.ada_geometric_matrices(k_geom, x.shape, p, **kwargs),
                 np.float64)
  c = np.asarray(augment.ada_color_matrices(k_color, x.shape, p, **kwargs),
                 np.float64)
  color = np.abs(c[:, :3]).sum(2).max(1)
  out = 2 * (n + 2 * augment._HZ_PAD)
  up, down = augment._upsample_matrix(n), augment._downsample_matrix(out)
  gain = np.abs(up).sum(1).max() ** 2 * np.abs(down).sum(1).max() ** 2
  big = np.einsum("ph,bhwc,qw->bpqc", up, np.asarray(x, np.float64), up)
  steps = np.maximum(np.abs(np.diff(big, axis=1)).max((1, 2, 3)),
                     np.abs(np.diff(big, axis=2)).max((1, 2, 3)))
  positions = (2.83 * np.abs(g[:, :2, :2]).sum(2).max(1) * out / 2
               + 2 * np.abs(g[:, :2, 2]).max(1) + 0.5 + (len(up) - 1) / 2)
  magnitude = np.maximum(np.abs(np.asarray(x)).max((1, 2, 3)), 1.0)
  return (float32.sum_bound(80, gain * color * magnitude)
          + 2 * 80 * u * positions * steps * np.abs(down).sum(1).max() ** 2 * color)


def _official_debug_draws(percentile):
  """Draws that give the parameters of the official
  ``AugmentPipe(debug_percentile=percentile)``: every transform chosen, its
  uniform draws ``percentile``, its normal draws ``erfinv(2 percentile - 1)``,
  the post-rotation off."""
  normal = float(jax.lax.erf_inv(jnp.float32(2 * percentile - 1)))

  class Draws:

    def __init__(self, key, batch, uniform_names, normal_names):
      self.batch = batch

    def uniform(self, name):
      return jnp.full((self.batch,), percentile, jnp.float32)

    def normal(self, name):
      return jnp.full((self.batch,), normal, jnp.float32)

    def gate(self, name, prob, value, identity):
      if name == "post":
        return jnp.broadcast_to(jnp.asarray(identity, value.dtype), value.shape)
      return value

  return Draws


@pytest.mark.parametrize("case", GOLDEN["ada"],
                         ids=lambda c: f"{c['channels']}ch-{c['percentile']}")
def test_ada_bgc_matches_the_official_augment_pipe(monkeypatch, case):
  monkeypatch.setattr(augment, "_Draws", _official_debug_draws(case["percentile"]))
  x = np.asarray(GOLDEN["x"], np.float32)[..., :case["channels"]]
  # A new jit traces with the patched draws (and compiles faster than eager).
  out = jax.jit(functools.partial(augment.ada_augment))(x, KEY, 1.0)
  assert np.abs(out - x).max() > 0.5
  # PyTorch's float32 and ours (its grid from normalised coordinates, ours
  # from pixels), the stored outputs rounded to 6 decimals: _ada_bound + 5e-7,
  # 2.4e-3 to 7.2e-3 here, almost all sample-position rounding (3.3e-6 seen on
  # one machine); the sym6 filter reversed is off by 0.38 to 3.2.
  atol = _ada_bound(x, KEY, 1.0).max() + 5e-7
  np.testing.assert_allclose(out, case["output"], rtol=0, atol=atol)




@pytest.mark.parametrize("channels", [1, 3])
def test_ada_p0_returns_the_images_exactly(channels):
  x = _images((8, 16, 16, channels))
  np.testing.assert_array_equal(_ADA(x, KEY, jnp.float32(0.0)), x)
  assert np.abs(_ADA(x, KEY, jnp.float32(0.5)) - x).max() > 0.1


def _geometric(x, key, p, pipeline, **ranges):
  """ada_augment's matrices: the geometric key is the first of split(key)."""
  k_geom, _ = jax.random.split(key)
  return np.asarray(augment.ada_geometric_matrices(
      k_geom, x.shape, p, pipeline=pipeline, **ranges))


def test_ada_xflip_at_p1_flips_the_examples_the_official_draw_flips():
  # Official: at p = 1 each example is flipped with probability 1/2.
  x = _smooth(8, 16, 3)
  out = np.asarray(_jit_ada("xflip")(x, KEY, 1.0))
  flipped = _geometric(x, KEY, 1.0, {"xflip": 1})[:, 0, 0] == -1
  assert 0 < flipped.sum() < 8
  # Not rounding: sym6 is not symmetric, so a flip through the resampler is off
  # by up to 0.018 on these smooth images (one machine; float32 adds < 1e-4),
  # and an example flipped the wrong way by 0.9.
  for b in range(8):
    if flipped[b]:
      np.testing.assert_allclose(out[b], x[b, :, ::-1], atol=0.05)
      assert np.abs(out[b] - x[b]).max() > 0.2
    else:
      np.testing.assert_array_equal(out[b], x[b])


def test_ada_rotate90_at_p1_gives_quarter_turns():
  x = _smooth(8, 16, 3)
  out = np.asarray(_jit_ada("rotate90")(x, KEY, 1.0))
  g = _geometric(x, KEY, 1.0, {"rotate90": 1})
  turns = np.round(np.arctan2(g[:, 1, 0], g[:, 0, 0]) / (np.pi / 2)) % 4
  assert len(set(turns)) >= 3
  for b in range(8):
    # As for the flips: 0.023 at most for the drawn turn, > 0.89 for others.
    errors = [np.abs(out[b] - np.rot90(x[b], k)).max() for k in range(4)]
    assert errors[int(turns[b])] < 0.05, errors
    assert sorted(errors)[1] > 0.5


def test_ada_integer_translation_is_exact_with_reflection_fill():
  x = np.asarray(_images((8, 16, 16, 3)))
  out = np.asarray(_jit_ada("xint")(x, KEY, 1.0))
  g = _geometric(x, KEY, 1.0, {"xint": 1})
  tx, ty = -g[:, 0, 2], -g[:, 1, 2]   # content moves by (tx, ty)
  assert np.all(tx == np.round(tx)) and np.all(ty == np.round(ty))
  assert np.abs(np.stack([tx, ty])).max() <= 2          # 0.125 * 16
  assert np.abs(tx).sum() > 0 and np.abs(ty).sum() > 0
  padded = np.pad(x, ((0, 0), (15, 15), (15, 15), (0, 0)), mode="reflect")
  # Exact in exact arithmetic (sym6 is orthogonal: downsampling undoes
  # upsampling; the samples fall on pixels, weights 1 and 0). In float32: the
  # four matrices' entries (U each) and their sums, <= 6 + 6 taps up and 12 +
  # 12 down, on terms whose absolute sum is <= their absolute row sums
  # (squared, two axes) times max |x|: gamma(40) of that, 8.8e-6 (1.8e-7 seen
  # on one machine); a shift by one pixel moves pixels by O(1).
  up, down = augment._upsample_matrix(16), augment._downsample_matrix(44)
  gain = np.abs(up).sum(1).max() ** 2 * np.abs(down).sum(1).max() ** 2
  atol = float32.gamma(2 * 6 + 2 * 12 + 4) * gain * np.abs(x).max()
  for b in range(8):
    r, c = 15 - int(ty[b]), 15 - int(tx[b])
    np.testing.assert_allclose(out[b], padded[b, r:r + 16, c:c + 16], rtol=0,
                               atol=atol)


def test_ada_brightness_alone_adds_the_drawn_constant():
  for channels in (1, 3):
    x = _images((8, 16, 16, channels))
    out = _jit_ada("brightness")(x, KEY, 1.0)
    _, k_color = jax.random.split(KEY)
    c = np.asarray(augment.ada_color_matrices(k_color, x.shape, 1.0,
                                              pipeline={"brightness": 1}))
    b = c[:, 0, 3]
    expected = np.tile(np.eye(4, dtype=np.float32), (8, 1, 1))
    expected[:, :3, 3] = b[:, None]
    np.testing.assert_array_equal(c, expected)
    # Sampling: the std of 8 draws of N(0, 0.2^2) (0.19 here) is below 0.05
    # or above 0.5 with probability < 4e-4.
    assert np.all(b != 0) and 0.05 < b.std() < 0.5   # N(0, 0.2^2)
    # 3 channels: 1 x + 0 + 0 + b, the same rounded sum as NumPy's. 1 channel:
    # x (1/3 + 1/3 + 1/3) + mean(b, b, b), <= 6 roundings of terms <= 1 + |b|:
    # 6U (1 + 0.6) = 5.7e-7 (6e-8 seen on one machine); b has std 0.19.
    np.testing.assert_allclose(out, x + b[:, None, None, None], atol=1e-6)


def test_ada_color_matrices_follow_the_luma_axis():
  # Hue and saturation fix gray pixels (rotation and scaling about the luma
  # axis); a luma flip negates them; none of it applies to one channel.
  gray = np.repeat(_images((8, 16, 16, 1)), 3, axis=3)
  hue_saturation = _jit_ada("hue", "saturation")
  out = hue_saturation(gray, KEY, 1.0)
  rgb = _images((8, 16, 16, 3))
  assert np.abs(hue_saturation(rgb, KEY, 1.0) - rgb).max() > 0.1
  # Exactly, C's rows sum to 1 along the luma axis. In float32 its entries (a
  # rotation about the axis: sines and cosines within 2 ulp, products with a
  # rounded 1/sqrt(3), <= 8 roundings; the saturation's exp2 and 3 roundings;
  # their 4x4 product, gamma(4)) are within 24U of their absolute chain, <=
  # sqrt(3) |C| (a rotation's absolute row sums), and the 3-term products add
  # gamma(4): <= 32 sqrt(3) U sum_j |C_ij| |g| = 3.6e-5 (1.2e-6 seen on one
  # machine). Hue and saturation move colours by > 0.1 (above).
  _, k_color = jax.random.split(KEY)
  c = np.asarray(augment.ada_color_matrices(
      k_color, gray.shape, 1.0, pipeline={"hue": 1, "saturation": 1}))
  atol = 32 * np.sqrt(3) * float32.U * np.abs(c[:, :3]).sum(2).max() * np.abs(gray).max()
  np.testing.assert_allclose(out, gray, rtol=0, atol=atol)
  one = _images((8, 16, 16, 1))
  np.testing.assert_array_equal(
      hue_saturation(one, KEY, 1.0),
      one)
  flipped = np.asarray(_jit_ada("lumaflip")(one, KEY, 1.0))
  signs = [1 if np.array_equal(f, o) else -1 for f, o in zip(flipped, one)]
  # One channel: x times the sum of the mean row of I - 2 v v^T (a rounded
  # 1/sqrt(3), its outer product, 2 more roundings, the mean of 3 rows, the
  # sum of 3 entries) plus the product: <= 12 roundings of terms whose
  # absolute sum is <= 5/3 |x| (1.2e-6; 6e-8 seen on one machine).
  atol = 12 * float32.U * 5 / 3 * np.abs(one).max()
  np.testing.assert_allclose(flipped, np.asarray(one) * np.reshape(
      signs, (8, 1, 1, 1)), rtol=0, atol=atol)
  assert 1 in signs and -1 in signs


def test_ada_transforms_are_drawn_with_the_official_probabilities():
  shape, p = (4000, 16, 16, 3), 0.5
  eye = np.eye(3)

  def changed(pipeline):
    # Unchosen transforms give the identity exactly; a chosen one moves an
    # entry by < 1e-6 only for a draw within ~1e-5 standard deviations of 0.
    g = np.asarray(augment.ada_geometric_matrices(KEY, shape, p,
                                                  pipeline=pipeline))
    return np.mean(np.any(np.abs(g - eye) > 1e-6, axis=(1, 2)))

  # Sampling: a fraction of 4,000 draws has standard error <= 0.0079, so 0.03
  # is 3.8 of them (one machine: within 0.013).
  assert abs(changed({"xflip": 1}) - p / 2) < 0.03       # i ~ {0, 1}
  assert abs(changed({"rotate90": 1}) - 3 * p / 4) < 0.03
  assert abs(changed({"rotate": 1}) - p) < 0.03           # pre OR post
  assert abs(changed({"scale": 1}) - p) < 0.03
  g = np.asarray(augment.ada_geometric_matrices(KEY, shape, 1.0,
                                                pipeline={"aniso": 1}))
  # 2^a times 2^-a: two exp2 within 2 ulp, the matrix products and NumPy's,
  # <= 7U = 4.2e-7; rtol=1e-5 also absorbs exp2 up to 80 ulp, and a missing
  # inverse (2^2a, |2a| ~ 0.4) is off by 30%.
  np.testing.assert_allclose(g[:, 0, 0] * g[:, 1, 1], 1, rtol=1e-5)
  # Sampling: the std of 4,000 normal draws has standard error 0.2 /
  # sqrt(8000) = 0.0022 (and 0.0014 for 0.125 below): 0.02 and 0.01 are 9
  # and 7 of them.
  assert abs(np.log2(g[:, 0, 0]).std() - 0.2) < 0.02      # aniso_std
  g = np.asarray(augment.ada_geometric_matrices(KEY, shape, 1.0,
                                                pipeline={"xfrac": 1}))
  assert abs((g[:, 0, 2] / 16).std() - 0.125) < 0.01      # xfrac_std


def test_ada_update_matches_the_official_rule_and_clips():
  step = 64 * 4 / (500 * 1000)
  update = jax.jit(augment.ada_update, static_argnames=("batch_size",))
  # float32 p = 0.3 (within U), the step (rounded once) and their sum (once
  # more): within 2U of the exact sum, relative (a step is 1.7e-3 of it).
  np.testing.assert_allclose(update(0.3, 7.0, 10.0, batch_size=64), 0.3 + step,
                             rtol=2 * float32.U)
  np.testing.assert_allclose(update(0.3, -2.0, 10.0, batch_size=64), 0.3 - step,
                             rtol=2 * float32.U)
  # No step: float32(0.3), within U of 0.3 (approx's default rel=1e-6).
  assert float(update(0.3, 6.0, 10.0, batch_size=64)) == pytest.approx(0.3)
  assert float(update(0.0001, 0.0, 8.0, batch_size=64)) == 0.0
  assert float(update(0.9999, 8.0, 8.0, batch_size=64)) == 1.0
  assert float(augment.ada_update(0.9999, 8.0, 8.0, batch_size=64,
                                  max_p=None)) > 1.0
  assert float(update(0.3, 0.0, 0.0, batch_size=64)) == pytest.approx(0.3)
  np.testing.assert_allclose(
      augment.ada_update(0.5, 1.0, 2.0, batch_size=32, interval=8, kimg=100,
                         target=0.4), 0.5 + 32 * 8 / 100_000, rtol=2 * float32.U)
  total, count = augment.ada_sign_stats(jnp.array([[2.0], [-1.0], [0.5]]))
  assert float(total) == 1.0 and float(count) == 3.0


def test_ada_is_differentiable_jittable_vmappable():
  x = _images((8, 16, 16, 3))
  # Tolerance not derived from a bound (rtol=1e-4, atol=1e-3: 4.2e-3 of 32;
  # 2.7e-5 seen on one machine). The gradient program computes the sample
  # positions apart from the forward one, and _ada_bound's 1e-2 a pixel
  # summed over 6,144 pixels exceeds the sum itself: no worst-case bound
  # separates this check from a wrong gradient. Rounding errors of random
  # sign add up as sqrt(6144) x (~1e-6 a pixel) ~ 1e-4 instead, 40 times
  # below the tolerance.
  _check_affine_gradient(lambda x: _ADA(x, KEY, jnp.float32(1.0)), x)
  keys = jax.random.split(KEY, 2)
  out = jax.jit(jax.vmap(augment.ada_augment, in_axes=(None, 0, 0)))(
      x, keys, jnp.array([0.0, 1.0]))
  np.testing.assert_array_equal(out[0], x)
  # Batched or not, two float32 evaluations: _ada_bound, 1.5e-2 here (mostly
  # sample positions; equal on one machine); another key or p is O(1) off.
  np.testing.assert_allclose(out[1], _ADA(x, keys[1], jnp.float32(1.0)),
                             rtol=0, atol=_ada_bound(x, keys[1], 1.0).max())


@pytest.mark.parametrize("channels, dtype", [(3, jnp.float32),
                                             (1, jnp.bfloat16)])
def test_ada_keeps_shape_and_dtype(channels, dtype):
  x = _images((8, 16, 16, channels)).astype(dtype)
  out = _ADA(x, KEY, jnp.float32(1.0))
  assert out.shape == x.shape and out.dtype == dtype
  assert np.all(np.isfinite(out.astype(jnp.float32)))
  assert np.abs((out - x).astype(jnp.float32)).max() > 0.1
  assert augment.diffaugment(x, KEY).dtype == dtype


def test_ada_unknown_names_list_the_valid_ones():
  x = _images((8, 16, 16, 3))
  with pytest.raises(ValueError, match="'bgcx'.*valid names: bg, bgc, blit"):
    augment.ada_augment(x, KEY, 0.5, pipeline="bgcx")
  with pytest.raises(ValueError, match="'flip'.*valid names: aniso"):
    augment.ada_augment(x, KEY, 0.5, pipeline={"flip": 1})
  with pytest.raises(ValueError, match="'scale_max'.*valid names:.*scale_std"):
    augment.ada_augment(x, KEY, 0.5, scale_max=2.0)
  with pytest.raises(ValueError, match="3 channels.*got 2"):
    augment.ada_augment(_images((2, 8, 8, 2)), KEY, 0.5)


def test_registry_specs_call_their_functions():
  assert augment.names() == ["ada", "diffaugment"]
  x = _images((8, 16, 16, 3))
  spec = augment.get("diffaugment")
  assert spec.fn is augment.diffaugment and not spec.adaptive
  np.testing.assert_array_equal(spec.fn(x, KEY, **spec.options),
                                augment.diffaugment(x, KEY))
  spec = augment.get("ada")
  assert spec.fn is augment.ada_augment and spec.adaptive
  assert spec.initial_p == 0.0 and spec.options["pipeline"] == "bgc"
  assert dict(spec.options) == {"pipeline": "bgc", **augment.ADA_RANGES}
  inspect.signature(spec.fn).bind(x, KEY, 0.5, **spec.options)
  ada = jax.jit(functools.partial(spec.fn, **spec.options))
  # The spec's options are ada_augment's defaults: the same program traced
  # twice, equal on any machine (bitwise on one); the tolerance is slack.
  np.testing.assert_allclose(ada(x, KEY, 0.7), _ADA(x, KEY, jnp.float32(0.7)),
                             rtol=1e-5,
                             atol=1e-4)
  p = spec.update(0.0, 2.0, 2.0, batch_size=8, **spec.update_options)
  # The step rounded once to float32 (<= U = 6e-8 relative, under the default
  # rtol=1e-7), then added to 0 exactly.
  np.testing.assert_allclose(p, 8 * 4 / 500_000)
  with pytest.raises(ValueError, match="valid names: ada, diffaugment"):
    augment.get("cutmix")
