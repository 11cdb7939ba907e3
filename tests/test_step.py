"""The pmapped GAN step: updates both players, and is independent of the device count."""

import functools

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import jax_utils, struct

from jaxgan import checkpoint, data, models
from jaxgan.train import schedules, trainer
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib

from conftest import (
  adam_step_bound,
  assert_close_but_adam_flips,
  tiny_config,
  with_default_emitters,
)

NUM_STEPS = 2

# 8 devices against 1 (tests/float32.py): every float32 sum may run in another
# order (the cross-device means of BatchNorm's statistics and of the gradients,
# the convolutions on other batch shapes). For these tiny models at init a
# layer's absolute sum |w| |x| + |b| is at most 25 times the scale of its
# output (BatchNorm's std, or the logit's: 5 to 25 in the standard config),
# and errors are carried on with gain <= 1 in those units, as in
# float32.network_bound. The forward pass sums 16, 64 and 32 terms in G (the
# dense layer, 4x4 stride-2 transposed convolutions) and 16, 128 and 784 in D:
# a logit, a loss (slope <= 1) or a probability is within _STEP_ATOL =
# 3.1e-3 of the other run's (1e-5 before: too tight). A gradient element
# adds the backward pass to its layer (<= 1046 terms again) and its own sum
# over 16 examples x 14 x 14 positions (3136 terms); WGAN-GP's penalty
# gradient runs all that twice: the gradients' norms and the penalty are
# within _STEP_RTOL = 3.1e-2 of theirs (1e-3 before). A step that misses the
# cross-device mean of gradients or statistics is off by O(1) (a gradient of
# 2 examples instead of 16; statistics of 2 x 7 x 7 values instead of 784).
_FORWARD_TERMS = 17 + 65 + 33 + 17 + 129 + 785
_STEP_ATOL = float32.sum_bound(_FORWARD_TERMS, 25)
_STEP_RTOL = float32.sum_bound(2 * (2 * _FORWARD_TERMS + 3136), 25)


def _configs():
  standard = tiny_config()  # BatchNorm in both players, non-saturating loss
  wgan_gp = tiny_config()
  wgan_gp.model.d_norm = "none"
  wgan_gp.loss.name = "wasserstein"
  wgan_gp.loss.gp_weight = 10.0
  wgan_gp.train.n_critic = 2
  wgan_gp.train.g_batch_multiple = 2  # G's update on 32 samples of its own
  # 'Improved Techniques': feature matching beside the adversarial G loss,
  # one-sided label smoothing, historical averaging of both players, virtual
  # batch normalisation in G, and WGAN weight clipping on D (all in one
  # config, to compile once).
  improved = tiny_config()
  improved.model.update(g_norm="virtual_batch", g_reference_size=8)
  improved.loss.feature_matching_weight = 1.0
  improved.loss.adv_weight = 0.5
  improved.loss.label_smoothing = 0.1
  for player in ("g", "d"):
    improved.optimizer[player].historical_averaging = 1e-2
  improved.optimizer.d.clip = 0.05
  return {"standard": standard, "wgan_gp": wgan_gp, "improved": improved}


def _run(config, num_devices, images):
  """NUM_STEPS steps on `num_devices`; returns the host states before and after
  each step, and each step's metrics."""
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  initial = jax.device_get(state_lib.create(
      jax.random.PRNGKey(config.seed), g, d, trainer.make_optimizer(config.optimizer.g),
      trainer.make_optimizer(config.optimizer.d), latent_dim=config.model.latent_dim,
      image_shape=images.shape[2:], ema_decay=config.train.ema_decay))
  p_step = step_lib.make_train_step(g, d, config, num_devices=num_devices)
  devices = jax.local_devices()[:num_devices]
  state = jax_utils.replicate(initial, devices)
  rng = jax_utils.replicate(jax.random.PRNGKey(7), devices)
  history, states = [], [initial]
  for step_images in images:
    batch = {"image": trainer.shard_batch(step_images[None], config.train.n_critic,
                                          num_devices)}
    state, metrics = p_step(state, batch, rng)
    # Device 0's buffers, read directly: indexing (`x[0]`) runs an eager
    # program over all 8 devices while the step's all-reduces may still be in
    # flight, and XLA:CPU's rendezvous then aborts the process (it did in CI).
    history.append(checkpoint.host_copy(metrics))
    states.append(checkpoint.host_copy(state))
  return states, history


