"""BigGAN (jaxgan/models/biggan.py, configs/biggan.py, the 'ortho' term):
layers against their formulas, shapes, parameter counts, training.

The reference is github.com/ajbrock/BigGAN-PyTorch (commit 9845943). Where
its modules can be imported (torch installed and BIGGAN_OFFICIAL naming a
checkout), tests build them, count their parameters and check that G and D
compute the same functions with the same weights; otherwise they are skipped.
"""

import json
import os
import sys

import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import biggan
from jaxgan.train import objective, setup, trainer

import conftest  # 8 CPU devices; configs on sys.path
from configs import biggan as biggan_config

KEY = jax.random.PRNGKey(0)
# sum(p.numel() for p in module.parameters()) of BigGAN.py's Generator and
# Discriminator (torch 2.13, CPU), built with the launch scripts' settings:
# launch_cifar_ema.sh (G_ch = D_ch = 64, 32 px, dim_z 128, 10 classes, no
# G_shared, no hier, no attention) and launch_BigGAN_bs256x8.sh (G_ch =
# D_ch = 96, 128 px, attention 64, G_shared, shared_dim 128, hier, dim_z
# 120, 1000 classes). Parameters only: SN's u and sv and BN's running
# statistics are buffers in torch and 'batch_stats' here.
REFERENCE_COUNTS = {"cifar10": {"G": 4_304_387, "D": 4_207_361},
                    "128": {"G": 70_433_988, "D": 87_982_370}}


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def _abstract(config_model, batch=2):
  """(G's variables, images, D's variables, logits), as shapes only."""
  g, d = models.create(config_model)
  z = jnp.zeros((batch, config_model.latent_dim))
  y = jnp.zeros((batch,), jnp.int32)
  g_vars, images = jax.eval_shape(
      lambda k: g.init_with_output(k, z, y, train=False)[::-1], KEY)
  d_vars, logits = jax.eval_shape(
      lambda k: d.init_with_output(k, jnp.zeros(images.shape), y, train=False)[::-1], KEY)
  return g_vars, images, d_vars, logits


def _tiny_model(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="biggan", image_size=32, channels=3, latent_dim=16, g_width=4, d_width=4,
      num_classes=3, shared_dim=8, g_attention="16", d_attention="16"))
  config.update(overrides)
  return config


# -- numpy references ------------------------------------------------------------

def _np_sigma(w, u, eps):
  """layers.py `power_iteration`, one step from u (1, out): W (out, in)."""
  normalize = lambda x: x / max(np.linalg.norm(x), eps)
  v = normalize(u @ w)
  u = normalize(v @ w.T)
  return float((v @ w.T @ u.T).squeeze())


def _np_sn_kernel(variables, eps):
  """A Flax SN layer's kernel divided by its sigma (W = kernel (.., out) as
  (out, -1))."""
  kernel = np.asarray(variables["params"]["kernel"], np.float64)
  w = kernel.reshape(-1, kernel.shape[-1]).T
  return kernel / _np_sigma(w, np.asarray(variables["batch_stats"]["u"], np.float64), eps)


def _sub(variables, name):
  return {c: v[name] for c, v in variables.items() if name in v}


