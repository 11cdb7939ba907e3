"""The modern recipe's training pieces: schedules, lazy regularization,
LeCam, bCR, and the augmentation of D's inputs with ADA's adaptive p."""

import json
import math

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.train import augmentation, objective, schedules, setup, trainer, validation
from jaxgan.train import step as step_lib

from conftest import one_device_env, tiny_config

AXIS = step_lib.AXIS


# -- Schedules -----------------------------------------------------------------

def test_schedule_values_follow_their_formulas():
  cos = schedules.parse_one("cosine:1@10", "x")
  lin = schedules.parse_one("linear:0", "x")
  warm = schedules.parse_one("constant+4", "x")
  # float32 against float64, values >= 1: t and pi t round (2 U of an angle
  # <= pi, carried by |sin|), cos (U), 1 + cos, the final sum: <= 8 U of the
  # value at the steps below; linear and constant take <= 3 roundings (the
  # zero at t = 1 is exact): rtol=1e-6 (16.8 U).
  for step in (0, 3, 5, 10, 20):
    t = min(step / 10, 1.0)
    np.testing.assert_allclose(cos.value(5.0, step, 0), 1 + 4 * 0.5 * (1 + math.cos(math.pi * t)),
                               rtol=1e-6)
    np.testing.assert_allclose(lin.value(2.0, step, 10), 2.0 * (1 - t), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(warm.value(3.0, step, 10), 3.0 * min(step / 4, 1.0), rtol=1e-6)
  # A traced base (a sweep member's value) works. Exact: 4 (1 - 0.5).
  np.testing.assert_allclose(jax.jit(lambda b: lin.value(b, 5, 10))(4.0), 2.0)


@pytest.mark.parametrize("spec,match", [
    ("exponential:0", "KIND one of constant, linear, cosine"),
    ("linear:fast", "not a number"), ("cosine@0", "STEPS must be >= 1")])
def test_bad_schedule_says_how_to_write_one(spec, match):
  with pytest.raises(ValueError, match=match):
    schedules.parse_one(spec, "config.optimizer.g.learning_rate")


def test_optimizer_hyperparameters_follow_their_schedules():
  config = tiny_config()
  config.optimizer.d.schedules = "learning_rate=linear:0@10, b2=linear:0.9@10"
  config.train.n_critic = 2
  _, d_tx = setup.make_optimizers(config)
  params = {"w": jnp.ones(3)}
  state = d_tx.init(params)
  for update in range(6):  # D updates; two per training step
    _, state = d_tx.update({"w": jnp.ones(3)}, state, params)
    step = update // 2  # the values this update used (inject_hyperparams keeps them)
    hyper = state.hyperparams
    # float32's 2e-4, 0.9 and 0.099 (U / 2 each), t, 1 - t, a product and a
    # sum: < 4 U of the values; rtol=1e-6 (16.8 U).
    np.testing.assert_allclose(hyper["learning_rate"], 2e-4 * (1 - step / 10), rtol=1e-6)
    np.testing.assert_allclose(hyper["b2"], 0.9 + (0.999 - 0.9) * (1 - step / 10), rtol=1e-6)
  with pytest.raises(ValueError, match="KEY one of learning_rate, b1, b2"):
    config.optimizer.g.schedules = "momentum=linear:0"
    validation.check_config(config)


# -- Lazy regularization and weight schedules ----------------------------------

@pytest.fixture
def unit_term():
  """A lazy G term worth 1 (registered for one test)."""
  objective.register(objective.Term(
      "test_unit", "one", "1", g=lambda inputs, _: objective.Result(
          jnp.ones(()), {"test_unit": jnp.ones(())}), lazy=True))
  try:
    yield
  finally:
    objective.unregister("test_unit")


def test_lazy_term_is_k_times_on_every_kth_update_and_follows_its_schedule(unit_term):
  config = objective.default_config("non_saturating", test_unit_weight=2.0, test_unit_every=3,
                                    schedules="test_unit_weight=linear:0@12")
  obj = objective.Objective.from_config(config, num_steps=100)
  assert obj.every == {"test_unit": 3}

  @jax.jit
  def total(step):
    inputs = objective.GInputs(fake=None, real=None, cond=None, label=None, fake_out=None,
                               real_out=None, key=jax.random.PRNGKey(0), step=step)
    loss, metrics, _, _ = obj.add_terms("g", jnp.zeros(()), inputs, {})
    return loss, metrics["test_unit"]

  lazy = [total(jnp.int32(s)) for s in range(12)]
  for s, (loss, metric) in enumerate(lazy):
    weight = 2.0 * (1 - s / 12)
    want = 3 * weight if s % 3 == 0 else 0.0
    # t = s / 12, 1 - t, x 2 (exact), x 3, the sum: < 4 U; rtol=1e-6 (16.8 U),
    # atol for the exact zeros.
    np.testing.assert_allclose(loss, want, rtol=1e-6, atol=1e-7)
    assert float(metric) == (3.0 if s % 3 == 0 else 0.0)
  # In expectation (here: over each period of 3) the lazy term is the eager one.
  per_period = [sum(float(lazy[s][1]) for s in range(p, p + 3)) for p in (0, 3, 6, 9)]
  assert per_period == [3.0] * 4


# -- LeCam and bCR -------------------------------------------------------------

def _d_inputs(real_logits, fake_logits, **kwargs):
  out = lambda logits: objective.Outputs(jnp.asarray(logits, jnp.float32))
  base = dict(real=None, fake=None, cond=None, label=None, labeled=None,
              real_out=out(real_logits), fake_out=out(fake_logits), critic=None,
              discriminate=None, batch_stats=None, key=jax.random.PRNGKey(0),
              global_batch=len(real_logits), local_batch=len(real_logits))
  return objective.DInputs(**{**base, **kwargs})


def test_lecam_anchors_and_penalty_follow_the_official_formula():
  term = objective.get("lecam")
  config = objective.default_config(lecam_weight=0.3, lecam_decay=0.9, lecam_start=2)
  state = term.init_state()
  rng = np.random.default_rng(0)
  anchor_r = anchor_f = 0.0
  magnitude = 0.0  # the largest |anchor| or batch mean of |logits| so far
  def run(r, f, state, step):
    result = term.d(_d_inputs(r, f, state=state, step=step), config)
    return result.value, result.state

  run = jax.jit(jax.vmap(run, in_axes=(0, 0, None, None), axis_name=AXIS))
  for step in range(5):
    r, f = rng.normal(1, 1, 8), rng.normal(-1, 1, 8)
    value, new_state = jax.tree.map(lambda x: x[0], run(
        jnp.asarray(r, jnp.float32)[None], jnp.asarray(f, jnp.float32)[None], state,
        jnp.int32(step)))
    result = objective.Result(value, {}, state=new_state)
    decay = 0.0 if step < 2 else 0.9  # ema_losses.update: no averaging before start_itr
    anchor_r = decay * anchor_r + (1 - decay) * r.mean()
    anchor_f = decay * anchor_f + (1 - decay) * f.mean()
    want = (np.mean(np.maximum(r - anchor_f, 0) ** 2)
            + np.mean(np.maximum(anchor_r - f, 0) ** 2))
    # float32 against float64. An anchor takes a batch mean of 8 logits and 4
    # roundings per step (the EMA) on values <= `magnitude`: after 5 steps it
    # is within 5 sum_bound(8 + 4, magnitude) (rtol=1e-5 before: too tight
    # for anchors near 0). The penalty's terms relu(d)^2, d = r - anchor or
    # anchor - f, move by 2 |d| times d's error (its inputs' U / 2, the
    # anchor's, a subtraction) and a mean of 8 adds gamma(8): sum_bound(8 +
    # 20) of mean(d^2 + 2 |d| (|logit| + magnitude)) of both terms.
    magnitude = max(magnitude, np.mean(np.abs(r)), np.mean(np.abs(f)), abs(anchor_r),
                    abs(anchor_f))
    anchor_tol = 5 * float32.sum_bound(8 + 4, magnitude)
    d_r, d_f = np.maximum(r - anchor_f, 0), np.maximum(anchor_r - f, 0)
    terms = (np.mean(d_r**2 + 2 * d_r * (np.abs(r) + magnitude))
             + np.mean(d_f**2 + 2 * d_f * (np.abs(f) + magnitude)))
    np.testing.assert_allclose(result.value, want, rtol=0,
                               atol=float32.sum_bound(8 + 20, terms))
    np.testing.assert_allclose(result.state["real"], anchor_r, rtol=0, atol=anchor_tol)
    np.testing.assert_allclose(result.state["fake"], anchor_f, rtol=0, atol=anchor_tol)
    state = result.state
  # The anchors carry no gradient: the penalty's gradient is the formula's
  # with the anchors held fixed.
  r, f = rng.normal(0, 1, 8), rng.normal(0, 1, 8)
  grad = jax.vmap(jax.grad(lambda logits: term.d(_d_inputs(
      logits, f, state=state, step=jnp.int32(9)), config).value), axis_name=AXIS)(
          jnp.asarray(r, jnp.float32)[None])[0]
  anchor_f = 0.9 * float(state["fake"]) + 0.1 * f.mean()  # updated first, from this batch
  # 2 (r - anchor) / 8 with the anchor's update from this batch (a mean of 8
  # and 4 roundings) and the subtraction: sum_bound(8 + 4) of (|r| + |anchor| +
  # mean |f|) / 4 absolute (rtol=1e-5, atol=1e-7 before: too tight where r is
  # near the anchor); a kink crossed by rounding moves by no more.
  magnitude = np.max(np.abs(r)) + abs(anchor_f) + np.mean(np.abs(f))
  np.testing.assert_allclose(grad, 2 * np.maximum(r - anchor_f, 0) / 8, rtol=0,
                             atol=float32.sum_bound(8 + 4, magnitude / 4))


def test_bcr_is_the_squared_change_of_d_under_its_transform():
  rng = np.random.default_rng(1)
  real = jnp.asarray(rng.uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
  fake = jnp.asarray(rng.uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(16, 16, 1)), jnp.float32)
  d = lambda x: jnp.sum(x * weights, axis=(1, 2, 3))  # not invariant to flips or shifts

  def bcr(real, fake):
    inputs = _d_inputs(d(real), d(fake), real=real, fake=fake,
                       discriminate=lambda x, c, k, s: (objective.Outputs(d(x)), s))
    value = objective.get("bcr").d(inputs, None).value
    key = jax.random.split(jax.random.fold_in(inputs.key, 6))
    transformed = [objective._consistency_transform(x, k, inputs)
                   for x, k in zip((real, fake), key)]
    return value, transformed

  value, (real_t, fake_t) = jax.vmap(bcr, axis_name=AXIS)(real[None], fake[None])
  pairs = ((real, real_t[0]), (fake, fake_t[0]))
  diffs = [d(x) - d(t) for x, t in pairs]
  want = sum(np.mean(np.square(diff)) for diff in diffs)
  assert want > 0
  # The term's D outputs and these are float32 sums of 256 products x w, maybe
  # in other orders: a difference of two is within e = sum_bound(256, sum |x|
  # |w|) of each image's sum, which moves a squared difference by 2 |diff| e +
  # e^2, and the means of 4 add sum_bound(4): 0.1% of the value here (rtol=1e-5
  # before: too tight for sums of 256 terms). Another transform moves it O(1).
  def magnitude(x):
    return np.sum(np.abs(np.asarray(x)) * np.abs(np.asarray(weights)), axis=(1, 2, 3))
  tol = float32.sum_bound(4, want)
  for (x, t), diff in zip(pairs, diffs, strict=True):
    e = float32.sum_bound(256, magnitude(x)) + float32.sum_bound(256, magnitude(t))
    tol += np.mean(2 * np.abs(diff) * e + e**2)
  np.testing.assert_allclose(value[0], want, rtol=0, atol=tol)
  # T flips and shifts each example by at most 1/8 of the image (2 pixels).
  for x, t in zip(np.asarray(real), np.asarray(real_t[0])):
    assert any(_is_shift(x[:, ::f], t, 2) for f in (1, -1))


def _is_shift(x, t, max_shift):
  h, w = x.shape[:2]
  for dy in range(-max_shift, max_shift + 1):
    for dx in range(-max_shift, max_shift + 1):
      shifted = np.zeros_like(x)
      ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
      yd, xd = slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0))
      shifted[ys, xs] = x[yd, xd]
      # Whole-pixel shifts and flips copy values (|x| <= 1) without arithmetic:
      # equal; atol=1e-6 (17 U) only guards. Another shift moves pixels by O(1).
      if np.allclose(shifted, t, atol=1e-6):
        return True
  return False


