"""StyleGAN2 (jaxgan/models/stylegan2.py, configs/stylegan2.py, the
'path_length' term, truncation in w): components against their formulas,
parameter counts against the reference code's, training.

The reference is NVlabs/stylegan2-ada-pytorch (training/networks.py);
tests/golden/stylegan2_reference.npz holds a tiny G and D of that code with
random weights and their outputs (made by scripts/stylegan2_golden.py), and
the port must compute the same functions with those weights.
"""

import functools
import json
import math
import os

import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import checkpoint, generation, models
from jaxgan.models import stylegan2 as sg2
from jaxgan.train import objective, setup, trainer
from jaxgan.train import step as step_lib

import conftest  # 8 CPU devices; configs on sys.path
from configs import stylegan2 as stylegan2_config

KEY = jax.random.PRNGKey(0)
GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "stylegan2_reference.npz")
# sum(p.numel() for p in module.parameters()) of networks.py's Generator and
# Discriminator (torch 2.13, CPU), built as train.py builds them: 'cifar'
# (32 px, 3 channels, z = w = 512, 2 mapping layers, channel_base 32768,
# D 'orig', mbstd group 32; conditional: c_dim 10) and 'auto' at 64 px
# (channel_base 16384, 2 mapping layers, D 'resnet'). w_avg and the noise
# maps are buffers in torch and 'batch_stats' / computed here.
REFERENCE_COUNTS = {
    "cifar10": ({}, {"G": 19_947_539, "D": 20_720_641}),
    "cifar10_conditional": ({"num_classes": 10}, {"G": 20_215_315, "D": 23_089_664}),
    "64": ({}, {"G": 22_243_608, "D": 23_407_361}),
}


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def _rng(seed=0):
  return np.random.default_rng(seed)


def _np_correlate(x, w, pad):
  """Reference 2-D correlation, NHWC x (N, H, W, I), w (k, k, I, O), zero
  padding `pad` on each side, stride 1, in float64."""
  x = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  k = w.shape[0]
  h, wd = x.shape[1] - k + 1, x.shape[2] - k + 1
  out = np.zeros((x.shape[0], h, wd, w.shape[3]))
  for i in range(k):
    for j in range(k):
      out += np.einsum("nhwi,io->nhwo", x[:, i:i + h, j:j + wd], w[i, j])
  return out


def _np_fir(x, f, pads, gain=1.0):
  """Each channel of x (N, H, W, C) convolved with the 2-D filter f (true
  convolution: f flipped), after zero padding pads = (before, after) per
  spatial axis (negative: crop)."""
  (b, a) = pads
  if b < 0:
    x = x[:, -b:, -b:]
    b = 0
  if a < 0:
    x = x[:, :a, :a]
    a = 0
  x = np.pad(x.astype(np.float64), ((0, 0), (b, a), (b, a), (0, 0)))
  fh = f.shape[0]
  ff = f[::-1, ::-1] * gain
  h, w = x.shape[1] - fh + 1, x.shape[2] - fh + 1
  out = np.zeros((x.shape[0], h, w, x.shape[3]))
  for i in range(fh):
    for j in range(fh):
      out += ff[i, j] * x[:, i:i + h, j:j + w]
  return out


def _zero_insert(x):
  """2x upsampling by inserting a zero after each pixel (upfirdn2d's 'up')."""
  n, h, w, c = x.shape
  out = np.zeros((n, 2 * h, 2 * w, c))
  out[:, ::2, ::2] = x
  return out


# -- Resampling --------------------------------------------------------------------

def test_filter_is_the_normalised_outer_product():
  f = sg2.setup_filter()
  # Exact: the taps k / 64 (k = 1, 3, 9) are float32 numbers, the default rtol moot.
  np.testing.assert_allclose(f, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)


