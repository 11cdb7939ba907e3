"""The model zoo: every config in configs/ trains, and the Stacked MNIST source.

Each config (found by globbing, so a new one is covered) is loaded with its
default argument and the arguments that change its models, checked, shrunk
(widths 8, batch 16, 28x28x1 images or points) and trained for two steps on
random data: the losses must be finite and the parameters must change.
Configs whose shrunk step is the same computation share one compile (about
10 compiles in all, each a few seconds of CPU time).
"""

import gzip
import importlib
import json
import pathlib
import struct
import sys

import jax
import ml_collections
import numpy as np
import pytest
from flax import jax_utils

from jaxgan import data, models
from jaxgan.models import dcgan, layers
from jaxgan.train import schedules, trainer
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Configs whose data this test's random images cannot stand in for (labels,
# labelled subsets, paired inputs, packs of points) train end to end, two
# steps, in their own test files.
OWN_TESTS = {"cgan": "test_conditional.py", "acgan": "test_conditional.py",
             "ssgan": "test_conditional.py", "pix2pix": "test_img2img.py",
             "srgan": "test_img2img.py", "toy_ring": "test_toy.py",
             "toy_grid": "test_toy.py", "toy_collapse": "test_toy.py",
             # R3GAN sizes are 4 * 2^k (not 28x28); its loss is on another branch.
             "r3gan": "test_r3gan.py",
             # BigGAN sizes are 32, 64 and 128, and it needs labels.
             "biggan": "test_biggan.py",
             # StyleGAN2 sizes are powers of 2; its tiny variant trains there.
             "stylegan2": "test_stylegan2.py"}
ALL_CONFIGS = sorted(p.stem for p in (REPO / "configs").glob("*.py")
                     if p.stem not in ("__init__", "common"))
CONFIGS = [name for name in ALL_CONFIGS if name not in OWN_TESTS]
# Config arguments that select other models or losses than the default.
ARGUMENTS = {"gan_mlp": ["minimax"], "wgan_gp": ["cifar10"], "sngan": ["mnist"],
             "stacked_mnist": ["minibatch", "pac2", "pac2_quarter"], "dcgan_folder": ["/nonexistent"]}
CASES = [(name, None) for name in CONFIGS] + [
    (name, arg) for name in CONFIGS for arg in ARGUMENTS.get(name, [])]

NUM_STEPS = 2


