"""Class-conditional GANs (CGAN, AC-GAN), their metrics, and the semi-supervised
K+1 GAN: configs run end to end on the labelled scikit-learn digits."""

import functools
import json

import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import data as data_lib
from jaxgan import evaluation, models
from jaxgan.models import conditional
from jaxgan.train import trainer

import conftest  # noqa: F401  (8 CPU devices)
from configs import acgan, cgan, sngan, ssgan


def _tiny(config, name):
  """A config shrunk to seconds, on the digits (labelled, offline)."""
  config.data.source = "digits"
  config.model.latent_dim = 8
  config.train.update(batch_size=16, n_critic=1, num_steps=2, steps_per_call=2, log_every=2,
                      sample_every=2, checkpoint_every=2, num_samples=20)
  config.evals.update(metrics="", num_samples=40, batch_size=40)
  if name == "cgan_mlp":
    config.model.update(g_z_units=8, g_y_units=8, g_width=8, d_x_units=8, d_y_units=8,
                        d_width=8)
    config.evals.update(metrics="fid,intra_fid,classifier_accuracy",
                        feature_net="classifier_mnist")
  elif name == "ssgan":
    config.model.update(g_width=8, d_widths=(8, 8))
    config.data.num_labeled = 20
    config.train.labeled_batch_size = 16
  else:
    config.model.update(g_width=8, d_width=8)
  return config


def _sngan_projection():
  """SNGAN made class-conditional (conditional BatchNorm in G, projection D)."""
  config = sngan.get_config("mnist")
  config.model.num_classes = 10
  return config