def test_attention_is_the_reference_formula():
  x = np.asarray(jax.random.normal(KEY, (2, 4, 6, 16)))
  module = biggan.Attention(eps=1e-6)
  variables = module.init(KEY, x, train=False)
  variables = jax.tree.map(np.asarray, variables)
  variables["params"]["gamma"] = np.float32(0.7)  # 0 at init, which hides o
  got = module.apply(variables, x, train=False)

  conv = lambda name, t: t @ _np_sn_kernel(_sub(variables, name), 1e-6)[0, 0]
  pool = lambda t: t.reshape(2, 2, 2, 3, 2, -1).max(axis=(2, 4))  # 2x2 max pool
  x64 = x.astype(np.float64)
  theta = conv("theta", x64).reshape(2, 24, 2)
  phi = pool(conv("phi", x64)).reshape(2, 6, 2)
  g = pool(conv("g", x64)).reshape(2, 6, 8)
  logits = theta @ phi.transpose(0, 2, 1)
  beta = np.exp(logits - logits.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = conv("o", (beta @ g).reshape(2, 4, 6, 8))
  want = 0.7 * o + x64
  # Ours in float32, the reference in float64: 10 layers deep (each SN
  # sigma's power iteration: 5 products and norms; theta / phi / g, the
  # logits, the softmax's sum, beta g, o) of fan-in <= 16, magnitudes (sums of
  # |w| |x|, computed once: the data are fixed) <= 7.3, the logits'. exp turns
  # the logits' absolute error into beta's relative error, plus its own few
  # ulps: network_bound's factor 2 (two float32 evaluations) covers those. 1.5e-4
  # (5e-7 here); without the attention (gamma = 0) o is up to 2.
  np.testing.assert_allclose(got, want, rtol=0, atol=float32.network_bound(10, 16, 7.3))
  assert module.init(KEY, x, train=False)["params"]["gamma"] == 0  # SAGAN: starts as x


@pytest.mark.parametrize("shared", [True, False])
def test_conditional_batch_norm_is_the_reference_formula(shared):
  """ccbn in training: batch statistics, x_hat * (1 + gain(c)) + bias(c)."""
  x = np.asarray(jax.random.normal(KEY, (4, 3, 3, 5))) * 3 + 1
  c = (np.asarray(jax.random.normal(jax.random.PRNGKey(1), (4, 6))) if shared
       else np.array([0, 2, 1, 2]))
  module = biggan.ConditionalBatchNorm(shared=shared, num_classes=3, sn_eps=1e-6)
  variables = jax.tree.map(np.asarray, module.init(KEY, x, c, train=False))
  got, _ = module.apply(variables, x, c, train=True, mutable=["batch_stats"])

  x64 = x.astype(np.float64)
  mean, var = x64.mean((0, 1, 2)), x64.var((0, 1, 2))
  x_hat = (x64 - mean) / np.sqrt(var + 1e-5)
  if shared:
    gain = c @ _np_sn_kernel(_sub(variables, "gain"), 1e-6)
    bias = c @ _np_sn_kernel(_sub(variables, "bias"), 1e-6)
  else:
    gain = variables["params"]["gain"]["embedding"][c]
    bias = variables["params"]["bias"]["embedding"][c]
  want = x_hat * (1 + gain[:, None, None]) + bias[:, None, None]
  # Statistics over 4 x 3 x 3 = 36 values per channel: the mean is off by <=
  # gamma(36) max |x|, which x_hat carries over std; the variance (perhaps
  # mean(x^2) - mean^2) by <= 3 gamma(36) mean(x^2), which x_hat carries
  # relative, halved by the square root. Then times 1 + gain, plus bias (the
  # SN linear maps' 6 terms and sigma: 4 more roundings, with the add and
  # product).
  std = np.sqrt(var + 1e-5)
  x_hat_error = ((np.abs(x64).max() + np.abs(mean)) / std
                 + 1.5 * np.abs(x_hat).max((0, 1, 2)) * (var + mean ** 2) / std ** 2)
  magnitude = x_hat_error.max() * np.abs(1 + gain).max() + np.abs(bias).max()
  np.testing.assert_allclose(got, want, rtol=0,
                             atol=float32.sum_bound(36 + 4, magnitude))


def test_spectral_norm_updates_u_in_training_only():
  x = np.ones((2, 7), np.float32)
  module = biggan.SNDense(5, eps=1e-6)
  variables = module.init(KEY, x, train=False)
  _, eval_updates = module.apply(variables, x, train=False, mutable=["batch_stats"])
  _, train_updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
  u0 = variables["batch_stats"]["u"]
  np.testing.assert_array_equal(eval_updates["batch_stats"]["u"], u0)
  w = np.asarray(variables["params"]["kernel"], np.float64).T
  v = u0 @ w / np.linalg.norm(u0 @ w)
  # Two layers of fan-in <= 7 (v = u W / |u W|, u = v W^T / |v W^T|), 2 more
  # roundings each for the norm's square root and the division; magnitude:
  # |v| |W^T| over the norm the result is divided by (u's components are <= 1).
  magnitude = (np.abs(v) @ np.abs(w.T)).max() / np.linalg.norm(v @ w.T)
  np.testing.assert_allclose(train_updates["batch_stats"]["u"],
                             v @ w.T / np.linalg.norm(v @ w.T), rtol=0,
                             atol=float32.network_bound(2, 7 + 2, magnitude))


# -- Orthogonal regularization ---------------------------------------------------

def _torch_rows(path, leaf):
  """A Flax weight as torch holds it, viewed (out, -1): conv kernels
  (kh, kw, in, out) -> (out, in, kh, kw), dense (in, out) -> (out, in),
  embeddings as they are."""
  if path[-1] != "kernel":
    return leaf.reshape(leaf.shape[0], -1), lambda g: g.reshape(leaf.shape)
  if leaf.ndim == 4:
    return (leaf.transpose(3, 2, 0, 1).reshape(leaf.shape[3], -1),
            lambda g: g.reshape(leaf.shape[3], leaf.shape[2], *leaf.shape[:2]
                                ).transpose(2, 3, 1, 0))
  return leaf.T, lambda g: g.T


def _small_params():
  keys = jax.random.split(KEY, 4)
  return {"block": {"conv": {"kernel": jax.random.normal(keys[0], (3, 3, 2, 4)),
                             "bias": jax.random.normal(keys[1], (4,))},
                    "gain": {"kernel": jax.random.normal(keys[2], (5, 3))}},
          "embed": {"embedding": jax.random.normal(keys[3], (3, 6))},
          "shared": {"embedding": jnp.ones((4, 6))}}


def _penalised_weights(params):
  """(names, leaf in float64, (torch's W, back to the leaf's layout)) of each
  leaf; None for the rows of those the penalty skips (fewer than 2 axes, the
  shared embedding)."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    names = tuple(k.key for k in path)
    leaf = np.asarray(leaf, np.float64)
    skipped = leaf.ndim < 2 or "shared" in names
    yield names, leaf, None if skipped else _torch_rows(names, leaf)


def _ortho_magnitudes(params):
  """Per weight that the penalty covers, 2 |W| |W|^T |W| in its own layout
  (zero elsewhere): it bounds the sums of absolute terms of the gradient
  2 ((W W^T) (1 - I)) W, and of the Gram matrix's errors that it carries."""
  return {names: np.zeros_like(leaf) if rows is None
          else rows[1](2 * np.abs(rows[0]) @ np.abs(rows[0]).T @ np.abs(rows[0]))
          for names, leaf, rows in _penalised_weights(params)}


def test_ortho_penalty_by_hand():
  # W = [[1, 1], [1, 0]] (a Dense kernel is W^T): W W^T = [[2, 1], [1, 1]],
  # off the diagonal 1 and 1: 1/2 (1 + 1) = 1; gradient 2 [[0, 1], [1, 0]] W.
  w = jnp.array([[1.0, 1.0], [1.0, 0.0]])
  params = {"dense": {"kernel": w.T}}
  assert objective.ortho_penalty(params) == 1.0
  grad = jax.grad(objective.ortho_penalty)(params)["dense"]["kernel"]
  np.testing.assert_array_equal(grad.T, [[2.0, 0.0], [2.0, 2.0]])


def test_ortho_penalty_and_gradient_are_the_reference_s():
  """Value: sum over weights with >= 2 axes, but the shared embedding, of
  1/2 ||W W^T (1 - I)||^2 with W torch's (out, -1); gradient: utils.py
  `ortho`'s 2 ((W W^T) (1 - I)) W, in each weight's own layout."""
  params = _small_params()
  value, grads = jax.value_and_grad(objective.ortho_penalty)(params, ("shared",))
  want_value, value_magnitude, flat = 0.0, 0.0, {}
  for names, leaf, rows in _penalised_weights(params):
    if rows is None:
      flat[names] = np.zeros_like(leaf)
      continue
    w, back = rows
    off = (w @ w.T) * (1 - np.eye(w.shape[0]))
    want_value += 0.5 * np.sum(off ** 2)
    # An entry of W W^T (<= 18 products) is off by <= gamma(19) (|W| |W|^T)_ij,
    # which its square carries times |off_ij|.
    value_magnitude += np.sum(np.abs(off) * (np.abs(w) @ np.abs(w).T))
    flat[names] = back(2 * off @ w)
  # Ours in float32, the reference in float64: the Gram entries' errors, and
  # the sum of 34 squares (positive: relative).
  np.testing.assert_allclose(value, want_value, rtol=float32.sum_bound(34),
                             atol=float32.sum_bound(18, value_magnitude))
  magnitudes = _ortho_magnitudes(params)
  for path, grad in jax.tree_util.tree_flatten_with_path(grads)[0]:
    names = tuple(k.key for k in path)
    # Two layers: W W^T (<= 18 products), then (.) W (<= 4).
    atol = float32.network_bound(2, 18, magnitudes[names].max())
    np.testing.assert_allclose(grad, flat[names], rtol=0, atol=atol)


def test_ortho_term_adds_beta_times_the_reference_gradient_to_g():
  """Through the registry: G's loss with ortho_weight = beta has the
  gradient beta * utils.ortho's with respect to G's parameters."""
  beta = 1e-4
  obj = objective.Objective.from_config(objective.default_config("hinge", ortho_weight=beta))
  assert [t.name for t in obj.active("g")] == ["ortho"]
  params = _small_params()

  def g_loss(p):
    inputs = objective.GInputs(fake=None, real=None, cond=None, label=None, fake_out=None,
                               real_out=None, key=KEY, step=jnp.int32(0), params=p)
    loss, metrics, _, _ = obj.add_terms("g", jnp.zeros(()), inputs, {})
    return loss, metrics

  (loss, metrics), grads = jax.value_and_grad(g_loss, has_aux=True)(params)
  # 0 + beta p against beta p: one float32 product each, at most U apart;
  # 1e-6 (17 U) is far below a missing or doubled weight.
  np.testing.assert_allclose(loss, beta * metrics["g_ortho_penalty"], rtol=1e-6)
  ref = jax.grad(objective.ortho_penalty)(params, ("shared",))
  # Two float32 evaluations of beta 2 ((W W^T) (1 - I)) W, beta applied at the
  # start (the cotangent) or the end: 2 layers of <= 18 products and the scaling.
  magnitudes = _ortho_magnitudes(params)
  magnitudes = [magnitudes[tuple(k.key for k in path)]
                for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  for got, want, magnitude in zip(jax.tree.leaves(grads), jax.tree.leaves(ref),
                                  magnitudes, strict=True):
    atol = beta * float32.network_bound(2, 18 + 1, magnitude.max())
    np.testing.assert_allclose(got, beta * want, rtol=0, atol=atol)
  assert not np.any(grads["shared"]["embedding"])  # utils.ortho's blacklist


# -- Architecture ----------------------------------------------------------------

def test_hierarchical_latents_split_z_one_chunk_per_block():
  g_vars, images, _, _ = _abstract(_tiny_model(latent_dim=16))  # 3 blocks + linear: 4
  params = g_vars["params"]
  assert params["linear"]["kernel"].shape == (4, 16 * 16)  # G_arch[32]: 4 * width
  for i in range(3):
    assert params[f"block{i}"]["bn1"]["gain"]["kernel"].shape == (8 + 4, 16)
    assert params[f"block{i}"]["bn2"]["bias"]["kernel"].shape == (8 + 4, 16)
  assert images.shape == (2, 32, 32, 3)
  g_vars, _, _, _ = _abstract(_tiny_model(latent_dim=16, hierarchical=False))
  assert g_vars["params"]["linear"]["kernel"].shape == (16, 256)
  assert g_vars["params"]["block0"]["bn1"]["gain"]["kernel"].shape == (8, 16)


def test_each_z_chunk_reaches_only_its_block():
  """Chunk 0 feeds the first linear layer, chunk i + 1 block i's BatchNorms
  (BigGAN.py `Generator.forward`): perturbing chunk 2 moves block 1's
  conditional gains and no other block's."""
  config = _tiny_model(latent_dim=16, g_attention="0")
  g, _ = models.create(config)
  z, y = jax.random.normal(KEY, (4, 16)), jnp.array([0, 1, 2, 0])
  variables = g.init(KEY, z, y, train=False)

  def gains(zz):
    _, state = g.apply(variables, zz, y, train=False, mutable=["intermediates"],
                       capture_intermediates=lambda m, _: m.name == "gain")
    inter = state["intermediates"]
    return [np.asarray(inter[f"block{i}"]["bn1"]["gain"]["__call__"][0]) for i in range(3)]

  before, after = gains(z), gains(z.at[:, 8:12].add(1.0))
  # Unchanged blocks compute the same ops on the same values (equal to the
  # bit), the changed one moves by O(1): np.allclose's defaults only tell the
  # two apart.
  assert [not np.allclose(a, b) for a, b in zip(before, after)] == [False, True, False]
  grads = jax.grad(lambda zz: g.apply(variables, zz, y, train=False).sum())(z)
  assert np.all(np.abs(grads).sum(0) > 0)  # every coordinate of z is used


@pytest.mark.parametrize("size, blocks", [(32, 3), (64, 4), (128, 5)])
def test_shapes_at_each_size(size, blocks):
  config = _tiny_model(image_size=size, latent_dim=4 * (blocks + 1), g_width=1,
                       d_width=1, g_attention="0", d_attention="0")
  g_vars, images, d_vars, logits = _abstract(config, batch=3)
  assert images.shape == (3, size, size, 3) and logits.shape == (3,)
  assert sum(k.startswith("block") for k in g_vars["params"]) == blocks
  assert len(biggan.d_arch(1, size)) == sum(k.startswith("block") for k in d_vars["params"])


def test_tiny_model_outputs_are_finite_and_in_range():
  config = _tiny_model()
  g, d = models.create(config)
  z, y = jax.random.normal(KEY, (4, 16)), jnp.array([0, 1, 2, 0])
  g_vars = g.init(KEY, z, y, train=False)
  images, _ = g.apply(g_vars, z, y, train=True, mutable=["batch_stats"])
  d_vars = d.init(KEY, images, y, train=False)
  logits = d.apply(d_vars, images, y, train=False)
  assert images.shape == (4, 32, 32, 3) and logits.shape == (4,)
  assert np.all(np.abs(images) <= 1) and np.all(np.isfinite(logits))
  # G_arch[32]: attention after block 1 (16x16); D_arch[32] lists 16 for all four.
  assert [k for k in g_vars["params"] if k.startswith("attention")] == ["attention1"]
  assert [k for k in d_vars["params"] if k.startswith("attention")] == [
      f"attention{i}" for i in range(4)]


@pytest.mark.parametrize("variant", ["cifar10", "128"])
def test_parameter_counts_are_the_reference_s(variant):
  g_vars, _, d_vars, _ = _abstract(biggan_config.get_config(variant).model)
  assert {"G": _count(g_vars["params"]),
          "D": _count(d_vars["params"])} == REFERENCE_COUNTS[variant]


@pytest.mark.parametrize("overrides, message", [
    (dict(image_size=48), r"image sizes \(32, 64, 128\)"),
    (dict(latent_dim=15), "multiple of 4"),
    (dict(shared=False), "hierarchical needs config.model.shared"),
    (dict(g_attention="64"), "G has no block at resolution 64"),
    (dict(d_attention="32"), "D has no block at resolution 32"),
    (dict(g_width=1), "needs at least 8 channels"),
    (dict(init="kaiming"), "valid: ortho, N02, glorot"),
    (dict(num_classes=0), "class-conditional"),
])
def test_check_says_what_to_change(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.check(_tiny_model(**overrides))


def test_config_variants():
  cifar = biggan_config.get_config("cifar10")
  assert (cifar.train.batch_size, cifar.train.n_critic, cifar.loss.name) == (50, 4, "hinge")
  assert (cifar.optimizer.g.learning_rate, cifar.optimizer.d.learning_rate) == (2e-4, 2e-4)
  assert (cifar.optimizer.g.b1, cifar.optimizer.g.b2) == (0.0, 0.999)
  big = biggan_config.get_config("128")
  assert (big.optimizer.g.learning_rate, big.optimizer.d.learning_rate) == (1e-4, 4e-4)
  assert (big.loss.ortho_weight, big.model.latent_dim, big.model.shared_dim) == (1e-4, 120, 128)
  for variant in biggan_config.VARIANTS:
    config = biggan_config.get_config(variant)
    models.check(config.model)
    objective.check_config(config, models.kind(config.model))
  assert models.spec("biggan").truncation == "latent"
  with pytest.raises(ValueError, match="cifar10, mnist, fashion_mnist, 64, 128"):
    biggan_config.get_config("256")


# -- Training --------------------------------------------------------------------

def _tiny_config():
  config = biggan_config.get_config("mnist")
  config.model.update(image_size=32, channels=1, latent_dim=16, g_width=4, d_width=4,
                      num_classes=10, shared_dim=8)
  config.data = ml_collections.ConfigDict(config.data.to_dict())
  config.data.update(source="digits", path="")
  config.evals.update(metrics="", every=0)
  config.train.update(batch_size=16, n_critic=2, num_steps=2, steps_per_call=2,
                      log_every=2, sample_every=2, checkpoint_every=2, num_samples=20)
  return config


def test_the_config_trains_and_eight_devices_compute_what_one_device_computes(tmp_path):
  """A tiny config trains through `train_and_evaluate` (8 devices), and the
  same two steps on 1 device (the run's initial state, key and batches) end
  at the same parameters, to float32 error (sums in another order): the
  pmapped step with SN vectors, synchronised BatchNorm and the ortho term.
  With plain SGD: G's conv biases feed BatchNorms, so their exact gradient
  is 0 and the computed one is rounding noise, which Adam's first steps
  (lr * g / |g|) would turn into +-lr on either side. Attention off (a
  smaller compile; attention has its own tests)."""
  config = _tiny_config()
  config.model.g_attention = config.model.d_attention = "0"
  config.data.on_device = False  # host batches, to feed the 1-device step too
  for player in ("g", "d"):
    config.optimizer[player].update(name="sgd", learning_rate=0.01)
  eight = trainer.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / "metrics.jsonl") as f:
    record = [json.loads(line) for line in f][-1]
  assert record["step"] == 2
  for metric in ("d_loss", "g_loss", "g_ortho_penalty", "g_adversarial_loss"):
    assert np.isfinite(record[metric]), (metric, record)
  assert record["g_ortho_penalty"] > 0

  dataset, _ = setup.load_dataset(config)
  initial = setup.build(config, dataset.images.shape[1:])[0]  # the run's, cached
  one = conftest.steps_on_one_device(config, dataset, initial, 0, 2)
  for player in ("generator", "discriminator"):
    for tree in ("params", "batch_stats"):
      a, b = getattr(getattr(one, player), tree), getattr(getattr(eight, player), tree)
      # Not a worst-case bound (suspect; see tests/test_stylegan2.py's twin):
      # the runs differ in how batch sums are split (8 devices of 2 examples
      # and a mean over devices, against 16) and in XLA's blocking for each
      # batch size, so in the rounding of sums over up to 16 x 32 x 32 =
      # 16,384 positions (BatchNorm statistics, kernel and bias gradients):
      # gamma(16384) = 1e-3 of their absolute sums each, worst case.
      # Higham and Mary's probabilistic bound (SIAM J. Sci. Comput. 41,
      # 2019), lambda sqrt(n) U, is float32.gamma(10 * 128) = 7.6e-5 per sum
      # at lambda = 10, about the 1e-4 of each leaf's largest value allowed
      # here (the updates are at most that value); 1e-6 of it here. A
      # device reduction missing or doubled is O(1).
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-4 * (np.abs(x).max() + 1e-12))


# -- The reference PyTorch modules (skipped without torch and a checkout) ------

def _reference():
  torch = pytest.importorskip("torch", reason="torch is not installed")
  path = os.environ.get("BIGGAN_OFFICIAL", "")
  if not os.path.isfile(os.path.join(path, "BigGAN.py")):
    pytest.skip("BIGGAN_OFFICIAL does not name a checkout of "
                "github.com/ajbrock/BigGAN-PyTorch")
  if path not in sys.path:
    sys.path.append(path)
  import BigGAN  # pylint: disable=g-import-not-at-top
  return torch, BigGAN


def _reference_players(big_gan, variant):
  """BigGAN.py's G and D with the settings of `variant` (see REFERENCE_COUNTS)."""
  if variant == "cifar10":
    g = big_gan.Generator(G_ch=64, dim_z=128, resolution=32, G_attn="0", n_classes=10,
                          G_shared=False, hier=False, skip_init=True, no_optim=True)
    d = big_gan.Discriminator(D_ch=64, resolution=32, D_attn="0", n_classes=10,
                              skip_init=True)
  else:
    g = big_gan.Generator(G_ch=96, dim_z=120, resolution=128, G_attn="64", n_classes=1000,
                          G_shared=True, shared_dim=128, hier=True, skip_init=True,
                          no_optim=True)
    d = big_gan.Discriminator(D_ch=96, resolution=128, D_attn="64", n_classes=1000,
                              skip_init=True)
  return g, d


@pytest.mark.parametrize("variant", ["cifar10", "128"])
def test_reference_parameter_counts(variant):
  _, big_gan = _reference()
  g, d = _reference_players(big_gan, variant)
  count = lambda m: sum(p.numel() for p in m.parameters())
  assert {"G": count(g), "D": count(d)} == REFERENCE_COUNTS[variant]


def _flax_path(name):
  """A BigGAN-PyTorch state-dict key -> (collection, Flax path, how the
  value is laid out here), or None for the buffers not used in training."""
  *modules, leaf = name.split(".")
  if modules[0] == "blocks":  # blocks.i.0: the residual block, blocks.i.1: attention
    modules = [("block" if modules[2] == "0" else "attention") + modules[1]] + modules[3:]
  elif modules[0] == "output_layer":  # BN, ReLU, conv
    modules = ["out_bn" if modules[1] == "0" else "out_conv"]
  same = lambda w: w
  if leaf in ("stored_mean", "stored_var", "sv0"):
    return None
  if leaf == "u0":
    return "batch_stats", modules + ["u"], same
  if modules == ["out_bn"]:
    return "params", modules + [{"gain": "scale"}.get(leaf, leaf)], same
  if leaf in ("bias", "gamma"):
    return "params", modules + [leaf], same
  if modules[0] in ("shared", "embed"):
    return "params", modules + ["embedding"], same
  return "params", modules + ["kernel"], lambda w: w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T


def _load(variables, state_dict):
  """`variables` with every weight (and SN vector) of the reference's."""
  variables = jax.tree.map(np.asarray, variables)
  for name, value in state_dict.items():
    target = _flax_path(name)
    if target is None:
      continue
    collection, path, transform = target
    node = variables[collection]
    for key in path[:-1]:
      node = node[key]
    want = transform(value.detach().numpy())
    assert node[path[-1]].shape == want.shape, (name, path)
    node[path[-1]] = want
  return variables


def test_reference_modules_compute_the_same_functions():
  """Random weights in BigGAN.py's G and D (32 px, width 4, shared and
  hierarchical, attention in both), copied here: the same images and
  logits in training mode (batch statistics, one SN power iteration)."""
  torch, big_gan = _reference()
  torch.manual_seed(0)
  g_ref = big_gan.Generator(G_ch=4, dim_z=16, resolution=32, G_attn="16", n_classes=3,
                            G_shared=True, shared_dim=8, hier=True, SN_eps=1e-6,
                            no_optim=True)
  d_ref = big_gan.Discriminator(D_ch=4, resolution=32, D_attn="16", n_classes=3,
                                SN_eps=1e-6)
  with torch.no_grad():
    for module in (g_ref, d_ref):
      for p in module.parameters():
        p.normal_(0.0, 0.3)
  g, d = models.create(_tiny_model(latent_dim=16))
  z, y = np.asarray(jax.random.normal(KEY, (4, 16))), np.array([0, 1, 2, 0])
  g_vars = _load(g.init(KEY, z, y, train=False), g_ref.state_dict())
  images, _ = g.apply(g_vars, z, y, train=True, mutable=["batch_stats"])
  zt, yt = torch.from_numpy(z.copy()), torch.from_numpy(y).long()
  want = g_ref(zt, g_ref.shared(yt)).detach().numpy().transpose(0, 2, 3, 1)
  # Not from a worst-case bound (suspect): G's 7 BatchNorms take statistics
  # over 4 x 32 x 32 = 4096 positions, and the variance (E[x^2] - mean^2, up
  # to 6.1 times the variance here) carries gamma(4096) x 6.1 = 1.5e-3
  # relative error at worst; over G's 25 layers float32.network_bound is
  # ~0.1, useless for images in [-1, 1]. The probabilistic bound (lambda
  # sqrt(n) U per sum, Higham and Mary 2019) is ~1e-2. XLA's and PyTorch's
  # blocked sums do far better: 1.1e-6 here, 1/17 of this tolerance.
  np.testing.assert_allclose(images, want, rtol=1e-4, atol=1e-5)
  d_vars = _load(d.init(KEY, images, y, train=False), d_ref.state_dict())
  logits, _ = d.apply(d_vars, images, y, train=True, mutable=["batch_stats"])
  nchw = torch.from_numpy(np.asarray(images).transpose(0, 3, 1, 2).copy())
  want = d_ref(nchw, yt).detach().numpy()[:, 0]
  # Two float32 evaluations of D (no BatchNorm): 35 layers (4 blocks of 2-3
  # convs, 4 attention layers of 6, SN's power iterations, the sum over
  # pixels, the linear layer and the projection) of fan-in <= 144 (3 x 3 x 16),
  # magnitudes (sums of |w| |x|, computed once for these fixed weights and
  # inputs) <= 83: 5e-2 (logits from 5 to 132; 2.3e-5 here).
  np.testing.assert_allclose(logits, want, rtol=0,
                             atol=float32.network_bound(35, 144, 83.0))
