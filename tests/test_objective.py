"""The loss-term registry (`jaxgan.train.objective`): the terms the step adds,
what is derived from the registry, and R1, R2 and DRAGAN as trained terms."""

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import checkpoint, data, losses, models
from jaxgan.train import objective, trainer
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib

from configs import common
from conftest import REPO, tiny_config

BATCH = 16
# A logged penalty against the same penalty recomputed outside the step: two
# float32 programs that differ in fusion and summation order. The critic (the
# tiny DCGAN D without normalisation: 4x4 stride-2 convolutions and leaky ReLUs)
# is piecewise linear, so its input gradient g does not depend on the rounding
# of its forward pass (nor on G's, for R2) but where a pre-activation within
# rounding of 0 changes sign (not bounded here: rare, like Adam's flips). The
# backward pass sums at most 64 terms per element (16 channels x 4 kernel
# positions; 32 in the first layer), each layer's error carried by the
# absolute weights that follow: |dg| <= sum_bound(64, J), J = |W1|^T |W2|^T
# |w3| the absolute Jacobian. A penalty mean ||g||^2 then moves by
# 2 sum_bound(64) mean(||g|| ||J||) / mean ||g||^2 = 45 for this init (43.3
# for R1 and DRAGAN, 43.6 for R2), plus sum_bound(784 + 16) for its sum of
# squares and mean: 7.9e-4 of it (rtol=1e-5 before: too tight for sums in
# another order). A penalty on the other batch (R1 for R2) is 0.9% off, the
# weighted penalty 10x; another DRAGAN key moves it by only 7e-5 (g is
# piecewise constant), which this tolerance cannot see.
_PENALTY_RTOL = 2 * float32.sum_bound(64) * 45 + float32.sum_bound(784 + 16)


def _config(**loss):
  config = tiny_config()
  config.model.d_norm = "none"  # the penalties are per example
  config.train.ema_decay = 0.0
  config.loss.update(loss)
  return config


def _initial_state(config, generator, discriminator):
  return state_lib.create(
      jax.random.PRNGKey(0), generator, discriminator,
      trainer.make_optimizer(config.optimizer.g), trainer.make_optimizer(config.optimizer.d),
      latent_dim=config.model.latent_dim, image_shape=(28, 28, 1), ema_decay=0.0)


_PLAIN = {}


def _one_step(config, images, rng):
  """(state before, state after, metrics) of one step on one device (a
  size-1 axis, as the sweep runs a member)."""
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  state = _initial_state(config, g, d)
  step_fn = step_lib.bind_step(g, d, config, num_devices=1)
  new_state, metrics = jax.jit(jax.vmap(step_fn, in_axes=(None, 0, None),
                                        axis_name=step_lib.AXIS))(
      state, {"image": images[None, None]}, rng)
  return state, jax.tree.map(lambda x: x[0], (new_state, metrics))


def _step_inputs(config, state, images, rng):
  """The step's own critic, real and fake batches and D update key, rebuilt
  outside it from the same keys (one device, n_critic = 1)."""
  g, d = models.create(config.model)  # no axis: BatchNorm over the whole batch
  z_key, g_key, d_key = jax.random.split(jax.random.split(jax.random.fold_in(rng, 0), 1)[-1], 3)
  real_key = jax.random.split(d_key, 3)[1]
  z = jax.random.normal(z_key, (BATCH, config.model.latent_dim))
  fake = g.apply({"params": state.generator.params,
                  "batch_stats": state.generator.batch_stats}, z, train=True,
                 mutable=["batch_stats"], rngs={"dropout": jax.random.fold_in(g_key, 0)})[0]

  def critic(x):
    return d.apply({"params": state.discriminator.params,
                    "batch_stats": state.discriminator.batch_stats}, x, train=True,
                   mutable=["batch_stats"],
                   rngs={"dropout": jax.random.fold_in(real_key, 1)})[0]

  return critic, data.to_float(images), fake, d_key