CONFIGS = {"cgan_mlp": lambda: cgan.get_config("mlp"),
           "cgan_dcgan": lambda: cgan.get_config("dcgan_fashion"),
           "acgan": acgan.get_config, "ssgan": ssgan.get_config,
           "sngan_projection": _sngan_projection}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Each config trained for 2 steps: name -> (config, workdir, metric records)."""
  out = {}
  for name, get_config in CONFIGS.items():
    config = _tiny(get_config(), name)
    workdir = tmp_path_factory.mktemp(name)
    trainer.train_and_evaluate(config, str(workdir))
    with open(workdir / "metrics.jsonl") as f:
      out[name] = (config, workdir, [json.loads(line) for line in f])
  return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_trains_two_steps(runs, name):
  config, workdir, records = runs[name]
  train = [r for r in records if "d_loss" in r]
  assert [r["step"] for r in train] == [2]
  assert np.isfinite(train[0]["d_loss"]) and np.isfinite(train[0]["g_loss"])
  assert (workdir / "samples" / "step_0000002.png").exists()


def test_conditional_sample_grid_has_a_row_per_class(runs):
  from PIL import Image
  config, workdir, _ = runs["cgan_mlp"]
  grid = np.asarray(Image.open(workdir / "samples" / "step_0000002.png"))
  # 20 samples for 10 classes: 10 rows of 2 columns of 28x28 with 2-pixel gaps.
  assert grid.shape[:2] == (10 * 30 + 2, 2 * 30 + 2)


def test_class_grid_inputs_repeat_z_down_columns():
  z = jnp.arange(14.0).reshape(7, 2)
  grid_z, labels = trainer.class_grid_inputs(z, num_classes=3)
  np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])
  np.testing.assert_array_equal(grid_z[0::2], np.repeat(z[:1], 3, axis=0))
  np.testing.assert_array_equal(grid_z[1::2], np.repeat(z[1:2], 3, axis=0))


def test_conditional_metrics_in_training(runs):
  records = runs["cgan_mlp"][2]
  evals = next(r for r in records if "eval/intra_fid" in r)
  assert evals["eval/intra_fid"] > 0 and evals["eval/intra_fid_max"] >= evals[
      "eval/intra_fid"]
  assert 0 <= evals["eval/classifier_accuracy"] <= 1


def test_acgan_class_loss_is_wired(runs):
  record = next(r for r in runs["acgan"][2] if "d_loss" in r)
  # Cross-entropy of 10 classes near chance after 2 steps: about 2 log 10 for D
  # (real + fake), log 10 for G. Not rounding: +-30% bounds how far from chance
  # 2 steps move an untrained classifier.
  assert 2 * np.log(10) * 0.7 < record["d_class_loss"] < 2 * np.log(10) * 1.3
  assert np.log(10) * 0.7 < record["g_class_loss"] < np.log(10) * 1.3
  assert 0 <= record["d_real_class_accuracy"] <= 1


def test_ssgan_supervised_loss_is_wired(runs):
  record = next(r for r in runs["ssgan"][2] if "d_loss" in r)
  assert np.log(10) * 0.7 < record["d_supervised_loss"] < np.log(10) * 1.3  # near chance
  weight = runs["ssgan"][0].loss.feature_matching_weight  # 1/250: improved-gan's mean
  # adv_weight=0: feature matching alone. float32's 1/250 (U / 2), the product
  # (U), and each record's mean over the logged steps (U each side): < 4 U,
  # within approx's rel=1e-6 (16.8 U).
  assert "g_feature_matching_loss" in record and record["g_loss"] == pytest.approx(
      weight * record["g_feature_matching_loss"])


@pytest.mark.parametrize("name", ["cgan_mlp", "cgan_dcgan", "acgan"])
def test_label_conditions_the_generator(name):
  config = _tiny(CONFIGS[name](), name).model
  generator = models.create(config)[0]
  z = jax.random.normal(jax.random.PRNGKey(0), (4, config.latent_dim))
  variables = jax.jit(functools.partial(generator.init, train=False))(
      jax.random.PRNGKey(1), z, jnp.zeros(4, jnp.int32))
  apply = jax.jit(functools.partial(generator.apply, train=False))
  out = {c: apply(variables, z, jnp.full(4, c, jnp.int32)) for c in (0, 1)}
  assert out[0].shape == (4, 28, 28, 1)
  # Not rounding: ignoring the label, the same program on the same inputs
  # would give the same floats; the label's embedding moves pixels by O(0.01+).
  assert np.abs(out[0] - out[1]).max() > 1e-4


def test_label_conditions_the_discriminator():
  config = _tiny(cgan.get_config("dcgan"), "cgan_dcgan").model
  discriminator = models.create(config)[1]
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1), minval=-1)
  variables = jax.jit(functools.partial(discriminator.init, train=False))(
      jax.random.PRNGKey(1), x, jnp.zeros(4, jnp.int32))
  apply = jax.jit(functools.partial(discriminator.apply, train=False))
  logits = [apply(variables, x, jnp.full(4, c, jnp.int32)) for c in (0, 1)]
  # Not rounding: ignoring the label, the logits would be the same floats.
  assert logits[0].shape == (4,) and np.abs(logits[0] - logits[1]).max() > 1e-6


def test_k_plus_one_logit_is_logsumexp():
  body = conditional.NoisyMLP(widths=(8,), input_noise=0.0, hidden_noise=0.0)
  discriminator = conditional.SemiSupervisedDiscriminator(body, num_classes=3)
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 4, 4, 1))
  variables = discriminator.init(jax.random.PRNGKey(1), x, train=False)
  # Scale the class layer up so that the logits reach the extremes.
  variables = jax.tree.map(lambda p: p * 300.0, variables)
  out = discriminator.apply(variables, x, train=False)
  class_logits = np.asarray(out["class_logits"], np.float64)
  z = np.exp(class_logits - class_logits.max(-1, keepdims=True))
  expected = class_logits.max(-1) + np.log(z.sum(-1))
  # float32's max + log(sum exp(x - max)) against float64 on the same class
  # logits: the sum in [1, 3] to 3 U, its log to 5 U absolute, the addition
  # to U of the result: within gamma(2) of it where |logit| >= 5 (the logits
  # are ~1e4 here; rtol=1e-5 before: looser than needed).
  np.testing.assert_allclose(out["logits"], expected, rtol=float32.gamma(2))
  # p(real) = Z / (Z + 1): the fake class's logit is 0. Both sides are 1 to
  # float32 for logits ~1e4 (exp(-1e4) underflows); in general ~20 U apart.
  np.testing.assert_allclose(jax.nn.sigmoid(out["logits"]),
                             1 - jax.nn.softmax(np.concatenate(
                                 [class_logits, np.zeros((5, 1))], -1))[:, -1],
                             rtol=1e-5, atol=1e-7)


def test_noise_only_while_training():
  body = conditional.NoisyMLP(widths=(8,))
  x = jnp.ones((2, 3))
  variables = body.init(jax.random.PRNGKey(0), x, train=False)
  rngs = {"dropout": jax.random.PRNGKey(1)}
  clean = [body.apply(variables, x, train=False) for _ in range(2)]
  noisy = body.apply(variables, x, train=True, rngs=rngs)
  np.testing.assert_array_equal(clean[0], clean[1])
  assert np.abs(noisy - clean[0]).max() > 0.1  # not rounding: noise of std 0.3 / 0.5


def test_labeled_subset_is_balanced_and_deterministic():
  labels = np.random.default_rng(0).integers(0, 10, 5000)
  subset = trainer.labeled_subset(labels, 100, 10, seed=0)
  assert len(np.unique(subset)) == 100
  np.testing.assert_array_equal(np.bincount(labels[subset], minlength=10), [10] * 10)
  np.testing.assert_array_equal(subset, trainer.labeled_subset(labels, 100, 10, seed=0))
  assert not np.array_equal(subset, trainer.labeled_subset(labels, 100, 10, seed=1))


# -- metrics with known answers ------------------------------------------------

def test_intra_fid_hand_computed():
  square = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
  real = np.concatenate([square, square + [3.0, 0.0]])
  real_labels = np.array([0] * 4 + [1] * 4)
  same = evaluation.intra_fid(real, real_labels, real, real_labels)
  # float64 on features ~1: the trace of C + C - 2 sqrtm(C C) cancels to a few
  # U64 = 1.1e-16 (sqrtm's error), far below abs=1e-9.
  assert same["intra_fid"] == pytest.approx(0.0, abs=1e-9)
  # The classes swapped: unconditional FID 0, but each class is 3 away: 9.
  swapped = evaluation.intra_fid(real, real_labels, real, 1 - real_labels)
  assert swapped == pytest.approx({"intra_fid": 9.0, "intra_fid_max": 9.0})
  assert evaluation.fid_from_features(real, real) == pytest.approx(0.0, abs=1e-9)


def test_classifier_accuracy_hand_computed():
  logits = np.array([[2.0, 1.0], [0.0, 5.0], [3.0, -1.0], [0.0, 1.0]])
  assert evaluation.classifier_accuracy(logits, np.array([0, 1, 1, 1])) == 0.75


def _stub_net():
  """Features: (mean, std) of the pixels; logits: -|mean - 20 k| for 10 classes."""
  def apply(variables, images):
    x = images.reshape(images.shape[0], -1).astype(jnp.float32)
    mean = x.mean(-1)
    return {"features": jnp.stack([mean, x.std(-1)], -1),
            "logits": -jnp.abs(mean[:, None] - 20.0 * jnp.arange(10))}
  return evaluation.FeatureNet("classifier_stub", apply, {}, "", (1,), "stub")


def test_evaluator_conditional_metrics(tmp_path):
  rng = np.random.default_rng(0)
  classes = np.repeat(np.arange(10), 30).astype(np.int32)
  images = (20 * classes[:, None, None, None] + rng.integers(0, 5, (300, 4, 4, 1))
            ).astype(np.uint8)
  dataset = data_lib.ImageDataset(images, classes, 10, "stub")
  evals = evaluation.default_config()
  evals.update(metrics="intra_fid,classifier_accuracy", num_samples=300,
               batch_size=300, cache_dir=str(tmp_path))
  evaluator = evaluation.Evaluator(evals, dataset, str(tmp_path), num_classes=10,
                                   feature_net=_stub_net())
  asked = []

  def sample_fn(rng, n, labels):  # a perfect generator: the real images of a class
    asked.append(np.asarray(labels))  # sample i is for class i mod 10: occurrence i // 10
    return np.stack([images[classes == c][i // 10]
                     for i, c in enumerate(np.asarray(labels))])

  good = evaluator(sample_fn, step=1)
  np.testing.assert_array_equal(np.bincount(np.concatenate(asked)), [30] * 10)
  assert good["classifier_accuracy"] == 1.0
  # The same images through the same float32 program and batch shape (300), in
  # another order: features a sum of 16 pixels <= 184 apart at most
  # (sum_bound(16, 184) = 3.7e-4), which moves a class's FID by ||d mu||^2 +
  # ||dC||^2 / (4 lambda_min) (second order: the first cancels), with dC <=
  # 2 sqrt(lambda_max) d mu and the classes' lambda in [0.0126, 0.166]: < 2e-6
  # (abs=1e-6 before: too tight); the wrong class's images give 400.
  assert good["intra_fid"] == pytest.approx(0.0, abs=1e-5)
  # Images of the next class: each class's FID is the squared mean shift, 20^2
  # (not rounding: 300 leaves 100 for the classes' spread, which is equal).
  wrong = evaluator(lambda rng, n, labels: sample_fn(rng, n, (labels + 1) % 10), 2)
  assert wrong["classifier_accuracy"] == 0.0
  assert wrong["intra_fid"] > 300


# -- config errors -------------------------------------------------------------

def test_conditional_model_needs_labelled_data():
  config = _tiny(cgan.get_config("mlp"), "cgan_mlp")
  unlabelled = data_lib.ImageDataset(np.zeros((4, 28, 28, 1), np.uint8), None, None,
                                     "folder:x")
  with pytest.raises(ValueError, match="has no labels"):
    trainer.check_data(config, unlabelled)
  config.model.num_classes = 5
  with pytest.raises(ValueError, match=r"10 classes but config.model.num_classes=5"):
    trainer.check_data(config, data_lib.ImageDataset(
        np.zeros((4, 28, 28, 1), np.uint8), np.arange(4) % 10, 10, "d"))


@pytest.mark.parametrize("update, message", [
    ({"model.name": "dcgan"}, "takes no labels"),
    ({"model.num_classes": 0}, "is class-conditional"),
    ({"evals.metrics": "intra_fid", "model.name": "dcgan", "model.num_classes": 0},
     "class-conditional generators"),
])
def test_bad_conditional_configs(update, message, tmp_path):
  config = cgan.get_config("dcgan")
  for key, value in update.items():
    section, field = key.split(".")
    config[section][field] = value
  with pytest.raises(ValueError, match=message):
    trainer.check_config(config)
    evaluation.Evaluator(config.evals, None, str(tmp_path), num_classes=0)


@pytest.mark.parametrize("update, message", [
    ({"data.num_labeled": 95}, "positive multiple of config.model.d_classes"),
    ({"train.labeled_batch_size": 0}, "labeled_batch_size"),
    ({"loss.semi_supervised_weight": 0.0}, "set config.loss.semi_supervised_weight"),
])
def test_bad_semi_supervised_configs(update, message):
  config = ssgan.get_config()
  config.train.batch_size = 96
  config.train.labeled_batch_size = 96
  for key, value in update.items():
    section, field = key.split(".")
    config[section][field] = value
  with pytest.raises(ValueError, match=message):
    trainer.check_config(config)


def test_semi_supervised_needs_a_k_plus_one_discriminator():
  config = _tiny(cgan.get_config("mlp"), "cgan_mlp")
  config.loss.semi_supervised_weight = 1.0
  with pytest.raises(ValueError, match="K\\+1-class discriminator"):
    trainer.check_config(config)


def test_config_variants():
  assert {cgan.get_config(v).model.name for v in cgan.VARIANTS} == {"cgan_mlp",
                                                                     "cgan_dcgan"}
  assert cgan.get_config("mlp_fashion").evals.feature_net == "classifier_fashion_mnist"
  with pytest.raises(ValueError, match="valid: mlp, dcgan"):
    cgan.get_config("bigmlp")
  assert isinstance(acgan.get_config("fashion_mnist"), ml_collections.ConfigDict)


def test_ssgan_test_error_uses_the_polyak_averaged_discriminator(runs):
  """configs/ssgan.py keeps a Polyak average of D (optimizer.d.polyak): the
  test error is the averaged weights' (as improved-gan's), beside the
  weights' own; both count errors on the run's test split."""
  from jaxgan import evaluate
  from jaxgan.train import polyak
  config, workdir, _ = runs["ssgan"]
  assert config.optimizer.d.polyak == 0.9999
  result = evaluate.discriminator_test_error(str(workdir))
  n = result["num_images"]
  assert result["averaged"] and n > 1000
  assert 0 <= result["errors"] <= n and 0 <= result["errors_last"] <= n
  _, state = evaluate.restore_state(config, str(workdir))
  average = polyak.averaged_params(state.discriminator.opt_state)
  assert any(np.any(a != p) for a, p in zip(jax.tree.leaves(average),
                                            jax.tree.leaves(state.discriminator.params)))