def test_upsample2d_against_a_direct_implementation():
  """upsample2d: zeros inserted, padding (2, 1), the filter times 4."""
  x = _rng().normal(size=(2, 5, 5, 3)).astype(np.float32)
  got = np.asarray(sg2.upsample2d(jnp.asarray(x), sg2.setup_filter()))
  want = _np_fir(_zero_insert(x), sg2.setup_filter(), (2, 1), gain=4.0)
  assert got.shape == (2, 10, 10, 3)
  # Sums of the 4x4 filter's 16 taps (as two 1-D passes of 4 here); the filter
  # is >= 0, so the filtered |x| is each output's sum of absolute terms.
  magnitude = _np_fir(np.abs(_zero_insert(x)), sg2.setup_filter(), (2, 1),
                      gain=4.0).max()
  np.testing.assert_allclose(got, want, rtol=0, atol=float32.sum_bound(16, magnitude))
  # A constant image stays constant away from the border (gain 4 restores the
  # mean): 16 taps of absolute sum 1.
  const = np.asarray(sg2.upsample2d(jnp.ones((1, 6, 6, 1)), sg2.setup_filter()))
  np.testing.assert_allclose(const[0, 2:-2, 2:-2, 0], 1.0, rtol=float32.sum_bound(16))


def test_downsample2d_against_a_direct_implementation():
  x = _rng(1).normal(size=(2, 8, 8, 2)).astype(np.float32)
  got = np.asarray(sg2.downsample2d(jnp.asarray(x), sg2.setup_filter()))
  want = _np_fir(x, sg2.setup_filter(), (1, 1))[:, ::2, ::2]
  assert got.shape == (2, 4, 4, 2)
  magnitude = _np_fir(np.abs(x), sg2.setup_filter(), (1, 1)).max()  # 16 taps >= 0
  np.testing.assert_allclose(got, want, rtol=0, atol=float32.sum_bound(16, magnitude))