def load_config(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  module = importlib.import_module(f"configs.{name}")
  return module.get_config() if arg is None else module.get_config(arg)


def shrink(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The same experiment at test size: widths 8, latent 16, batch 16, images
  28x28x1 (every image model supports it; the channel count changes no
  layer), one critic update per step (tests/test_step.py covers several)."""
  config = ml_collections.ConfigDict(config.to_dict())
  model = config.model
  model.update(g_width=8, d_width=8, latent_dim=16)
  if "image_size" in model:
    model.update(image_size=28, channels=1)
  if model.get("minibatch_discrimination", 0):
    model.minibatch_discrimination = 4
  config.train.update(batch_size=16, n_critic=1)
  return config


def _data_shape(config):
  if config.data.source == "toy":
    return (2,)
  return (config.model.image_size, config.model.image_size, config.model.channels)


def _step_key(config) -> str:
  """What the compiled step depends on."""
  return json.dumps({k: config[k].to_dict() for k in ("model", "loss", "optimizer")}
                    | {"n_critic": config.train.n_critic,
                       "g_updates": config.train.g_updates,
                       "g_batch_multiple": config.train.g_batch_multiple,
                       "ema": config.train.ema_decay > 0,
                       "shape": _data_shape(config)}, sort_keys=True)


_RESULTS = {}


def _train_two_steps(config):
  """(initial parameters, final parameters, metrics) of NUM_STEPS steps on
  one device, on random data; cached by the step's computation."""
  key = _step_key(config)
  if key in _RESULTS:
    return _RESULTS[key]
  shape = _data_shape(config)
  g, d = models.create(config.model, shape, axis_name=step_lib.AXIS)
  initial = jax.device_get(state_lib.create(
      jax.random.PRNGKey(0), g, d, trainer.make_optimizer(config.optimizer.g),
      trainer.make_optimizer(config.optimizer.d), latent_dim=config.model.latent_dim,
      image_shape=shape, ema_decay=config.train.ema_decay))
  p_step = step_lib.make_train_step(g, d, config, num_devices=1)
  rng = np.random.default_rng(0)
  size = (NUM_STEPS, config.train.n_critic * config.train.batch_size, *shape)
  if len(shape) == 1:
    images = rng.normal(size=size).astype(np.float32)
  else:
    images = rng.integers(0, 256, size, dtype=np.uint8)
  devices = jax.local_devices()[:1]
  state, metrics = p_step(jax_utils.replicate(initial, devices),
                          {"image": trainer.shard_batch(images, config.train.n_critic, 1)},
                          jax_utils.replicate(jax.random.PRNGKey(1), devices))
  first = lambda tree: jax.device_get(jax.tree.map(lambda x: x[0], tree))
  _RESULTS[key] = initial, first(state), first(metrics)
  return _RESULTS[key]


def test_every_config_is_covered():
  expected = {"dcgan", "dcgan_mnist", "dcgan_cifar10", "dcgan_celeba64", "dcgan_folder",
              "gan_mlp", "wgan", "wgan_gp", "lsgan", "sngan", "stacked_mnist"}
  assert expected <= set(CONFIGS)
  for name, test_file in OWN_TESTS.items():
    assert name in ALL_CONFIGS, f"configs/{name}.py is gone: update OWN_TESTS"
    assert f'"{name}' in (REPO / "tests" / test_file).read_text(), (
        f"{test_file} does not train configs/{name}.py")


@pytest.mark.parametrize("name, arg", CASES, ids=[f"{n}:{a}" if a else n for n, a in CASES])
def test_config_trains_two_steps(name, arg):
  config = load_config(name, arg)
  models.check(config.model)  # the full-size models (its batch suits other devices)
  assert f"configs/{name}.py" in sys.modules[f"configs.{name}"].__doc__  # the command
  config = shrink(config)
  trainer.check_config(config)
  initial, final, metrics = _train_two_steps(config)
  assert int(final.step) == NUM_STEPS
  assert metrics["nonfinite_step"] == 0
  assert np.isfinite(metrics["d_loss"]) and np.isfinite(metrics["g_loss"])
  # A G-update schedule may leave G out of the first steps (WGAN's boost: its
  # first 20); then G must not have moved.
  g_updates = schedules.g_updates(config.train)
  updates_g = g_updates is None or bool(np.any(g_updates(np.arange(NUM_STEPS))))
  for player, updated in (("generator", updates_g), ("discriminator", True)):
    before = jax.tree.leaves(getattr(initial, player).params)
    after = jax.tree.leaves(getattr(final, player).params)
    assert any(np.any(a != b) for a, b in zip(after, before)) == updated, player


def test_every_config_takes_every_train_option():
  """Each config's train block is `common.train`'s, so every option can be
  set on the command line (cgan's and toy_ring's own dicts lacked those added
  later, and ml_collections refused them as unknown keys)."""
  from configs import common
  options = set(common.train())
  missing = {name: sorted(options - set(load_config(name).train)) for name in ALL_CONFIGS}
  assert not {name: keys for name, keys in missing.items() if keys}


@pytest.mark.parametrize("name, arg, expected", [
    ("gan_mlp", "maximin", "non_saturating, minimax"),
    ("wgan_gp", "svhn", "mnist, fashion_mnist, cifar10"),
    ("sngan", "svhn", "cifar10, mnist, fashion_mnist"),
    ("stacked_mnist", "unrolled", "dcgan, minibatch"),
    ("dcgan_mnist", "kmnist", "mnist, fashion_mnist"),
])
def test_bad_config_argument_lists_the_valid_ones(name, arg, expected):
  with pytest.raises(ValueError, match=expected):
    load_config(name, arg)


def test_paper_hyperparameters():
  wgan, gp, sngan = load_config("wgan"), load_config("wgan_gp", "cifar10"), load_config("sngan")
  assert (wgan.optimizer.d.name, wgan.optimizer.d.learning_rate, wgan.optimizer.d.clip,
          wgan.train.n_critic, wgan.train.g_updates) == ("rmsprop", 5e-5, 0.01, 5,
                                                         "wgan_boost")
  assert (gp.loss.gp_weight, gp.optimizer.g.b1, gp.optimizer.g.b2, gp.train.n_critic,
          gp.model.variant, gp.model.g_width) == (10.0, 0.0, 0.9, 5, "wgan_gp", 128)
  assert (sngan.loss.name, sngan.model.variant, sngan.model.g_width,
          sngan.model.d_width, sngan.train.n_critic) == ("hinge", "sngan", 256, 128, 5)
  # The official codes' linear decay to 0 and WGAN-GP's CIFAR learning rate
  # (gan_cifar_resnet.py: LR = 2e-4, DECAY = True); not in the MNIST adaptations.
  assert gp.optimizer.g.learning_rate == gp.optimizer.d.learning_rate == 2e-4
  for config in (gp, sngan):
    assert config.optimizer.g.schedules == config.optimizer.d.schedules == (
        "learning_rate=linear:0")
  assert load_config("sngan", "mnist").optimizer.g.schedules == ""
  # G's update on 128 samples of its own (n_gen_samples, GEN_BS_MULTIPLE).
  assert gp.train.g_batch_multiple == sngan.train.g_batch_multiple == 2
  assert load_config("sngan", "mnist").train.g_batch_multiple == 1
  # gan_mnist.py: Adam(1e-4, 0.5, 0.9), lambda 10 in [0, 1] pixel units.
  mnist = load_config("wgan_gp", "mnist")
  assert (mnist.model.name, mnist.optimizer.g.learning_rate, mnist.optimizer.g.b1,
          mnist.optimizer.g.b2, mnist.train.batch_size, mnist.train.num_steps,
          mnist.loss.gp_weight, mnist.loss.gp_target) == (
              "wgan_gp_mnist", 1e-4, 0.5, 0.9, 50, 200_000, 40.0, 0.5)
  assert load_config("wgan_gp", "mnist_dcgan").model.name == "dcgan"
  # The paper's 5 D steps on MNIST; 1 on Fashion-MNIST, where 5 collapses (README).
  assert load_config("sngan", "mnist").train.n_critic == 5
  fashion = load_config("sngan", "fashion_mnist")
  assert (fashion.train.n_critic, fashion.optimizer.d.b1, fashion.optimizer.d.b2) == (
      1, 0.0, 0.9)
  assert load_config("gan_mlp", "minimax").loss.name == "minimax"


def _write_idx(path: pathlib.Path, name: str, array: np.ndarray):
  header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
      f">{array.ndim}I", *array.shape)
  with gzip.open(path / name, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
  """IDX files of 20 MNIST-like images whose pixels encode their label."""
  path = tmp_path_factory.mktemp("mnist")
  labels = np.arange(20) % 10
  images = np.broadcast_to((labels * 20)[:, None, None], (20, 28, 28))
  _write_idx(path, "train-images-idx3-ubyte.gz", images)
  _write_idx(path, "train-labels-idx1-ubyte.gz", labels)
  return path


def test_stacked_mnist_source_stacks_three_digits(tiny_mnist):
  config = ml_collections.ConfigDict(dict(source="stacked_mnist", path=str(tiny_mnist),
                                          num_examples=50, seed=3))
  dataset = data.load(config, image_size=28, channels=3)
  assert dataset.images.shape == (50, 28, 28, 3) and dataset.num_classes == 1000
  digits = dataset.images[:, 0, 0] // 20  # each channel's pixel encodes its digit
  np.testing.assert_array_equal(dataset.labels, digits @ np.array([100, 10, 1]))
  again = data.load(config, image_size=28, channels=3)
  np.testing.assert_array_equal(again.images, dataset.images)  # deterministic
  config.seed = 4
  assert np.any(data.load(config, image_size=28, channels=3).images != dataset.images)


def test_stacked_mnist_source_needs_three_channels(tiny_mnist):
  config = ml_collections.ConfigDict(dict(source="stacked_mnist", path=str(tiny_mnist)))
  with pytest.raises(ValueError, match="model.channels=3"):
    data.load(config, image_size=28, channels=1)


def test_pack_channels_concatenates_consecutive_samples_along_channels():
  """PacGAN's conv packing: channel j*C + k of pack i is channel k of sample
  i*m + j (the official code's `X_stacked[..., j * 3 + k]`)."""
  x = np.arange(6 * 2 * 2 * 3, dtype=np.float32).reshape(6, 2, 2, 3)
  packed = np.asarray(layers.pack_channels(x, 3))
  assert packed.shape == (2, 2, 2, 9)
  for i in range(2):
    for j in range(3):
      for k in range(3):
        np.testing.assert_array_equal(packed[i, :, :, 3 * j + k], x[3 * i + j, :, :, k])
  assert layers.pack_channels(x, 1) is x
  with pytest.raises(ValueError, match="config.model.pack"):
    layers.pack_channels(x[:5], 3)


def test_dcgan_discriminator_gives_one_logit_per_pack():
  """Each logit depends on its own pack of samples only, and the first
  convolution sees pack * C channels."""
  x = jax.random.normal(jax.random.PRNGKey(0), (8, 28, 28, 3))
  for pack in (1, 2, 4):
    d = dcgan.Discriminator(image_size=28, width=8, pack=pack)
    variables = d.init(jax.random.PRNGKey(1), x, train=False)
    kernel = variables["params"]["down0"]["kernel"]
    assert kernel.shape[-2:] == (3 * pack, 8)
    logits = d.apply(variables, x, train=False)
    assert logits.shape == (8 // pack,)
    changed = d.apply(variables, x.at[-pack:].add(1.0), train=False)
    np.testing.assert_array_equal(changed[:-1], logits[:-1])
    assert changed[-1] != logits[-1]


def test_conditional_dcgans_refuse_packing():
  """A pack's samples would carry different labels."""
  for config in (load_config("cgan", "dcgan"), load_config("acgan")):
    config.model.pack = 2
    with pytest.raises(ValueError, match="config.model.pack.*'dcgan'"):
      models.check(config.model)
