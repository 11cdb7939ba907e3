"""Sweeps: declaring members, vectorised training equal to single runs, resume,
and the summary (`jaxgan.sweep`)."""

import csv
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, adam_step_bound, assert_close_but_adam_flips, tiny_config

sys.path.insert(0, str(REPO))
from jaxgan import sweep  # noqa: E402
from jaxgan.train import trainer  # noqa: E402

from configs import dcgan, toy_ring  # noqa: E402

# Two members differing in everything a vectorised sweep may vary: the seed
# (init, data order, randomness), an optimizer hyperparameter and a loss weight.
TOY_MEMBERS = [
    {"seed": 0, "optimizer.g.learning_rate": 1e-3, "loss.adv_weight": 1.0},
    {"seed": 3, "optimizer.g.learning_rate": 5e-4, "loss.adv_weight": 0.5},
]
DCGAN_MEMBERS = [
    {"seed": 0, "optimizer.d.b1": 0.5, "loss.gp_weight": 0.0},
    {"seed": 1, "optimizer.d.b1": 0.0, "loss.gp_weight": 1.0},
]


def tiny_toy_config():
  config = toy_ring.get_config()
  config.model.update(g_width=8, d_width=8, latent_dim=4, pack=2)  # 2 per device
  config.data.num_examples = 1000
  config.train.update(batch_size=16, num_steps=4, steps_per_call=2, log_every=2,
                      sample_every=2, checkpoint_every=2, num_samples=16)
  config.evals.update(num_samples=256, batch_size=256, every=4)
  return config


def assert_states_close(a, b, tol, adam_flips=0.0, flip_bound=0.0):
  """Parameters, D's optimizer state and the EMA equal to `tol`, but for a
  fraction `adam_flips` of elements, each within `flip_bound`
  (conftest.adam_step_bound): Adam moves a weight by about the learning rate
  whatever its gradient's size, so a gradient element near 0 whose rounding
  differs between two programs moves it up to that (see
  conftest.assert_close_but_adam_flips)."""
  for what, tree_a, tree_b in (
      ("generator", a.generator.params, b.generator.params),
      ("discriminator", a.discriminator.params, b.discriminator.params),
      ("opt_state", a.discriminator.opt_state, b.discriminator.opt_state),
      ("ema", a.ema_params, b.ema_params)):
    assert_close_but_adam_flips(tree_a, tree_b, tol, adam_flips, flip_bound, what)
  assert int(a.step) == int(b.step)


# -- declaring a sweep ---------------------------------------------------------

def test_dict_is_a_product_and_list_a_zip():
  assert sweep.expand({"seed": [0, 1], "loss.gp_weight": [1.0, 10.0]}) == [
      {"seed": 0, "loss.gp_weight": 1.0}, {"seed": 0, "loss.gp_weight": 10.0},
      {"seed": 1, "loss.gp_weight": 1.0}, {"seed": 1, "loss.gp_weight": 10.0}]
  assert sweep.expand([{"seed": 0, "train.n_critic": 1},
                       {"seed": 1, "train.n_critic": 5}]) == [
      {"seed": 0, "train.n_critic": 1}, {"seed": 1, "train.n_critic": 5}]
  assert sweep.expand({"seed": 3}) == [{"seed": 3}]
  assert sweep.product({"seed": [0, 1]}, [{"a": 1, "b": 2}, {"a": 3, "b": 4}]) == [
      {"seed": 0, "a": 1, "b": 2}, {"seed": 0, "a": 3, "b": 4},
      {"seed": 1, "a": 1, "b": 2}, {"seed": 1, "a": 3, "b": 4}]
  with pytest.raises(TypeError, match="dict .product. or a list"):
    sweep.expand("seed=0")


def test_command_line_spec():
  members = sweep.parse("seed=0,1;optimizer.g.learning_rate=1e-3,2e-4"
                        "&loss.name=hinge,wasserstein")
  assert members == [
      {"seed": s, "optimizer.g.learning_rate": lr, "loss.name": name}
      for s in (0, 1) for lr, name in ((1e-3, "hinge"), (2e-4, "wasserstein"))]
  with pytest.raises(ValueError, match="as many values"):
    sweep.parse("seed=0,1&loss.gp_weight=1.0")
  with pytest.raises(ValueError, match="key=v1,v2"):
    sweep.parse("seed")