def test_upsampling_conv_is_a_transposed_conv_then_the_filter():
  """conv2d_resample(up=2), 3x3: the stride-2 transposed conv (each input
  pixel scatters w into a 2H + 1 grid), then the filter with padding 1,
  gain 4 (conv2d_resample.py's paddings)."""
  x = _rng(2).normal(size=(1, 4, 4, 3)).astype(np.float32)
  w = _rng(3).normal(size=(3, 3, 3, 5)).astype(np.float32)
  got = np.asarray(sg2.conv2d_resample(jnp.asarray(x), jnp.asarray(w), sg2.setup_filter(),
                                       up=2, padding=1))
  full = np.zeros((1, 9, 9, 5))
  for i in range(4):
    for j in range(4):
      full[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += np.einsum("c,klco->klo", x[0, i, j], w)
  want = _np_fir(full, sg2.setup_filter(), (1, 1), gain=4.0)
  assert got.shape == (1, 8, 8, 5)
  # Two layers: the transposed conv (at most 3 x 3 x 3 = 27 products), then the
  # 16-tap filter; the same computation on |x| and |w| bounds their absolute sums.
  full_abs = np.zeros((1, 9, 9, 5))
  for i in range(4):
    for j in range(4):
      full_abs[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += np.einsum(
          "c,klco->klo", np.abs(x[0, i, j]), np.abs(w))
  magnitude = _np_fir(full_abs, sg2.setup_filter(), (1, 1), gain=4.0).max()
  np.testing.assert_allclose(got, want, rtol=0,
                             atol=float32.network_bound(2, 27, magnitude))


def test_downsampling_convs_filter_then_stride():
  x = _rng(4).normal(size=(1, 8, 8, 3)).astype(np.float32)
  f = sg2.setup_filter()
  w3 = _rng(5).normal(size=(3, 3, 3, 4)).astype(np.float32)
  got = np.asarray(sg2.conv2d_resample(jnp.asarray(x), jnp.asarray(w3), f, down=2, padding=1))
  want = _np_correlate(_np_fir(x, f, (2, 2)), w3, 0)[:, ::2, ::2]
  # Two layers: the 16-tap filter, then the 3 x 3 x 3 = 27-term conv (1 x 1: 3
  # terms); the same computation on |x| and |w| gives their absolute sums.
  magnitude = _np_correlate(_np_fir(np.abs(x), f, (2, 2)), np.abs(w3), 0).max()
  np.testing.assert_allclose(got, want, rtol=0,
                             atol=float32.network_bound(2, 27, magnitude))
  w1 = _rng(6).normal(size=(1, 1, 3, 4)).astype(np.float32)
  got = np.asarray(sg2.conv2d_resample(jnp.asarray(x), jnp.asarray(w1), f, down=2))
  want = _np_correlate(_np_fir(x, f, (1, 1))[:, ::2, ::2], w1, 0)
  magnitude = _np_correlate(_np_fir(np.abs(x), f, (1, 1))[:, ::2, ::2], np.abs(w1),
                            0).max()
  np.testing.assert_allclose(got, want, rtol=0,
                             atol=float32.network_bound(2, 16, magnitude))


# -- Modulation --------------------------------------------------------------------

def test_modulated_conv_is_a_conv_with_modulated_demodulated_weights():
  """x * s, conv, * dcoefs equals, per example, the convolution with
  w'_kkio = s_i w_kkio / sqrt(sum_kki (s_i w_kkio)^2 + 1e-8) (the paper's
  Eq. 1 and 3), built explicitly in numpy."""
  x = _rng(7).normal(size=(3, 6, 6, 4)).astype(np.float32)
  w = _rng(8).normal(size=(3, 3, 4, 5)).astype(np.float32)
  s = _rng(9).normal(size=(3, 4)).astype(np.float32) + 1.0
  y, d = sg2.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), padding=1)
  got = np.asarray(y * d[:, None, None, :])
  for n in range(3):
    wn = w.astype(np.float64) * s[n][None, None, :, None]
    wn = wn / np.sqrt(np.sum(wn**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
    # Two layers' worth: the 3 x 3 x 4 = 36-term conv, and the demodulation's
    # sum of 36 squares and rsqrt (relative error gamma(36) / 2 plus an ulp or
    # two) on the result; magnitude: the conv of |x| with |w'|.
    magnitude = _np_correlate(np.abs(x[n:n + 1]), np.abs(wn), 1).max()
    np.testing.assert_allclose(got[n], _np_correlate(x[n:n + 1], wn, 1)[0], rtol=0,
                               atol=float32.network_bound(2, 36, magnitude))


def test_demodulation_gives_unit_output_variance():
  """For i.i.d. unit-variance inputs, each output of a demodulated conv has
  variance sum w'^2 = 1, whatever the weights and styles (interior pixels:
  no padding). 2 x 30 x 30 x 16 outputs per channel: the sample variance
  is within 5 standard errors (sqrt(2 / n) each) of 1."""
  x = jax.random.normal(KEY, (2, 32, 32, 8))
  w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 8, 16)) * 3.0
  s = jnp.exp(jax.random.normal(jax.random.PRNGKey(2), (2, 8)))
  y, d = sg2.modulated_conv2d(x, w, s, padding=1)
  out = np.asarray(y * d[:, None, None, :])[:, 1:-1, 1:-1]
  var = out.reshape(-1, 16).var(axis=0)
  n = out.size // 16
  # Sampling error, not rounding (float32's, ~1e-6, is negligible): the
  # standard error of a sample variance of n i.i.d. unit-variance normals is
  # sqrt(2 / n) = 0.033 here. Outputs within 2 pixels share inputs (25
  # neighbours), which can inflate it up to 5x; 15 i.i.d. standard errors are
  # 3 of those (the data are fixed, so the check passes or fails on every CPU
  # alike; it sees 0.08). A demodulation bug moves the variance by orders of
  # magnitude (below: ~4000 without it).
  assert np.all(np.abs(var - 1) < 5 * 3 * math.sqrt(2 / n)), var
  # Without demodulation the scale follows the weights: 72 terms of variance
  # 9 s^2 (|w| ~ 3, E[s^2] = e^2), ~4800; 10 separates that from 1.
  assert np.asarray(y).var() > 10


# -- Equalized learning rate ---------------------------------------------------------