@pytest.fixture(scope="module", params=sorted(_configs()))
def runs(request):
  config = _configs()[request.param]
  rng = np.random.default_rng(0)
  n = config.train.n_critic * config.train.batch_size
  size, channels = config.model.image_size, config.model.channels
  images = rng.integers(0, 256, (NUM_STEPS, n, size, size, channels), np.uint8)
  return config, _run(config, 1, images), _run(config, 8, images)


def test_a_step_updates_both_players_and_keeps_losses_finite(runs):
  _, ((initial, *_, final), history), _ = runs
  config = runs[0]
  assert int(final.step) == NUM_STEPS
  for player in ("generator", "discriminator"):
    before, after = getattr(initial, player).params, getattr(final, player).params
    changed = jax.tree.map(lambda x, y: bool(np.any(x != y)), before, after)
    if player == "discriminator" and config.loss.name == "wasserstein":
      # E[D(x)] - E[D(G(z))] does not depend on the critic's output bias (and
      # neither does the gradient penalty): its gradient is exactly zero.
      assert not changed["logit"].pop("bias")
    assert all(jax.tree.leaves(changed)), f"some {player} parameters did not change"
  for metrics in history:
    for name in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
      assert np.isfinite(metrics[name]), (name, metrics)


def test_eight_devices_compute_what_one_device_computes(runs):
  config, ((*_, one), one_metrics), ((*_, eight), eight_metrics) = runs
  # The parameters after NUM_STEPS steps of Adam (lr 2e-4): an element whose
  # gradient each run knows to a relative d (its float32 error, see above)
  # gets steps, degree-0 functions of its gradients, within 2 d of
  # adam_step_bound: 1e-5 holds where d < 0.3% (D's 4 updates in WGAN-GP) or
  # 0.6% (2 updates). Gradient elements within 300x their rounding of 0 can
  # move their weight by up to adam_step_bound (8.2e-4; 1.8e-3 for 4 updates):
  # at most 1 in 1,000 (12 of G's 12,544 weights; 1e-4 of the largest value
  # before, which one such flip would have broken). Missing the cross-device
  # gradient mean flips the sign of most steps.
  flip_bounds = {}
  for player, updates in (("g", NUM_STEPS), ("d", NUM_STEPS * config.train.n_critic)):
    opt = config.optimizer[player]
    flip_bounds[player] = adam_step_bound(opt.learning_rate, opt.b1, opt.b2, updates)
    name = {"g": "generator", "d": "discriminator"}[player]
    assert_close_but_adam_flips(getattr(eight, name).params, getattr(one, name).params,
                                1e-5, flips=1e-3, flip_bound=flip_bounds[player],
                                what=name)
  # BatchNorm's running statistics (momentum 0.9, 2 updates: weights 0.1 and
  # 0.09 on batch means): a mean of <= 3136 values of mean size <= 0.12 (sum_bound:
  # 4.5e-5, 8.5e-6 in the statistics), plus a flipped weight's effect on the
  # second batch (0.1 flip_bound |x|, |x| <= 1 on average: 8.2e-5).
  assert_close_but_adam_flips(eight.generator.batch_stats, one.generator.batch_stats,
                              0.19 * float32.sum_bound(3136, 0.12) + 0.1 * flip_bounds["g"],
                              what="batch_stats")
  for a, b in zip(one_metrics, eight_metrics):  # the metrics and their statistics
    flat_a, flat_b = (jax.tree_util.tree_flatten_with_path(m)[0] for m in (a, b))
    for (path, x), (_, y) in zip(flat_a, flat_b, strict=True):
      np.testing.assert_allclose(y, x, rtol=_STEP_RTOL, atol=_STEP_ATOL,
                                 err_msg=jax.tree_util.keystr(path))
  if config.loss.gp_weight:
    assert "gradient_penalty" in one_metrics[0]
  if config.loss.get("feature_matching_weight", 0):
    assert one_metrics[0]["g_feature_matching_loss"] > 0