def test_unknown_key_and_bad_value_fail_naming_the_valid_keys():
  with pytest.raises(ValueError, match="Did you mean 'optimizer.g.learning_rate'.*"
                                       "Valid keys: .*train.batch_size"):
    sweep.member_configs(tiny_config(), {"optimizer.g.learnig_rate": [1e-3]})
  with pytest.raises(ValueError, match="Bad sweep value"):
    sweep.member_configs(tiny_config(), {"train.batch_size": ["big"]})
  with pytest.raises(ValueError, match="same member more than once"):
    sweep.member_configs(tiny_config(), [{"seed": 1}, {"seed": 1}])


def test_member_names_are_short_and_distinct():
  names, _, configs = sweep.member_configs(tiny_config(), {
      "seed": [0], "optimizer.g.learning_rate": [1e-3], "optimizer.d.learning_rate": [2e-4]})
  assert names == ["seed=0,g.learning_rate=0.001,d.learning_rate=0.0002"]
  assert configs[0].optimizer.d.learning_rate == 2e-4


def test_shape_changing_keys_force_process_mode():
  _, _, configs = sweep.member_configs(
      tiny_config(), {"seed": [0, 1], "model.g_width": [8, 16], "train.n_critic": [1]})
  with pytest.raises(ValueError, match="differ in model.g_width, which change it"):
    sweep.pick_mode(configs, "vectorised")
  assert sweep.pick_mode(configs) == "process"
  _, _, configs = sweep.member_configs(
      tiny_config(), {"seed": [0, 1], "loss.gp_weight": [0.0, 10.0],
                      "optimizer.d.b2": [0.9, 0.99]})
  assert sweep.pick_mode(configs) == "vectorised"
  with pytest.raises(ValueError, match="Unknown sweep mode 'fast'; valid: auto"):
    sweep.pick_mode(configs, "fast")


def test_auto_mode_groups_members_by_program():
  """A random search over program-changing keys (n_critic, a width) still
  vectorises the members that share a program; lone members are single runs."""
  spec = [{"seed": 0, "train.n_critic": 1}, {"seed": 1, "train.n_critic": 2},
          {"seed": 2, "train.n_critic": 1}, {"seed": 3, "train.n_critic": 3},
          {"seed": 4, "train.n_critic": 2}, {"seed": 5, "model.g_width": 16}]
  configs = sweep.member_configs(tiny_config(), spec)[2]
  assert sweep.plan(configs) == [("vectorised", [0, 2]), ("vectorised", [1, 4]),
                                 ("process", [3, 5])]
  assert sweep.plan(configs, "process") == [("process", list(range(6)))]
  with pytest.raises(ValueError, match="differ in model.g_width, train.n_critic"):
    sweep.plan(configs, "vectorised")
  same = sweep.member_configs(tiny_config(), {"seed": [0, 1]})[2]
  assert sweep.plan(same) == [("vectorised", [0, 1])]


def test_grouped_sweep_trains_each_program(toy_runs, tmp_path):
  """Members of two programs in one sweep: the shared-program pair ends where
  the toy sweep's vectorised members do (the same compiled program: exactly),
  the lone member where its single run does, and one summary lists all."""
  _, vectorised, _ = toy_runs
  lone = {"seed": 5, "train.n_critic": 2}
  spec = [TOY_MEMBERS[0], lone, TOY_MEMBERS[1]]
  states = sweep.train_sweep(tiny_toy_config(), spec, str(tmp_path / "sweep"))
  for name in vectorised:
    assert_states_close(states[name], vectorised[name], 0.0)
  names, _, configs = sweep.member_configs(tiny_toy_config(), spec)
  single = trainer.train_and_evaluate(configs[1], str(tmp_path / "single"))
  assert_states_close(states[names[1]], single, 0.0)
  assert int(single.step) == 4
  with open(tmp_path / "sweep" / "summary.csv") as f:
    assert [r["member"] for r in csv.DictReader(f)] == names


@pytest.mark.parametrize("members, devices, expected", [
    (4, 8, (4, 1)), (8, 8, (8, 1)), (16, 8, (8, 2)), (7, 4, (4, 2)), (6, 4, (3, 2)),
    (5, 8, (5, 1)), (3, 1, (1, 3))])
def test_members_spread_over_devices(members, devices, expected):
  assert sweep.layout(members, devices) == expected