def test_equalized_learning_rate_scales_at_run_time():
  """y = x W (lr / sqrt(in)) + b lr, with W stored as drawn, N(0, 1) / lr;
  the gradient reaching the stored W is scaled the same way."""
  layer = sg2.FullyConnectedLayer(3, lr_multiplier=0.01, bias_init=1.0)
  x = jax.random.normal(KEY, (4, 16))
  params = layer.init(KEY, x)["params"]
  w, b = np.asarray(params["kernel"]), np.asarray(params["bias"])
  # N(0, 1) / 0.01: the std of 48 draws is 100 within ~10 (its standard error,
  # 100 / sqrt(96)); a missing or doubled 1 / lr gives 1 or 1e4.
  assert 50 < w.std() < 200
  np.testing.assert_allclose(b, 1.0)  # exact: the constant initialiser
  y = np.asarray(layer.apply({"params": params}, x))
  # 16 products, plus the weight scaling and the bias add (2 more roundings).
  magnitude = (np.abs(np.asarray(x)) @ np.abs(w) * (0.01 / 4) + 0.01 * np.abs(b)).max()
  np.testing.assert_allclose(y, np.asarray(x) @ w * (0.01 / 4) + 0.01 * b, rtol=0,
                             atol=float32.sum_bound(16 + 2, magnitude))
  grad = jax.grad(lambda p: jnp.sum(layer.apply({"params": p}, x)))(params)
  # A sum over the batch of 4, and the scaling.
  magnitude = np.abs(np.asarray(x)).sum(0).max() * 0.01 / 4
  np.testing.assert_allclose(grad["kernel"], np.tile(np.asarray(x).sum(0)[:, None] * 0.01 / 4,
                                                     (1, 3)),
                             rtol=0, atol=float32.sum_bound(4 + 1, magnitude))
  conv = sg2.Conv2dLayer(2, 3, activation="lrelu")
  xi = jax.random.normal(KEY, (1, 5, 5, 4))
  cparams = conv.init(KEY, xi)["params"]
  got = np.asarray(conv.apply({"params": cparams}, xi))
  lin = _np_correlate(np.asarray(xi), np.asarray(cparams["kernel"]) / math.sqrt(36), 1)
  want = np.where(lin >= 0, lin, 0.2 * lin) * math.sqrt(2)
  # 3 x 3 x 4 = 36 products, plus the weight scaling, the slope and the gain
  # (lrelu is Lipschitz-1: the gain carries the conv's error).
  abs_kernel = np.abs(np.asarray(cparams["kernel"])) / 6
  magnitude = math.sqrt(2) * _np_correlate(np.abs(np.asarray(xi)), abs_kernel, 1).max()
  np.testing.assert_allclose(got, want, rtol=0,
                             atol=float32.sum_bound(36 + 3, magnitude))


# -- Minibatch standard deviation ----------------------------------------------------

def test_minibatch_stddev_per_group():
  x = _rng(10).normal(size=(8, 3, 3, 6)).astype(np.float32)
  got = np.asarray(sg2.minibatch_stddev(jnp.asarray(x), group_size=4, num_channels=2))
  assert got.shape == (8, 3, 3, 8)
  np.testing.assert_array_equal(got[..., :6], x)
  for g in range(2):
    group = x[4 * g:4 * g + 4].astype(np.float64)
    for f in range(2):
      std = np.sqrt(group[..., 3 * f:3 * f + 3].var(axis=0) + 1e-8).mean()
      # Relative: variances of 4 values (a mean, 4 differences squared, a
      # mean: gamma(6) of the variance; the error of the mean enters only
      # squared), their square roots (half that, plus U), and a mean of 3 x 3
      # x 3 = 27 positive values (gamma(27)): float32.sum_bound(33) = 4e-6.
      np.testing.assert_allclose(got[4 * g:4 * g + 4, :, :, 6 + f], std,
                                 rtol=float32.sum_bound(27 + 6))
  with pytest.raises(ValueError, match="divide into groups"):
    sg2.minibatch_stddev(jnp.asarray(x[:6]), group_size=4)


# -- The generator ------------------------------------------------------------------

def _tiny_model(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="stylegan2", image_size=8, channels=1, latent_dim=6, w_dim=4, mapping_layers=2,
      channel_base=32, channel_max=4, mbstd_group=2, d_mapping_layers=2))
  config.update(overrides)
  return config


def _tiny_generator(**overrides):
  g, _ = models.create(_tiny_model(**overrides))
  z = jax.random.normal(KEY, (4, 6))
  variables = jax.jit(functools.partial(g.init, train=False))(KEY, z)  # (one compile)
  # Nonzero noise strengths and w_avg, so that they are seen.
  variables = jax.tree_util.tree_map_with_path(
      lambda p, v: v + 0.3 if "noise_strength" in str(p) else v, variables)
  variables["batch_stats"]["w_avg"] = jax.random.normal(jax.random.PRNGKey(5), (4,))
  return g, variables, z


def test_num_ws_and_shapes():
  assert sg2.num_ws(32) == 8 and sg2.num_ws(256) == 14
  g, variables, z = _tiny_generator()
  ws = g.apply(variables, z, train=False, method="styles")
  assert ws.shape == (4, sg2.num_ws(8), 4)
  assert g.apply(variables, ws, train=False, method="synthesize").shape == (4, 8, 8, 1)