# -- Augmentation of D's inputs ------------------------------------------------

def _augmentation(**loss):
  return augmentation.from_config(objective.default_config(**loss))


@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_augmentation_does_not_depend_on_the_device_count(name):
  aug = _augmentation(augment=name, augment_p=0.8, augment_target=0.0)
  x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (16, 8, 8, 3)), jnp.float32)
  key = jax.random.PRNGKey(5)
  apply = lambda x: aug.apply(x, key, 0.8, 16)
  one = jax.vmap(apply, axis_name=AXIS)(x[None])[0]
  n = jax.device_count()
  # Copied to the host before reshaping: an eager op on a pmap output runs over
  # all devices, which can deadlock XLA:CPU's collectives (see test_step).
  many = np.asarray(jax.pmap(apply, axis_name=AXIS)(x.reshape(n, 16 // n, 8, 8, 3)))
  many = many.reshape(x.shape)
  assert not np.allclose(one, x)
  # The same per-example arithmetic on other batch shapes: float32 sums may
  # run in other orders (tests/float32.py). DiffAugment: |x| <= 7.5 after
  # brightness (+-0.5) and saturation (x <= 2 about the mean of 3 channels),
  # then the contrast's mean of 8 x 8 x 3 values: sum_bound(192 + 6, 7.5) =
  # 1.8e-4. ADA: a pixel's source coordinates (<= 100 upsampled pixels: the
  # grid's 13.5 through up to 12 composed 3x3 matrices of 2 rotations, a
  # quarter turn, scales up to 2 and translations) are within sum_bound(40,
  # 100) = 4.9e-4 pixels; bilinear sampling of the sym6-upsampled image (rows'
  # L1 norm 1.39: |u| <= 1.94, neighbours <= 3.9 apart) turns that into 3.9x,
  # downsampling (L1 1.38 per axis) into 1.9x more, and the resampling sums
  # (<= 12 terms, 3 passes) add sum_bound(12, 1.94) each: 3.7e-3. (1e-5 before,
  # "~10 ulps of 4", was one machine's.) Transforms drawn per device (another
  # key) move pixels by O(1).
  if name == "diffaugment":
    atol = float32.sum_bound(192 + 6, 7.5)
  else:
    atol = 1.9 * 3.9 * float32.sum_bound(40, 100) + 3 * float32.sum_bound(12, 1.94)
  np.testing.assert_allclose(many, one, atol=atol)
  # Each example its own transform: two copies of an image come out different.
  same = jnp.broadcast_to(x[:1], x.shape)
  out = jax.vmap(apply, axis_name=AXIS)(same[None])[0]
  assert not np.allclose(out[0], out[1])
  # Differentiable: G's gradient passes through.
  grad = jax.grad(lambda x: jnp.sum(jax.vmap(apply, axis_name=AXIS)(x[None])[0] ** 2))(x)
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_ada_p_moves_by_its_official_rate_toward_the_target():
  aug = _augmentation(augment="ada", augment_target=0.6, augment_interval=2, augment_kimg=0.5)
  state = augmentation.initial_state(objective.default_config(augment_p=0.25))
  rate = 16 * 2 / (0.5 * 1000)  # batch * interval / (kimg * 1000)
  observe = jax.vmap(aug.observe, in_axes=(None, 0), axis_name=AXIS)
  ps = []
  for step, logits in enumerate([1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0, 1.0]):
    state = jax.tree.map(lambda x: x[0], observe(state, jnp.full((1, 16), logits)))
    state = aug.adjust(state, jnp.int32(step), 16)
    ps.append(float(state["p"]))
  # r_t = 1 > 0.6 after steps 1 and (mixed: 0 < 0.6) after 3, -1 after 5, 1 after 7.
  want = [0.25, 0.25 + rate, 0.25 + rate, 0.25, 0.25, 0.25 - rate, 0.25 - rate, 0.25]
  # float32's rate (0.064: U / 2) and <= 8 additions of it to p (U of <= 0.32
  # each) against float64: < 12 U of p >= 0.19; rtol=1e-6 (16.8 U).
  np.testing.assert_allclose(ps, want, rtol=1e-6)
  full = aug.adjust({"p": jnp.float32(0.99), "signs": jnp.float32(2.0),
                     "count": jnp.float32(2.0)}, jnp.int32(1), 16)
  assert float(full["p"]) == 1.0  # clipped to [0, 1]


def _config(**loss):
  config = tiny_config()
  config.model.d_norm = "none"
  config.train.update(num_steps=6, steps_per_call=2, log_every=2, sample_every=6,
                      checkpoint_every=2)
  config.loss.update(loss)
  return config


def test_ada_trains_and_its_p_is_restored_exactly_on_resume(tmp_path):
  loss = dict(augment="ada", augment_p=0.1, augment_interval=1, augment_kimg=0.2, lecam_weight=0.1,
              lecam_start=1, r1_weight=1.0, r1_every=2)
  whole = trainer.train_and_evaluate(_config(**loss), str(tmp_path / "whole"))
  part = _config(**loss)
  part.train.num_steps = 4
  trainer.train_and_evaluate(part, str(tmp_path / "part"))
  resumed = trainer.train_and_evaluate(_config(**loss), str(tmp_path / "part"))
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  p = [json.loads(line)["augment_p"] for line in open(tmp_path / "whole" / "metrics.jsonl")]
  assert len(set(p)) > 1 and all(0 <= v <= 1 for v in p), p  # p adapted
  assert float(whole.terms["augment"]["p"]) != 0.1
  assert set(whole.terms["lecam"]) == {"real", "fake"}


@pytest.mark.parametrize("loss,match", [
    (dict(augment="autoaugment"), "valid: ada, diffaugment"),
    (dict(augment="diffaugment", augment_policy="color,zoom"), "valid names: color"),
    (dict(augment="ada", augment_target=1.5), r"augment_target must be in \(0, 1\)"),
    (dict(augment="ada", augment_interval=0), "augment_interval must be an integer >= 1"),
    (dict(augment="ada", augment_pipeline="bgcfnc"), "valid names: bg, bgc, blit"),
    (dict(r1_weight=1.0, r1_every=0), "r1_every .* must be an integer >= 1"),
    (dict(schedules="r3_weight=cosine:0"), "KEY one of adv_weight, gp_weight"),
    (dict(schedules="augment_p=linear:0.5"), "config.loss.augment is off"),
])
def test_bad_recipe_input_fails_before_compiling_saying_what_to_change(loss, match):
  config = _config(**loss)
  with pytest.raises(ValueError, match=match):
    validation.check_config(config)


def test_augmentation_on_toy_points_is_refused():
  import sys

  from conftest import REPO
  sys.path.insert(0, str(REPO))
  from configs import toy_ring
  config = toy_ring.get_config()
  config.loss.augment = "diffaugment"
  with pytest.raises(ValueError, match="toy 2-D points; set config.loss.augment=''"):
    validation.check_config(config)


def test_num_examples_keeps_a_class_balanced_subset():
  from jaxgan import data
  config = tiny_config().data
  config.num_examples = 200
  first = data.load(config, image_size=8, channels=1)
  assert len(first) == 200 and first.name.endswith("[200]")
  np.testing.assert_array_equal(np.bincount(first.labels, minlength=10), [20] * 10)
  again = data.load(config, image_size=8, channels=1)
  np.testing.assert_array_equal(first.images, again.images)  # a function of the seed
  config.seed = 1
  other = data.load(config, image_size=8, channels=1)
  assert not np.array_equal(first.images, other.images)
  config.num_examples = 205
  with pytest.raises(ValueError, match="multiple of the 10 classes"):
    data.load(config, image_size=8, channels=1)


def test_the_recipe_trains_from_the_command_line(tmp_path):
  import subprocess
  import sys

  from conftest import REPO
  env = one_device_env()
  tiny = ["--config.model.image_size=28", "--config.model.latent_dim=8",
          "--config.model.g_width=8", "--config.model.d_width=8", "--config.model.d_norm=none",
          "--config.train.batch_size=8", "--config.train.num_steps=2",
          "--config.train.steps_per_call=2", "--config.train.log_every=2",
          "--config.train.num_samples=8"]
  recipe = ["--config.loss.name=relativistic_pairing", "--config.loss.augment=diffaugment",
            "--config.loss.augment_policy=color,translation,cutout",
            "--config.loss.r1_weight=0.1", "--config.loss.r1_every=2",
            "--config.loss.r2_weight=0.1", "--config.loss.lecam_weight=0.3",
            "--config.loss.bcr_weight=1", "--config.loss.schedules=r1_weight=cosine:0.01",
            "--config.optimizer.g.schedules=learning_rate=linear:0,b2=cosine:0.99"]
  result = subprocess.run(
      [sys.executable, str(REPO / "launch.py"), f"--config={REPO / 'configs/dcgan.py'}",
       *tiny, *recipe, f"--workdir={tmp_path / 'w'}"], cwd=tmp_path, capture_output=True,
      text=True, timeout=300, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  last = json.loads(open(tmp_path / "w" / "metrics.jsonl").read().splitlines()[-1])
  for metric in ("r1_penalty", "r2_penalty", "lecam_penalty", "bcr_real", "bcr_fake"):
    assert np.isfinite(last[metric]), (metric, last)


def test_a_schedule_over_the_run_is_not_reused_for_another_length():
  config = _config(r1_weight=1.0, schedules="r1_weight=linear:0")
  first = setup.build(config, (28, 28, 1))
  config.train.num_steps = 12
  second = setup.build(config, (28, 28, 1))
  assert second[1] is not first[1]  # the step's objective spans the new length
  config.loss.schedules = ""  # without schedules the length changes no program
  plain = setup.build(config, (28, 28, 1))
  config.train.num_steps = 20
  assert setup.build(config, (28, 28, 1))[1] is plain[1]


def test_modern_results_settings_are_valid_vectorised_sweeps(monkeypatch):
  """Every setting of scripts/modern_results.py (the README's modern-recipe
  tables) is a config that passes validation and whose seed members train
  as one vectorised sweep; no training."""
  import importlib
  import os
  import pathlib
  import sys

  from jaxgan import sweep
  monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # the script's default
  monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
  sys.modules.pop("modern_results", None)
  mr = importlib.import_module("modern_results")
  seen = set()
  for experiment in ("fewdata", "compare"):
    for _, model, dataset, augmentation_name in mr.settings(experiment):
      config = mr.base_config(model, dataset, 100)
      config.loss.update(mr.AUGMENTS[augmentation_name])
      _, _, members = sweep.member_configs(config, {"seed": [0, 1, 2, 3]})
      validation.check_config(members[0])  # the members differ only in seed
      assert sweep.pick_mode(members, "vectorised") == "vectorised"
      assert config.train.num_steps == 100 and "evals" not in config
      assert config.model.image_size == 32
      seen.add((model, augmentation_name))
  r3 = mr.base_config("r3gan", "fashion_mnist", 100)
  assert "augment_p" not in r3.loss.schedules and "r1_weight=cosine" in r3.loss.schedules
  assert seen == {("dcgan", a) for a in mr.AUGMENTS} | {("r3gan", a) for a in mr.AUGMENTS} | {
      ("sngan", "none")}
  with pytest.raises(ValueError, match="valid: fewdata, compare"):
    mr.settings("cifar10")


def test_modern_results_pacgan_small_keeps_table3s_batch(monkeypatch):
  """PacGAN's Table 3 settings keep their config's 128 packs per step (the
  other experiments' batch is 64) and validate as vectorised sweeps."""
  import importlib
  import os
  import pathlib
  import sys

  from jaxgan import sweep
  monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
  monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
  sys.modules.pop("modern_results", None)
  mr = importlib.import_module("modern_results")
  packs = []
  for _, model, dataset, _ in mr.settings("pacgan_small"):
    config = mr.base_config(model, dataset, 100)
    _, _, members = sweep.member_configs(config, {"seed": [0, 1, 2]})
    validation.check_config(members[0])
    assert sweep.pick_mode(members, "vectorised") == "vectorised"
    assert config.model.name == "unrolled" and config.model.d_width == 2
    assert config.train.batch_size == 128 * config.model.pack
    packs.append(config.model.pack)
  assert packs == [1, 2, 3, 4]
  assert mr.base_config("stacked_pac2", "stacked_mnist", 100).train.batch_size == 128