PENALTIES = {
    "r1": ("r1_penalty", lambda critic, real, fake, key: losses.r1_penalty(critic, real)),
    "r2": ("r2_penalty", lambda critic, real, fake, key: losses.r2_penalty(critic, fake)),
    "dragan": ("dragan_penalty", lambda critic, real, fake, key: losses.dragan_penalty(
        critic, real, jax.random.fold_in(key, 4))),
}


@pytest.mark.parametrize("name", list(PENALTIES))
def test_logged_penalty_is_the_losses_function_on_the_same_batch(name):
  metric, penalty_fn = PENALTIES[name]
  config = _config(**{f"{name}_weight": 10.0})
  images = np.random.default_rng(0).integers(0, 256, (BATCH, 28, 28, 1), np.uint8)
  rng = jax.random.PRNGKey(3)
  state, (new_state, metrics) = _one_step(config, images, rng)
  critic, real, fake, d_key = _step_inputs(config, state, images, rng)
  expected = penalty_fn(critic, real, fake, d_key)
  assert float(expected) > 0
  np.testing.assert_allclose(metrics[metric], expected, rtol=_PENALTY_RTOL)
  # The weighted penalty is in D's loss: D moves otherwise than without it.
  if "plain" not in _PLAIN:  # every case has the same batch and key
    _PLAIN["plain"] = _one_step(_config(), images, rng)[1]
  plain, plain_metrics = _PLAIN["plain"]
  assert metric not in plain_metrics
  d_new, d_plain = (jax.tree.leaves(s.discriminator.params) for s in (new_state, plain))
  # Not rounding: the penalty changes D's Adam step (~lr = 2e-4 per element);
  # had it no effect, the two programs would be the same and so would D.
  assert any(not np.allclose(a, b, atol=1e-7) for a, b in zip(d_new, d_plain))


def test_vectorised_sweep_varies_r1_weight_per_member(tmp_path):
  from jaxgan import sweep
  config = _config()
  config.train.update(num_steps=2, steps_per_call=2, log_every=2, sample_every=2,
                      checkpoint_every=2)
  members = [{"loss.r1_weight": 0.0}, {"loss.r1_weight": 10.0}]
  _, _, configs = sweep.member_configs(config, members)
  assert sweep.pick_mode(configs) == "vectorised"
  np.testing.assert_array_equal(sweep.member_weights(configs)["r1_weight"], [0.0, 10.0])
  states = list(sweep.train_sweep(config, members, str(tmp_path), mode="vectorised").values())
  # The same seed: only the weight tells the members apart.
  d0, d1 = (jax.tree.leaves(s.discriminator.params) for s in states)
  # Not rounding: the weight changes D's Adam steps (~lr = 2e-4 per element);
  # without it both members would run the same computation on the same inputs.
  assert any(not np.allclose(a, b, atol=1e-7) for a, b in zip(d0, d1))
  for name in ("r1_weight=0.0", "r1_weight=10.0"):
    assert '"r1_penalty"' in (tmp_path / name / "metrics.jsonl").read_text()


@pytest.fixture
def counting_term():
  """A term that counts D updates in its state (registered for one test)."""
  def count(inputs, _):
    return objective.Result(jnp.zeros(()), {"count": inputs.state}, state=inputs.state + 1)

  objective.register(objective.Term(
      "test_count", "counts D updates", "0", d=count, needs=frozenset(),
      init_state=lambda: jnp.zeros((), jnp.int32)))
  try:
    yield
  finally:
    objective.unregister("test_count")


def test_a_term_keeps_state_across_steps_and_checkpoints(counting_term, tmp_path):
  config = _config(test_count_weight=1.0)
  config.train.n_critic = 2
  images = np.zeros((2, BATCH, 28, 28, 1), np.uint8)
  g, d = models.create(config.model, axis_name=step_lib.AXIS)
  state = _initial_state(config, g, d)
  assert int(state.terms["test_count"]) == 0
  step_fn = jax.jit(jax.vmap(step_lib.bind_step(g, d, config, num_devices=1),
                             in_axes=(None, 0, None), axis_name=step_lib.AXIS))
  for _ in range(2):
    state, metrics = jax.tree.map(lambda x: x[0], step_fn(state, {"image": images[None]},
                                                          jax.random.PRNGKey(0)))
  assert int(state.terms["test_count"]) == 4  # two steps of two D updates
  assert int(metrics["count"]) == 3  # the last update saw the state before it
  saver = checkpoint.Checkpointer(str(tmp_path / "ckpt"))
  saver.save(2, jax.device_get(state), {"batches_seen": 2})
  saver.wait()
  _, restored, _ = saver.restore(jax.device_get(_initial_state(config, g, d)))
  saver.close()
  assert int(restored.terms["test_count"]) == 4