def test_truncation_psi_zero_gives_w_avg_and_one_is_the_identity():
  g, variables, z = _tiny_generator()
  plain = g.apply(variables, z, train=False)
  np.testing.assert_array_equal(g.apply(variables, z, train=False, truncation=1.0), plain)
  zero = g.apply(variables, z, train=False, truncation=0.0)
  w_avg = jnp.broadcast_to(variables["batch_stats"]["w_avg"], (4, sg2.num_ws(8), 4))
  # w_avg + 0 (w - w_avg) is w_avg to the bit, and both run the same eager ops
  # on it: equal on any CPU (0 here); 1e-6 is far below the O(1) differences
  # of a wrong psi (the next check: ~10 between psi 0 and 1).
  np.testing.assert_allclose(zero, g.apply(variables, w_avg, train=False, method="synthesize"),
                             atol=1e-6)
  assert np.abs(np.asarray(zero) - np.asarray(plain)).max() > 1e-3


def test_training_pass_moves_w_avg_mixes_styles_and_draws_noise():
  g, variables, z = _tiny_generator(style_mixing=1.0)
  rngs = {"dropout": jax.random.PRNGKey(3)}
  ws, updates = g.apply(variables, z, train=True, method="styles", rngs=rngs,
                        mutable=["batch_stats"])
  w = g.apply(variables, z, train=False, method="styles")[:, 0]
  old = variables["batch_stats"]["w_avg"]
  # The pass's w is this w to the bit (the same eager mapping ops); then a mean
  # of 4 and 3 more operations on values of size <= |w| + |old| (the
  # subtraction may cancel, so absolute).
  magnitude = 2 * np.abs(w).max() + np.abs(old).max()
  np.testing.assert_allclose(updates["batch_stats"]["w_avg"],
                             w.mean(0) + 0.995 * (old - w.mean(0)),
                             rtol=0, atol=float32.sum_bound(4 + 3, magnitude))
  # Mixing with probability 1: ws[:, :c] are z's, ws[:, c:] another latent's, 1 <= c < num_ws.
  # The former are the pass's w to the bit, the latter O(1) away: np.isclose's
  # default 1e-5 relative only tells the two apart (so does np.allclose's below
  # for copies of one row).
  same = np.all(np.isclose(ws, w[:, None]), axis=(0, 2))
  cutoff = int(np.argmin(same))
  assert 1 <= cutoff < sg2.num_ws(8) and same[:cutoff].all() and not same[cutoff:].any()
  assert np.allclose(ws[:, cutoff:], ws[:, cutoff:cutoff + 1])
  # No mixing at probability 0 (ws0 is w broadcast, to the bit: 1e-6 is moot);
  # noise differs between keys (by ~10: strengths 0.3 of N(0, 1) maps), not
  # without one.
  g0, variables0, _ = _tiny_generator(style_mixing=0.0)
  ws0 = g0.apply(variables0, z, train=True, method="styles", rngs=rngs, mutable=["batch_stats"])[0]
  np.testing.assert_allclose(ws0, jnp.broadcast_to(w[:, None], ws0.shape), rtol=1e-6)
  draw = lambda key: g0.apply(variables0, ws0, train=True, method="synthesize",
                              rngs={"dropout": key})
  assert np.abs(draw(KEY) - draw(jax.random.PRNGKey(9))).max() > 1e-3
  const = g0.apply(variables0, ws0, train=True, method="synthesize")
  np.testing.assert_array_equal(const, g0.apply(variables0, ws0, train=True, method="synthesize"))