def test_spare_member_slots_are_reported_with_the_device_counts_that_fit():
  # 3 seeds on 2 CPU devices: 2 slots each, one a copy (the WGAN-GP and
  # SNGAN seeds of issue 19 ran so until this was noticed).
  note = sweep.spare_slots_note(3, 2)
  assert "4 member slots, 1 of them a copy" in note and "25%" in note
  assert "count to 1 or at least 3," in note
  assert sweep.spare_slots_note(4, 2) is None and sweep.spare_slots_note(3, 4) is None
  assert "count to 1 or at least 5," in sweep.spare_slots_note(5, 2)
  assert "count to 1, 2, 5, 6, 7, 8, 9 or at least 10," in sweep.spare_slots_note(10, 4)


def test_a_vectorised_member_needs_its_batch_divisible_by_one_device_only(tmp_path):
  """A vectorised member is a single run on one device: its batch need not
  split over the 8 devices (3 seeds of batch 12 are checked, then stopped by
  the next check, a member workdir that holds another config); a process-mode
  member's batch does."""
  from jaxgan.train import validation
  from jaxgan.train import workdir as workdir_lib
  config = tiny_toy_config()
  config.train.batch_size = 12
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    validation.check_config(config)
  validation.check_config(config, num_devices=1)
  names, _, configs = sweep.member_configs(config, {"seed": [0, 1, 2]})
  other = configs[0].copy_and_resolve_references()
  other.loss.name = "hinge"
  (tmp_path / names[0]).mkdir()
  workdir_lib.write_config(other, str(tmp_path / names[0]))
  with pytest.raises(ValueError, match="loss.name: 'hinge' -> 'non_saturating'"):
    sweep.train_sweep(config, {"seed": [0, 1, 2]}, str(tmp_path))
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    sweep.train_sweep(config, {"seed": [0, 1, 2]}, str(tmp_path), mode="process")


@pytest.mark.parametrize("module", [toy_ring, dcgan])
def test_config_sweeps_are_vectorisable(module):
  names, _, configs = sweep.member_configs(module.get_config(), module.get_sweep())
  assert len(names) == 4 and len(set(c.seed for c in configs)) >= 2
  assert sweep.pick_mode(configs) == "vectorised"


# -- training ------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
  """The toy sweep vectorised, and in process mode (= single runs)."""
  root = tmp_path_factory.mktemp("toy")
  config = tiny_toy_config()
  vectorised = sweep.train_sweep(config, TOY_MEMBERS, str(root / "vectorised"),
                                 mode="vectorised")
  process = sweep.train_sweep(config, TOY_MEMBERS, str(root / "process"), mode="process")
  return root, vectorised, process


def test_vectorised_members_equal_single_runs(toy_runs):
  _, vectorised, process = toy_runs
  assert list(vectorised) == list(process) == sweep.member_configs(
      tiny_toy_config(), TOY_MEMBERS)[0]
  # Vmapped members against single runs: the same arithmetic per member, but
  # batched matmuls may sum in other orders. The MLPs' gradient elements are
  # sums over the batch of 16 of products through layers of width 8:
  # sum_bound(16 + 8) of their absolute terms, so the moments (|mu| <= |g|,
  # nu ~ g^2 / 1000) stay within 1e-5 where those sum to <= 3.4; a weight's
  # Adam steps (degree-0 functions of its gradients) within 2 d of
  # adam_step_bound (8.8e-3 for G's lr 1e-3 over 4 steps) where its gradients
  # are known to d: 1e-5 where d <= 0.06%. Elements whose gradient is closer to
  # cancelling (1 in 100 at most: 2 of the ~200 per tree) may flip, up to
  # adam_step_bound (1e-5 everywhere before: one flip would have failed it).
  # The other member's learning rate would move most elements by > 1e-3.
  bound = adam_step_bound(1e-3, 0.5, 0.999, 4)
  for name in vectorised:
    assert_states_close(vectorised[name], process[name], 1e-5, adam_flips=1e-2,
                        flip_bound=bound)
  first, second = vectorised.values()  # the members did differ (seeds: O(1))
  assert not np.allclose(first.generator.params["Dense_0"]["kernel"],
                         second.generator.params["Dense_0"]["kernel"])
  hyperparams = second.generator.opt_state.hyperparams
  assert np.isclose(hyperparams["learning_rate"], 5e-4)  # float32's: within U / 2


def test_each_member_writes_a_single_runs_files(toy_runs):
  root, vectorised, _ = toy_runs
  for mode in ("vectorised", "process"):
    for name in vectorised:
      member = root / mode / name
      assert sorted(p.name for p in (member / "samples").iterdir()) == [
          "step_0000002.png", "step_0000004.png"]
      assert (member / "checkpoints" / "4").is_dir()
      steps = [int(line.split('"step": ')[1].split(",")[0])
               for line in (member / "metrics.jsonl").read_text().splitlines()]
      assert steps == [2, 4, 4]  # losses at 2 and 4, the evaluation at 4