@pytest.mark.parametrize("runs", ["improved"], indirect=True)
def test_improved_techniques_options_shape_the_update(runs):
  """The G loss is the weighted sum of its terms, and clipping keeps D's
  weights in [-c, c]."""
  config, ((*_, final), history), _ = runs
  for m in history:
    expected = (config.loss.adv_weight * m["g_adversarial_loss"]
                + config.loss.feature_matching_weight * m["g_feature_matching_loss"])
    # The step's sum of the same float32 terms, both >= 0, weighted by 0.5 and
    # 1 (exact): one rounding, gamma(2) (1e-5 before: looser than needed).
    np.testing.assert_allclose(m["g_loss"], expected, rtol=float32.gamma(2))
  # Within float32 rounding of the box: apply_updates adds clip(p + u) - p to
  # p, two roundings of values up to |p| + c, |p| at most the initial largest
  # weight (c (1 + 1e-6) before). Unclipped, weights of N(0, 0.02) exceed it.
  clip = config.optimizer.d.clip
  initial = runs[1][0][0].discriminator.params
  largest = max(float(np.max(np.abs(p))) for p in jax.tree.leaves(initial))
  assert max(float(np.max(np.abs(p))) for p in jax.tree.leaves(
      final.discriminator.params)) <= clip + 2 * float32.U * (largest + clip)


def test_ema_follows_the_generator(runs):
  config, (states, _), _ = runs
  for ema, params in zip(jax.tree.leaves(states[0].ema_params),
                         jax.tree.leaves(states[0].generator.params)):
    np.testing.assert_array_equal(ema, params)
  for t, (before, after) in enumerate(zip(states, states[1:])):
    decay = min(config.train.ema_decay, (1 + t) / (10 + t))
    expected = jax.tree.map(lambda e, p, decay=decay: decay * e + (1 - decay) * p,
                            before.ema_params, after.generator.params)
    # Two float32 evaluations of decay e + (1 - decay) p (decay rounded to U / 2
    # times |e - p|, tiny; 3 roundings of terms of size <= |e| + |p| ~ 2 |want|,
    # as e ~ p): sum_bound(3, 2) = 16 U = 9.5e-7 of |want|; atol guards zeros.
    for got, want in zip(jax.tree.leaves(after.ema_params), jax.tree.leaves(expected)):
      np.testing.assert_allclose(got, want, rtol=float32.sum_bound(3, 2.0), atol=1e-7)


@with_default_emitters
def test_several_steps_per_call_on_device_data_equal_one_step_per_call():
  """lax.scan over steps, with batches gathered on the device from indices,
  gives bit-identical results to one host-fed step per call."""
  config = tiny_config()
  n_critic, batch_size = config.train.n_critic, config.train.batch_size
  dataset = np.random.default_rng(1).integers(0, 256, (40, 28, 28, 1), np.uint8)
  indices = np.stack([data.batch_indices(len(dataset), n_critic * batch_size, 0, s)
                      for s in range(3)]).astype(np.int32)
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  initial = state_lib.create(
      jax.random.PRNGKey(0), g, d, trainer.make_optimizer(config.optimizer.g),
      trainer.make_optimizer(config.optimizer.d), latent_dim=config.model.latent_dim,
      image_shape=(28, 28, 1), ema_decay=config.train.ema_decay)
  p_step = step_lib.make_train_step(g, d, config, num_devices=8)
  rng = jax_utils.replicate(jax.random.PRNGKey(3))

  one_at_a_time = jax_utils.replicate(initial)
  for s in range(3):
    batch = {"image": trainer.shard_batch(dataset[indices[s:s + 1]], n_critic)}
    one_at_a_time, _ = p_step(one_at_a_time, batch, rng)
  scanned = jax_utils.replicate(initial)
  scanned, metrics = p_step(scanned, {"index": trainer.shard_batch(indices, n_critic)},
                            rng, jax_utils.replicate({"image": dataset}))
  assert metrics["d_loss"].shape == (8,)  # the mean over the call's steps, per device
  a, b = jax.device_get((one_at_a_time, scanned))
  assert int(b.step[0]) == 3
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