def test_path_lengths_against_finite_differences():
  """|J_w^T y| by `objective.path_lengths` equals the same norm from central
  differences of sum(G(ws) * y) in each coordinate of ws (float64)."""
  jax.config.update("jax_enable_x64", True)
  try:
    g, variables, z = _tiny_generator(style_mixing=0.0, noise=False)
    g = g.clone(dtype=jnp.float64)
    variables = jax.tree.map(lambda v: v.astype(jnp.float64), variables)
    z = z.astype(jnp.float64)
    styles = lambda z, c: g.apply(variables, z, train=False, method="styles")
    synth = lambda ws: g.apply(variables, ws, train=False, method="synthesize")
    y_key = jax.random.PRNGKey(4)
    # Jitted: run op by op, the two took 391 small compiles (10 s).
    lengths = jax.jit(jax.vmap(lambda _: objective.path_lengths(styles, synth, z, None, y_key),
                               axis_name=objective.AXIS))(jnp.zeros(1))[0]
    ws = jax.jit(styles)(z, None)
    y = jax.random.normal(y_key, (4, 8, 8, 1), jnp.float64) / 8.0
    eps = 1e-5
    grads = np.zeros(ws.shape)
    f = jax.jit(lambda ws: jnp.sum(synth(ws) * y, axis=(1, 2, 3)))
    for idx in np.ndindex(ws.shape[1:]):
      e = jnp.zeros(ws.shape[1:], jnp.float64).at[idx].set(eps)
      grads[(slice(None),) + idx] = (f(ws + e) - f(ws - e)) / (2 * eps)
    want = np.sqrt(np.mean(np.sum(grads**2, axis=2), axis=1))
    # ws is float32 (the mapping computes in float32), so the affine layers ws
    # -> styles, and their transposes in the VJP, run in float32: 4-term dot
    # products plus the scaling, the bias and the cast, relative
    # float32.sum_bound(4 + 3) = 9.5e-7 (7e-8 here). The rest is float64: the
    # central differences err by eps^2 f''' / 6 ~ 1e-10 and 2^-53 |f| / eps ~
    # 1e-11, relative; a wrong Jacobian or norm is off by O(1).
    np.testing.assert_allclose(lengths, want, rtol=float32.sum_bound(4 + 3))
  finally:
    jax.config.update("jax_enable_x64", False)


# -- Parameter counts and checks ---------------------------------------------------------

@pytest.mark.parametrize("variant", sorted(REFERENCE_COUNTS))
def test_parameter_counts_are_the_reference_s(variant):
  overrides, counts = REFERENCE_COUNTS[variant]
  config = stylegan2_config.get_config(variant.split("_")[0]).model
  config.update(overrides)
  g, d = models.create(config)
  z = jnp.zeros((2, config.latent_dim))
  y = (jnp.zeros((2,), jnp.int32),) if config.num_classes else ()
  g_vars = jax.eval_shape(lambda k: g.init(k, z, *y, train=False), KEY)
  d_vars = jax.eval_shape(lambda k: d.init(
      k, jnp.zeros((2, config.image_size, config.image_size, 3)), *y, train=False), KEY)
  assert _count(g_vars["params"]) == counts["G"]
  assert _count(d_vars["params"]) == counts["D"]


@pytest.mark.parametrize("overrides, message", [
    (dict(image_size=24), "power of 2"),
    (dict(g_architecture="big"), "g_architecture"),
    (dict(style_mixing=1.5), "probability"),
    (dict(mbstd_channels=3), "mbstd_channels"),
])
def test_check_says_what_to_change(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.check(_tiny_model(**overrides))


def test_path_length_needs_a_style_based_generator():
  config = stylegan2_config.get_config("tiny")
  config.model = ml_collections.ConfigDict(dict(name="dcgan", image_size=32))
  with pytest.raises(ValueError, match="style-based generator"):
    objective.get("path_length").check(config)


def test_ema_ramp_is_stylegan2s():
  """training_loop.py: beta = 0.5 ** (batch / max(min(ema_nimg, cur_nimg * ramp), 1e-8))."""
  batch, ema_nimg, ramp = 64, 20_000, 0.05
  decay = 0.5 ** (batch / ema_nimg)
  for step in (0, 1, 10, 100, 1000, 10_000):
    exponent = batch / max(min(ema_nimg, step * batch * ramp), 1e-8)
    want = 0.5 ** exponent
    got = float(step_lib.ema_decay_at(jnp.int32(step), decay, ramp))
    # float32: the exponent 1 / (step ramp) takes 3 roundings (ramp, the
    # product, the quotient) and 0.5 ** x = exp(x ln 0.5) 2 more on x ln 0.5,
    # which the exponential turns into x ln 2 times that relative error, plus
    # its own few ulps (and the float32 decay's one). atol: at step 0 both
    # underflow to 0.
    rtol = float32.gamma(5) * math.log(2) * exponent + float32.gamma(4)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-30)
  # (1 + 5) / (10 + 5) in float32: one rounding (U), far inside approx's rel=1e-6.
  assert float(step_lib.ema_decay_at(jnp.int32(5), 0.999)) == pytest.approx(6 / 15)