def test_config_defaults_validation_and_sweep_keys_derive_from_the_registry():
  from jaxgan import sweep
  names = [t.name for t in objective.terms()]
  assert {"gp", "r1", "r2", "dragan", "feature_matching", "aux_class",
          "semi_supervised", "l1", "l2", "perceptual"} <= set(names)
  config = common.loss()
  assert set(config) == {"name", *objective.config_defaults()}
  for term in objective.terms():
    assert config[term.key] == term.default == 0.0
    assert (f"loss.{term.key}" in sweep.VECTOR_KEYS) == term.vectorisable
  for config_file in (REPO / "configs").glob("*.py"):
    assert "feature_matching=" not in config_file.read_text()  # every weight is <term>_weight
  bad = _config()
  bad.loss.r1_weight = -1.0
  with pytest.raises(ValueError, match="config.loss.r1_weight must be >= 0"):
    trainer.check_config(bad)
  bad = _config()
  bad.loss.aux_class_weight = 1.0
  with pytest.raises(ValueError, match="needs class labels .* set config.model.num_classes"):
    trainer.check_config(bad)
  bad = _config()
  bad.loss.l1_weight = 1.0
  with pytest.raises(ValueError, match="needs the paired target image"):
    trainer.check_config(bad)
  bad = _config()
  bad.loss["r3_weight"] = 1.0
  with pytest.raises(ValueError, match=r"Unknown config.loss keys \['r3_weight'\]"):
    trainer.check_config(bad)


def test_docs_table_of_terms_is_the_registry_s():
  text = (REPO / "docs" / "losses.md").read_text()
  assert objective.markdown_table() in text, (
      "docs/losses.md's table of terms is out of date: paste "
      "jaxgan.train.objective.markdown_table() into it")


def test_registering_a_bad_term_is_refused():
  with pytest.raises(ValueError, match="already registered"):
    objective.register(objective.Term("gp", "", "", d=lambda i, r: None))
  with pytest.raises(ValueError, match="unknown inputs"):
    objective.register(objective.Term("x", "", "", d=lambda i, r: None,
                                      needs=frozenset({"telepathy"})))
  with pytest.raises(ValueError, match="neither player"):
    objective.register(objective.Term("x", "", ""))
  with pytest.raises(ValueError, match="Unknown loss term 'r3'; valid: gp, r1"):
    objective.get("r3")


def test_weights_may_be_traced_per_member():
  base = objective.Objective.from_config(common.loss(r1_weight=10.0))
  traced = base.with_weights({"r1_weight": jnp.asarray(0.0), "adv_weight": 0.5})
  assert [t.name for t in base.active("d")] == ["r1"]
  assert traced.adv_weight == 0.5 and isinstance(traced.weights["r1"], jax.Array)
  assert [t.name for t in traced.active("d")] == ["r1"]  # computed, weighted by 0
  assert not base.active("g") and not objective.Objective.from_config(
      common.loss()).active("d")


def test_a_term_a_sweep_turns_on_is_prepared_from_the_config():
  """The base config has the penalty off, a member's traced weight turns it
  on: its option (gp_target) reaches the term as if it had been on."""
  config_loss = objective.default_config("wasserstein", gp_weight=0.0, gp_target=0.5)
  base = objective.Objective.from_config(config_loss)
  assert "gp" not in base.resources
  swept = base.with_weights({"gp_weight": jnp.array(1.0)})
  assert [t.name for t in swept.active("d")] == ["gp"] and swept.resources["gp"] == 0.5