def test_summary_csv_table_and_plot(toy_runs, capsys):
  root, vectorised, _ = toy_runs
  with open(root / "vectorised" / "summary.csv") as f:
    rows = list(csv.DictReader(f))
  assert [r["member"] for r in rows] == list(vectorised)
  assert [float(r["optimizer.g.learning_rate"]) for r in rows] == [1e-3, 5e-4]
  assert {"step", "d_loss", "g_loss", "eval/toy_modes"} <= set(rows[0])
  assert all(r["step"] == "4" and np.isfinite(float(r["d_loss"])) for r in rows)
  with Image.open(root / "vectorised" / "summary.png") as image:
    assert image.width >= 3 * 260 and image.height >= 2 * 180
  table = sweep.format_table(sweep.summarize(
      str(root / "vectorised"), list(vectorised), TOY_MEMBERS))
  assert table.splitlines()[0].split()[:4] == ["member", "seed",
                                               "optimizer.g.learning_rate",
                                               "loss.adv_weight"]
  assert len(table.splitlines()) == 3
  del capsys


def test_sweep_resumes_as_a_whole(toy_runs, tmp_path):
  """Stopped after the checkpoint of step 2 and run again to step 4: the
  members end where an uninterrupted sweep does."""
  _, vectorised, _ = toy_runs
  config = tiny_toy_config()
  config.train.num_steps = 2
  sweep.train_sweep(config, TOY_MEMBERS, str(tmp_path))
  resumed = sweep.train_sweep(tiny_toy_config(), TOY_MEMBERS, str(tmp_path))
  for name in vectorised:
    assert_states_close(resumed[name], vectorised[name], 0.0)  # the same program: exact
    lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ['{"step": 2'] * 2 + ['{"step": 4'] * 2


def test_tiny_dcgan_member_equals_its_single_run(tmp_path):
  """BatchNorm, EMA, a per-member beta and gradient-penalty weight (0 for the
  first member: the term is computed and weighted by 0). The second member,
  which differs from the config in all of them, is compared with its single
  run (the first member's equality is the toy test's)."""
  config = tiny_config()
  config.train.update(num_steps=2, checkpoint_every=2)
  states = sweep.train_sweep(config, DCGAN_MEMBERS, str(tmp_path / "sweep"))
  names, _, configs = sweep.member_configs(config, DCGAN_MEMBERS)
  single = trainer.train_and_evaluate(configs[1], str(tmp_path / names[1]))
  # As above (2 steps, lr 2e-4, D's b1 = 0): convolution gradients sum over 16
  # examples x 14 x 14 positions, sum_bound(3136) = 3.7e-4 of their absolute
  # terms: moments within 1e-4 where those sum to <= 0.27, weights where their
  # gradients are known to 5% (adam_step_bound = 9.7e-4); the rest, at most 1
  # in 1,000 elements, within adam_step_bound.
  bound = adam_step_bound(2e-4, 0.0, 0.999, 2)
  assert_states_close(states[names[1]], single, 1e-4, adam_flips=1e-3, flip_bound=bound)
  # Not rounding: the other member's seed gives another init (O(0.02) apart).
  assert not np.allclose(jax.tree.leaves(states[names[0]].generator.params)[0],
                         jax.tree.leaves(single.generator.params)[0])


def test_convolves_finds_convolutions_inside_calls_and_custom_derivatives():
  """Whether a member step convolves decides how a CPU sweep runs its members
  (vmapped, or one after another): the detector must see through jit, scan
  and custom_vjp (the 'conv' layers), and not mistake a matmul."""
  from jaxgan.models import layers
  x = jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32)
  k = jax.ShapeDtypeStruct((4, 4, 3, 5), jnp.float32)
  conv = lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  assert sweep._convolves(conv, x, k)
  assert sweep._convolves(jax.jit(conv), x, k)
  assert sweep._convolves(layers.strided_conv, x, k)
  assert sweep._convolves(lambda x, k: jax.lax.scan(
      lambda c, _: (layers.strided_conv(c, k).sum() + c, None), x, None, length=2)[0], x, k)
  assert not sweep._convolves(lambda x, k: x.reshape(2, -1)[:, :48] @ k.reshape(-1, 5), x, k)