def test_config_variants():
  for variant in stylegan2_config.VARIANTS:
    config = stylegan2_config.get_config(variant)
    models.check(config.model)
    objective.check_config(config, models.kind(config.model))
  cifar = stylegan2_config.get_config("cifar10")
  # The config's values are Python floats (float64): approx's default rel=1e-6
  # only absorbs the order of their operations (2^-53 relative each).
  assert cifar.loss.path_length_weight == 0 and cifar.model.style_mixing == 0
  assert cifar.loss.r1_weight == pytest.approx(0.005) and cifar.loss.r1_every == 16
  assert cifar.optimizer.d.learning_rate == pytest.approx(0.0025 * 16 / 17)
  assert cifar.optimizer.g.b2 == pytest.approx(0.99**0.8)
  assert 0.5 ** (64 / 500_000) == pytest.approx(cifar.train.ema_decay)
  with pytest.raises(ValueError, match="valid"):
    stylegan2_config.get_config("512")


# -- The reference code's outputs ----------------------------------------------------

# PyTorch's outputs (recorded) and ours are two float32 evaluations of the same
# networks: float32.network_bound(layers, fan-in, magnitude). The weights and
# inputs are the golden file's, fixed, so the magnitudes (sums of absolute
# terms |w| |x| of every dot product and convolution) were computed once, with
# |w| and |x|. Mapping: 4 layers (the normalisations of z and of the label
# embedding, 2 FC) of fan-in <= 10 (z's 6 and the embedding's 4) and
# magnitude <= 3.7: 1.9e-5 (3.6e-7 here; ws are ~1).
WS_ATOL = float32.network_bound(4, 10, 3.7)
# Images: 13 layers (the mapping's 4, an affine, 5 modulated 3x3 convs, the 2
# upsampling filters, a ToRGB) of fan-in <= 72 (3 x 3 x 8 maps); the filters
# of a demodulated conv have unit norm, so its absolute sums are at most
# sqrt(72) times the largest activation, 4.3: 4.1e-3 (1e-3 of the images'
# largest value, 4.2; 1.4e-6 here).
IMAGES_ATOL = float32.network_bound(13, 72, math.sqrt(72) * 4.3)
# Logits: 14 layers (fromrgb, 2 resnet blocks of 2 convs and a filter, the
# minibatch stddev, the 3x3 conv, 2 FC, the label projection) of fan-in <= 128
# (the 4 x 4 x 8 FC) and magnitude <= 6.1: 1.3e-3 (logits ~0.3; 2.4e-7 here).
LOGITS_ATOL = float32.network_bound(14, 128, 6.1)


def _golden():
  if not os.path.exists(GOLDEN):
    pytest.fail(f"{GOLDEN} is missing: run scripts/stylegan2_golden.py")
  return dict(np.load(GOLDEN))


def test_generator_and_discriminator_compute_the_reference_functions():
  """A tiny G (16 px, skip) and D (resnet, conditional) of networks.py with
  random weights (scripts/stylegan2_golden.py): loaded into the port, they
  give the reference's ws, images (const noise, truncation 0.7 toward a
  given w_avg) and logits to float32 error."""
  golden = _golden()
  from scripts import stylegan2_golden  # the weight mapping lives with the maker
  config = _tiny_model(**stylegan2_golden.MODEL)
  g, d = models.create(config)
  g_vars = stylegan2_golden.load_generator(g, golden)
  d_vars = stylegan2_golden.load_discriminator(d, golden)
  z, c = jnp.asarray(golden["z"]), jnp.asarray(golden["c"])
  ws = g.apply(g_vars, z, c, train=False, method="styles")
  np.testing.assert_allclose(ws, golden["ws"], rtol=0, atol=WS_ATOL)
  images = g.apply(g_vars, z, c, train=False, truncation=0.7)
  np.testing.assert_allclose(images, golden["images"], rtol=0, atol=IMAGES_ATOL)
  logits = d.apply(d_vars, jnp.asarray(golden["d_input"]), c, train=False)
  np.testing.assert_allclose(logits, golden["logits"], rtol=0, atol=LOGITS_ATOL)


# -- Training ----------------------------------------------------------------------