def _reference_wgan_g_updates(num_steps: int, n_critic: int) -> list[bool]:
  """Whether each step of n_critic critic updates ends with G's update, read
  off the reference WGAN loop (martinarjovsky/WassersteinGAN main.py: Diters
  = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else Diters)."""
  out, gen_iterations = [], 0
  while len(out) < num_steps:
    d_iters = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else n_critic
    out += [False] * (d_iters // n_critic - 1) + [True]
    gen_iterations += 1
  return out[:num_steps]


@pytest.mark.parametrize("n_critic", [5, 4, 1])
def test_wgan_boost_updates_g_where_the_reference_loop_does(n_critic):
  # 3,000 steps of n_critic 5 cover G's updates 0-1,500: the first 25, the
  # 500th, 1,000th and 1,500th boosted.
  want = np.array(_reference_wgan_g_updates(3000, n_critic))
  got = np.asarray(schedules.wgan_boost(n_critic)(jnp.arange(3000, dtype=jnp.int32)))
  np.testing.assert_array_equal(got, want)
  if n_critic == 5:  # 20 steps per boosted G update; the 500th starts at step 975
    assert want[:500].sum() == 25 and want[500:975].all()
    assert not want[975:994].any() and want[994:1494].all() and not want[1494:1513].any()


def test_g_update_schedules_are_checked_against_n_critic():
  config = tiny_config()
  config.train.update(g_updates="wgan_boost", n_critic=3)
  with pytest.raises(ValueError, match="n_critic to divide 100"):
    trainer.check_config(config)
  config.train.update(g_updates="wgan", n_critic=5)
  with pytest.raises(ValueError, match="Unknown config.train.g_updates='wgan'; valid: "
                     "every_step, wgan_boost"):
    trainer.check_config(config)
  config.train.g_updates = "wgan_boost"
  trainer.check_config(config)


@pytest.mark.parametrize("change, message", [
    (dict(train={"g_batch_multiple": 0}), "must be an integer >= 1, got 0"),
    (dict(loss={"name": "relativistic_pairing"}),
     "pairs each generated sample with a real one"),
    (dict(model={"name": "cgan_dcgan", "num_classes": 10}), "no class labels to condition"),
])
def test_g_batch_multiple_is_refused_where_g_cannot_take_its_own_batch(change, message):
  config = tiny_config()
  config.train.g_batch_multiple = 2
  trainer.check_config(config)
  for block, values in change.items():
    config[block].update(values)
  with pytest.raises(ValueError, match=message):
    trainer.check_config(config)


def test_a_step_that_a_g_update_schedule_leaves_out_keeps_g_and_its_ema():
  """With G updated on odd steps only: step 0 changes D and G's BatchNorm
  statistics but leaves G's parameters, optimizer state and EMA exactly as
  they were; step 1 updates them."""
  config = tiny_config()
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  initial = jax.device_get(state_lib.create(
      jax.random.PRNGKey(0), g, d, trainer.make_optimizer(config.optimizer.g),
      trainer.make_optimizer(config.optimizer.d), latent_dim=config.model.latent_dim,
      image_shape=(28, 28, 1), ema_decay=config.train.ema_decay))
  step_fn = functools.partial(step_lib.bind_step(g, d, config, num_devices=1),
                              g_updates=lambda step: step % 2 == 1)
  p_step = jax.pmap(functools.partial(step_lib.train_steps, step_fn=step_fn),
                    axis_name=step_lib.AXIS, devices=jax.local_devices()[:1])
  images = np.random.default_rng(0).integers(0, 256, (2, 16, 28, 28, 1), np.uint8)
  state, states, updated = jax_utils.replicate(initial, jax.local_devices()[:1]), [], []
  for s in range(2):
    state, metrics = p_step(state, {"image": trainer.shard_batch(images[s:s + 1], 1, 1)},
                            jax_utils.replicate(jax.random.PRNGKey(1), jax.local_devices()[:1]))
    states.append(jax_utils.unreplicate(jax.device_get(state)))
    updated.append(float(metrics["g_updated"][0]))
  assert updated == [0.0, 1.0]
  same = lambda a, b: all(np.array_equal(x, y) for x, y in
                          zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  before, off, on = initial, states[0], states[1]
  for part in ("params", "opt_state", "step"):
    assert same(getattr(off.generator, part), getattr(before.generator, part)), part
    assert not same(getattr(on.generator, part), getattr(off.generator, part)), part
  assert same(off.ema_params, before.ema_params)
  assert not same(on.ema_params, off.ema_params)
  assert not same(off.generator.batch_stats, before.generator.batch_stats)
  assert not same(off.discriminator.params, before.discriminator.params)
  assert int(off.step) == 1 and int(on.step) == 2


def test_g_update_takes_k_batches_of_its_own_samples_with_g_batch_multiple():
  """`_fakes` with a stand-in G (z * p; its 'batch statistics' count the rows
  it saw): with k = 1 D's last batch is G's; with k = 2 G's update has 2 x 8
  fresh samples, and its vjp is the gradient over those."""
  generate = lambda p, stats, z, cond, key: (z * p, stats + z.shape[0])
  noise = lambda key, n=8: jax.random.normal(key, (n, 3))
  z_key, g_key = jax.random.split(jax.random.PRNGKey(0))
  for k in (1, 2):
    d_fake, fake, g_vjp, rows = step_lib._fakes(generate, noise, jnp.float32(2.0), 0, None,
                                                z_key, g_key, k, 8)
    assert d_fake.shape == (8, 3) and fake.shape == (8 * k, 3)
    assert rows == (8 if k == 1 else 8 + 8 * k)  # one forward pass, or D's and G's
    (grad,) = g_vjp(jnp.ones_like(fake))
    bound = float32.sum_bound(8 * k * 3, float(jnp.sum(jnp.abs(fake))) / 2.0)
    np.testing.assert_allclose(grad, jnp.sum(fake) / 2.0, rtol=0, atol=bound)
    assert (d_fake is fake) == (k == 1)
    if k > 1:
      assert not np.any(np.isin(np.asarray(d_fake), np.asarray(fake)))


class _Counter(struct.PyTreeNode):
  step: jax.Array
  total: jax.Array


def test_train_steps_reports_the_first_nonfinite_step_and_skips_it_if_asked():
  """Step 2 of 4 has a NaN loss: it is reported (number, count, metrics),
  the other steps' metrics are summarised (mean, min, max); with
  skip_nonfinite its update is dropped and the others applied."""
  losses = jnp.array([1.0, jnp.nan, 3.0, 5.0])

  def step_fn(state, batch, rng):
    del rng
    loss = losses[state.step]
    return (state.replace(step=state.step + 1, total=state.total + batch["x"]),
            {"loss": loss, "total": state.total + batch["x"]})

  start = _Counter(step=jnp.array(0), total=jnp.array(0.0))
  batches = {"x": jnp.array([1.0, 10.0, 100.0, 1000.0])}
  stopped, metrics = step_lib.train_steps(start, batches, None, step_fn=step_fn)
  assert int(metrics["nonfinite_step"]) == 2 and int(metrics["nonfinite_count"]) == 1
  # The caller stops: step 2's metrics are kept for it.
  assert np.isnan(metrics["nonfinite"]["loss"])
  assert float(metrics["nonfinite"]["total"]) == 11.0
  assert int(stopped.step) == 4
  skipped, skip_metrics = step_lib.train_steps(start, batches, None, step_fn=step_fn,
                                               skip_nonfinite=True)
  assert int(skip_metrics["nonfinite_step"]) == 2
  assert int(skip_metrics["nonfinite_count"]) == 1
  assert int(skipped.step) == 4 and float(skipped.total) == 1101.0
  for m in (metrics, skip_metrics):  # over the finite steps 1, 3 and 4
    assert int(m["finite_steps"]) == 3
    assert float(m["loss"]) == 3.0
    assert float(m["min"]["loss"]) == 1.0 and float(m["max"]["loss"]) == 5.0
  assert float(skip_metrics["total"]) == (1.0 + 101.0 + 1101.0) / 3


def test_train_steps_without_a_finite_step_gives_nan_statistics():
  def step_fn(state, batch, rng):
    del batch, rng
    return state.replace(step=state.step + 1), {"loss": jnp.array(jnp.inf)}

  start = _Counter(step=jnp.array(0), total=jnp.array(0.0))
  _, metrics = step_lib.train_steps(start, {"x": jnp.zeros(2)}, None, step_fn=step_fn,
                                    skip_nonfinite=True)
  assert int(metrics["finite_steps"]) == 0 and int(metrics["nonfinite_count"]) == 2
  assert np.isnan(metrics["loss"]) and np.isnan(metrics["min"]["loss"])
  assert np.isnan(metrics["max"]["loss"]) and np.isinf(metrics["nonfinite"]["loss"])


def test_compiled_step_compiles_once_per_argument_shapes():
  calls = []

  def double(x):
    calls.append(x.shape)  # traced once per compile
    return x * 2

  p_step = step_lib.CompiledStep(jax.pmap(double), {})
  x = np.ones((jax.local_device_count(), 3), np.float32)
  np.testing.assert_array_equal(p_step(x), 2 * x)
  np.testing.assert_array_equal(p_step(x + 1), 2 * (x + 1))
  assert len(calls) == 1
  p_step(np.ones((jax.local_device_count(), 4), np.float32))
  assert len(calls) == 2


def test_compiled_step_takes_the_options_or_warns_and_compiles_without(caplog):
  p_step = step_lib.CompiledStep(jax.pmap(lambda x: x + 1), {"xla_no_such_option": "1"})
  x = np.zeros((jax.local_device_count(), 2), np.float32)
  np.testing.assert_array_equal(p_step(x), x + 1)
  assert "xla_no_such_option" in caplog.text
  if jax.default_backend() == "cpu":
    # XLA:CPU's convolutions leave the YNNPACK fusions (see compiler_options).
    kernel = np.ones((4, 4, 16, 32), np.float32)
    conv = lambda x: jax.lax.conv_general_dilated(
        x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = np.ones((jax.local_device_count(), 4, 8, 8, 16), np.float32)
    default = jax.pmap(conv).lower(x).compile().as_text()
    ours = step_lib.CompiledStep(jax.pmap(conv), step_lib.compiler_options()).compile(x)
    assert "__ynn_fusion" in default and "__ynn_fusion" not in ours.as_text()
    # Reductions (BatchNorm's statistics) stay on YNNPACK; XLA's own are
    # reduce-windows.
    moments = lambda x: (x.mean((0, 1, 2)), (x * x).mean((0, 1, 2)))
    x = np.ones((jax.local_device_count(), 64, 8, 8, 16), np.float32)
    dots_only = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
    xla = step_lib.CompiledStep(jax.pmap(moments), dots_only).compile(x).as_text()
    ours = step_lib.CompiledStep(jax.pmap(moments), step_lib.compiler_options()).compile(x)
    assert "reduce-window" in xla and "reduce-window" not in ours.as_text()