def _tiny_config():
  config = stylegan2_config.get_config("tiny")
  config.loss.update(r1_every=2, path_length_every=2, augment="ada", augment_kimg=0.1)
  config.train.update(batch_size=16, num_steps=4, steps_per_call=2, log_every=2,
                      sample_every=4, checkpoint_every=2, num_samples=16)
  return config


def test_the_config_trains_and_eight_devices_compute_what_one_device_computes(tmp_path):
  """The tiny config (R1 and path length every 2nd step, style mixing, noise,
  ADA) trains through `train_and_evaluate` on 8 devices, and its last two
  steps, resumed on 1 device from the run's step-2 checkpoint with its key
  and batches, end at the same parameters, EMA, w_avg and path-length mean
  to float32 error (sums in another order; the tolerance as the BigGAN
  test's). With plain SGD, as the BigGAN test says why."""
  config = _tiny_config()
  config.data.on_device = False  # host batches, to feed the 1-device step too
  for player in ("g", "d"):
    config.optimizer[player].update(name="sgd", learning_rate=0.01)
  eight = trainer.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  assert records[-1]["step"] == 4
  # Lazy terms: computed at steps 0 and 2 of each call of 2 (every 2nd update).
  for metric in ("path_length_penalty", "path_length_mean", "r1_penalty"):
    assert all(np.isfinite(r[metric]) and r[metric] > 0 for r in records), metric
  assert eight.terms["path_length"]["mean"] > 0
  assert np.abs(eight.generator.batch_stats["w_avg"]).max() > 0

  dataset, _ = setup.load_dataset(config)
  initial = setup.build(config, dataset.images.shape[1:])[0]
  _, at_two, _ = checkpoint.Checkpointer(str(tmp_path / "checkpoints")).restore(initial,
                                                                                 step=2)
  one = conftest.steps_on_one_device(config, dataset, at_two, 2, 2)
  pairs = [(one.generator.params, eight.generator.params),
           (one.discriminator.params, eight.discriminator.params),
           (one.generator.batch_stats, eight.generator.batch_stats),
           (one.terms, eight.terms), (one.ema_params, eight.ema_params)]
  # The runs differ in how the batch sums are split (8 devices of 2 examples
  # and a mean over devices, against 16) and in XLA's blocking for each batch
  # size: in the rounding of the updates lr g, sums over up to 16 x 8 x 8 =
  # 1,024 positions (kernel and bias gradients) of backpropagated terms.
  # gamma(1024) = 6e-5 per sum, worst case, times ~10 layers would be 1e-3 of
  # the terms' absolute sums; rounding errors of different orders are
  # independent, and Higham and Mary's probabilistic bound (SIAM J. Sci.
  # Comput. 41, 2019), lambda sqrt(n) U, is float32.gamma(10 * 32) = 1.9e-5 per
  # sum at lambda = 10 (exceeded with probability < 1e-17). The updates here
  # are at most each leaf's largest value, so 1e-4 of that covers 5 such sums
  # (4e-6 here, on w_avg); a device reduction missing or doubled is O(1).
  for a, b in pairs:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
      np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-4 * (np.abs(x).max() + 1e-12))

  # The trained generator, loaded as `jaxgan generate` loads it: truncation
  # psi = 0 draws w_avg's image for every latent, psi = 1 leaves them be.
  G = generation.load_generator(str(tmp_path))
  assert G.step == 4
  plain = G.sample(KEY, 8)
  np.testing.assert_array_equal(G.sample(KEY, 8, truncation=1.0), plain)
  at_zero = G.sample(KEY, 8, truncation=0.0)
  # Every row is w_avg's image (w_avg + 0 (w - w_avg) is w_avg to the bit) at
  # another position of one batch, which kernels may round differently (vector
  # lanes, remainder loops): 6 synthesis layers (an affine, 3 modulated convs,
  # a filter, a ToRGB) of fan-in <= 144 (3 x 3 x 16), unit-norm filters and
  # activations <= 6.2 (absolute sums <= 12 x 6.2): 7.4e-3 (0 here). psi = 1's
  # rows differ by ~3.6.
  np.testing.assert_allclose(at_zero, np.broadcast_to(at_zero[:1], at_zero.shape),
                             rtol=0, atol=float32.network_bound(6, 144, 12 * 6.2))
  assert np.abs(plain - plain[:1]).max() > 1e-4
  with pytest.raises(ValueError, match=">= 0"):
    G.truncated(-0.5)
