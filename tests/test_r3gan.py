"""R3GAN (jaxgan/models/r3gan.py, configs/r3gan.py): shapes, the official
architecture's details and parameter counts, the config presets, training.

The official code is github.com/brownvc/R3GAN (commit 19a7ddf). Where its
PyTorch modules can be imported (torch installed and R3GAN_OFFICIAL naming a
checkout of that repository), a test copies random weights into them and
checks that they compute the same functions; otherwise it is skipped.
"""

import functools
import json
import math
import os
import sys

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import models
from jaxgan.models import r3gan
from jaxgan.train import trainer

import conftest  # noqa: F401  (8 CPU devices)
from configs import r3gan as r3gan_config

CONFIG = "r3gan"  # configs/r3gan.py, trained here (tests/test_zoo.py: OWN_TESTS)
KEY = jax.random.PRNGKey(0)
# Counted from the official modules (R3GAN/Networks.py `Generator`,
# `Discriminator` with train.py's CIFAR10 preset; torch 2.13, CPU):
# sum(p.numel() for p in module.parameters()). Conditional: ConditionDimension
# 10, ConditionEmbeddingDimension 64 (G) and 768 (D), train.py lines 185-187.
OFFICIAL_CIFAR10_COUNTS = {"G": 20_732_160, "D": 20_683_776}
OFFICIAL_CIFAR10_COND_COUNTS = {"G": 20_781_952, "D": 21_280_512}
# The official modules' outputs and ours (TINY, every weight N(0, 0.3^2), torch
# seed 0) are two float32 evaluations of the same networks:
# float32.network_bound(layers, fan-in, magnitude), the magnitudes (sums of
# absolute terms |w| |x| of every dot product and convolution, for these fixed
# weights and inputs) computed once with |w| and |x|. G: 14 layers (the
# basis, 3 residual blocks of 3 convs, a transition, 2 upsampling filters, the
# aggregation) of fan-in <= 288 (the grouped 3x3 conv: 9 x 32) and magnitude
# <= 22: 1.1e-2 (images up to ~5, O(1) off for a wrong layer; 5e-6 here).
OFFICIAL_G_ATOL = float32.network_bound(14, 288, 22.0)
# D: 16 layers (the extraction, 3 blocks, a transition, 2 downsampling
# filters, the 4x4 basis, the linear layer and the projection) of fan-in <=
# 288 and magnitude <= 60: 3.3e-2 (logits up to ~6; 2.5e-6 here).
OFFICIAL_D_ATOL = float32.network_bound(16, 288, 60.0)


def _num_params(variables):
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


def _shapes(config_model, batch=2):
  """(G's variables, images, D's variables, logits), as shapes only."""
  g, d = models.create(config_model)
  z = jnp.zeros((batch, config_model.latent_dim))
  labels = (jnp.zeros((batch,), jnp.int32),) if config_model.num_classes else ()
  g_vars, images = jax.eval_shape(
      lambda k: g.init_with_output(k, z, *labels, train=False)[::-1], KEY)
  d_vars, logits = jax.eval_shape(
      lambda k: d.init_with_output(k, jnp.zeros(images.shape), *labels,
                                   train=False)[::-1], KEY)
  return g_vars, images, d_vars, logits


@pytest.mark.parametrize("variant, size, channels", [
    ("cifar10", 32, 3), ("mnist", 32, 1), ("fashion_mnist", 32, 1), ("64", 64, 3),
    ("tiny", 16, 1)])
def test_shapes_of_each_variant(variant, size, channels):
  config = r3gan_config.get_config(variant)
  _, images, _, logits = _shapes(config.model, batch=3)
  assert images.shape == (3, size, size, channels)
  assert logits.shape == (3,)


def _block_params(width, groups, expansion):
  """A residual block: 1x1 C -> eC, grouped 3x3 eC -> eC, 1x1 eC -> C (no
  biases), and the two activations' biases."""
  inner = width * expansion
  return (width * inner + inner * (inner // groups) * 9 + inner * width + 2 * inner)


def test_parameter_counts_are_the_official_ones():
  config = r3gan_config.get_config("cifar10").model
  g_vars, _, d_vars, _ = _shapes(config)
  blocks = 8 * _block_params(768, 96, 2)
  # G: the basis (4x4 per channel) and its linear map of z, the 1x1 conv to RGB
  # (every stage has width 768: no transition convs).
  g_expected = blocks + 16 * 768 + 64 * 768 + 768 * 3
  # D: the 1x1 conv from RGB, the depthwise 4x4 basis, the linear layer to a logit.
  d_expected = blocks + 3 * 768 + 16 * 768 + 768
  assert (_num_params(g_vars), _num_params(d_vars)) == (g_expected, d_expected)
  assert (g_expected, d_expected) == tuple(OFFICIAL_CIFAR10_COUNTS.values())
  config.num_classes = 10
  g_vars, _, d_vars, _ = _shapes(config)
  # G: a 10 -> 64 embedding beside z; D: the linear layer to 768, and a 10 -> 768 one.
  assert _num_params(g_vars) == g_expected + 10 * 64 + 64 * 768
  assert _num_params(d_vars) == d_expected - 768 + 768 * 768 + 10 * 768
  assert (_num_params(g_vars), _num_params(d_vars)) == tuple(
      OFFICIAL_CIFAR10_COND_COUNTS.values())


def test_residual_blocks_are_the_identity_at_init():
  block = r3gan.ResidualBlock(cardinality=4, expansion=2, num_blocks=8)
  x = jax.random.normal(KEY, (2, 5, 5, 16))
  variables = block.init(KEY, x)
  np.testing.assert_array_equal(block.apply(variables, x), x)
  params = variables["params"]
  assert not np.any(params["linear3"]["kernel"])  # the last conv is zero
  assert np.all(np.std(params["linear1"]["kernel"]) > 0)
  perturbed = jax.tree.map(lambda v: v + 0.1, params)
  # Every weight + 0.1 moves the output by ~10: a threshold, not a rounding bound.
  assert np.max(np.abs(block.apply({"params": perturbed}, x) - x)) > 1e-2


def test_block_init_is_scaled_by_the_number_of_blocks():
  # Networks.py: gain sqrt(2 / 1.04) * L^(-1/4), weights N(0, gain^2 / fan_in).
  gain = math.sqrt(2 / 1.04) * 8 ** -0.25
  assert r3gan.block_gain(8) == pytest.approx(gain)  # float64: 2^-53 per operation
  block = r3gan.ResidualBlock(cardinality=8, expansion=2, num_blocks=8)
  params = block.init(KEY, jnp.zeros((1, 3, 3, 128)))["params"]
  fan_ins = {"linear1": 128, "linear2": 9 * 256 // 8}
  # Sampling error: N = 128 x 256 and 288 x 256 >= 32,768 draws, so the sample
  # std is within 1 / sqrt(2 N) <= 0.4% (one standard error) of sigma, the mean
  # within sigma / sqrt(N) <= 0.0055 sigma: 3% and 0.05 sigma are 7.5 and 9 of
  # them. A wrong fan-in or gain is off by 30% or more.
  for name, fan_in in fan_ins.items():
    kernel = np.asarray(params[name]["kernel"])
    assert np.std(kernel) == pytest.approx(gain / math.sqrt(fan_in), rel=0.03), name
    assert abs(np.mean(kernel)) < 0.05 * gain / math.sqrt(fan_in)


def test_generator_at_init_is_linear_in_z():
  """Identity blocks at init leave the basis, 1x1 convs, resampling and the
  aggregation conv: all linear. Perturbed blocks are not."""
  g = r3gan.TinyGenerator(channels=1)
  z1, z2 = jax.random.normal(KEY, (2, 3, 8))
  variables = jax.jit(g.init)(KEY, z1)
  apply = jax.jit(functools.partial(g.apply, train=False))

  def nonlinearity(variables):
    out = apply(variables, jnp.concatenate([z1 + 2 * z2, z1, z2]))
    return np.max(np.abs(out[:3] - out[3:6] - 2 * out[6:])), np.max(np.abs(out))

  # At init the blocks add exactly 0 (a zero kernel), leaving 6 linear layers
  # (the basis's dense layer and product, a 1x1 transition, 2 upsampling
  # filters, the aggregation) of fan-in <= 16 and magnitude <= 11 (sums of
  # absolute terms, computed once: the weights and z are fixed). Each of the
  # 3 evaluations is within half of float32.network_bound(6, 16, 11) of the
  # exact linear map, so the gap (one + one + twice one) is within twice it:
  # 2.7e-4, 1e-4 of the scale, 2.6 (7e-7 here).
  gap, scale = nonlinearity(variables)
  assert gap < 2 * float32.network_bound(6, 16, 11.0)
  gap, scale = nonlinearity(jax.tree.map(lambda v: v + 0.2, variables))
  assert gap > 1e-2 * scale  # perturbed: 0.4 of the scale, O(1), not rounding


def _upfirdn2d(x, f, up, down, pad):
  """torch_utils `upfirdn2d` on one 2D channel, written out: zeros inserted
  after every pixel, zero padding (pad before, pad after), convolution with
  f, every `down`-th pixel."""
  h, w = x.shape
  stuffed = np.zeros((h * up, w * up))
  stuffed[::up, ::up] = x
  padded = np.pad(stuffed, [pad, pad])
  n = f.shape[0]
  flipped = f[::-1, ::-1]
  out = np.array([[np.sum(padded[i:i + n, j:j + n] * flipped)
                   for j in range(padded.shape[1] - n + 1)]
                  for i in range(padded.shape[0] - n + 1)])
  return out[::down, ::down]


# [1, 2, 1] convolved with [1, 1] (Resamplers.py `CreateLowpassKernel`).
KERNEL = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def test_lowpass_kernel_is_the_official_one():
  # Exact: k / 64 (k = 1, 3, 9) and their partial sums are float32 numbers,
  # so the default rtol is moot.
  np.testing.assert_allclose(r3gan.lowpass_kernel((1, 2, 1)), KERNEL)
  np.testing.assert_allclose(r3gan.lowpass_kernel((1, 2, 1)).sum(), 1.0)


@pytest.mark.parametrize("shape", [(2, 6, 6, 3), (1, 4, 8, 2)])
def test_resampling_is_upfirdn2d(shape):
  x = np.asarray(jax.random.normal(KEY, shape))
  # upfirdn2d.upsample2d: gain 4, padding (2, 1) for a 4-tap filter;
  # downsample2d: padding (1, 1), every second pixel.
  up = np.stack([np.stack([_upfirdn2d(x[b, :, :, c], 4 * KERNEL, 2, 1, (2, 1))
                           for c in range(shape[3])], -1) for b in range(shape[0])])
  down = np.stack([np.stack([_upfirdn2d(x[b, :, :, c], KERNEL, 1, 2, (1, 1))
                             for c in range(shape[3])], -1) for b in range(shape[0])])
  assert up.shape == (shape[0], 2 * shape[1], 2 * shape[2], shape[3])
  assert down.shape == (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
  # 16 taps >= 0 (two 1-D passes of 4 here) whose weights on each output sum
  # to at most 1: absolute sums <= max |x|.
  atol = float32.sum_bound(16, np.abs(x).max())
  np.testing.assert_allclose(r3gan.upsample(jnp.asarray(x)), up, rtol=0, atol=atol)
  np.testing.assert_allclose(r3gan.downsample(jnp.asarray(x)), down, rtol=0, atol=atol)


def test_grouped_conv_has_the_official_group_count():
  g_vars, _, d_vars, _ = _shapes(r3gan_config.get_config("cifar10").model)
  for variables in (g_vars, d_vars):
    kernel = variables["params"]["stage0_block0"]["linear2"]["kernel"]
    assert kernel.shape == (3, 3, 16, 1536)  # 1536 / 16 = 96 groups (CardinalityPerStage)
  # The groups do not mix: a change in one group's inputs stays in its outputs.
  block = r3gan.ResidualBlock(cardinality=4, expansion=2, num_blocks=1)
  conv = block.init(KEY, jnp.zeros((1, 3, 3, 8)))["params"]["linear2"]["kernel"]
  assert conv.shape == (3, 3, 4, 16)
  x = jax.random.normal(KEY, (1, 3, 3, 16))
  out = lambda v: jax.lax.conv_general_dilated(
      v, conv, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
      feature_group_count=4)
  changed = np.abs(out(x.at[..., :4].add(1.0)) - out(x)).max(axis=(0, 1, 2))
  assert np.all(changed[:4] > 0) and not np.any(changed[4:])


def test_discriminator_ends_with_a_depthwise_basis_and_one_logit():
  d = r3gan.TinyDiscriminator()
  x = jax.random.normal(KEY, (2, 16, 16, 1))
  variables = d.init(KEY, x)
  params = variables["params"]
  assert params["basis"]["kernel"].shape == (4, 4, 1, 16)  # one 4x4 filter per channel
  assert params["linear"]["kernel"].shape == (16, 1)
  logits, state = d.apply(variables, x, mutable=["intermediates"])
  assert logits.shape == (2,)
  assert state["intermediates"]["features"][0].shape == (2, 16)


def test_generator_starts_from_a_learned_4x4_basis():
  g = r3gan.TinyGenerator(channels=1)
  params = g.init(KEY, jnp.zeros((1, 8)))["params"]
  assert params["basis"]["basis"].shape == (4, 4, 16)
  assert params["basis"]["linear"]["kernel"].shape == (8, 16)
  assert "bias" not in params["basis"]["linear"]
  # N(0, 1): the std of 256 draws is 1 within 1 / sqrt(512) = 4.4% (one
  # standard error); 30% is 6.8 of them.
  assert np.std(params["basis"]["basis"]) == pytest.approx(1.0, rel=0.3)


def test_bfloat16_computes_in_bfloat16_with_float32_params():
  g = r3gan.TinyGenerator(channels=1, dtype=jnp.bfloat16)
  d = r3gan.TinyDiscriminator(dtype=jnp.bfloat16)
  z, x = jnp.ones((2, 8)), jnp.ones((2, 16, 16, 1))
  for module, inputs in ((g, z), (d, x)):
    variables = jax.eval_shape(module.init, KEY, inputs)
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(variables))
    params = jax.tree.map(lambda v: jnp.zeros(v.shape, v.dtype), variables)
    assert "bf16" in str(jax.make_jaxpr(module.apply)(params, inputs))
    assert jax.eval_shape(module.apply, params, inputs).dtype == jnp.float32


def _model(**overrides):
  config = r3gan_config.get_config("tiny").model
  config.update(overrides)
  return config


@pytest.mark.parametrize("overrides, message", [
    (dict(image_size=28), r"4 \* 2\^k.*set image_size=32"),
    (dict(image_size=32), r"needs 4 stages.*or set image_size=16"),
    (dict(stage_blocks=(1, 1)), r"got 3, 2 and 3 values: give all three the same length"),
    (dict(stage_cardinality=(3, 2, 2)), r"stage_cardinality\[0\]=3 .*divisor of 32"),
    (dict(stage_blocks=(0, 0, 0)), "at least one residual block"),
    (dict(stage_widths=(16, 0, 8)), "must be positive"),
])
def test_check_says_what_to_change(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.check(_model(**overrides))


def test_r3gan_is_class_conditional_with_classes():
  config = _model()
  assert models.kind(config) == "unconditional"
  config.num_classes = 10
  assert models.kind(config) == "class_conditional"
  g, d = models.create(config)
  assert g.num_classes == d.num_classes == 10
  labels = jnp.arange(2)
  g_vars = g.init(KEY, jnp.zeros((2, 16)), labels)
  images = g.apply(g_vars, jax.random.normal(KEY, (2, 16)), labels)
  d_vars = d.init(KEY, images, labels)
  # The label enters D's logit only through the projection.
  a, b = (d.apply(d_vars, images, jnp.full((2,), c)) for c in (3, 7))
  assert np.all(a != b)


def test_cifar10_preset_hyperparameters():
  config = r3gan_config.get_config("cifar10")
  assert (config.model.stage_widths, config.model.stage_blocks,
          config.model.stage_cardinality, config.model.expansion,
          config.model.latent_dim) == ((768,) * 4, (2,) * 4, (96,) * 4, 2, 64)
  assert dict(models.spec("r3gan").defaults) == r3gan.CIFAR10
  assert (config.loss.name, config.loss.r1_weight, config.loss.r2_weight) == (
      "relativistic_pairing", 0.025, 0.025)  # gamma / 2, gamma = 0.05
  for player in ("g", "d"):
    opt = config.optimizer[player]
    assert (opt.name, opt.learning_rate, opt.b1, opt.b2) == ("adam", 2e-4, 0.0, 0.9)
  assert config.train.batch_size == 512
  assert config.train.ema_decay == pytest.approx(0.5 ** (512 / 5e6))  # float64 both
  # The official schedules over 2e7 images (train.py lines 189-196), as jaxgan's.
  steps = 39063  # ceil(2e7 / 512)
  assert config.train.num_steps == steps
  assert config.loss.schedules == (f"r1_weight=cosine:0.0025@{steps}, "
                                   f"r2_weight=cosine:0.0025@{steps}, "
                                   f"augment_p=cosine:0.55@{steps}")
  assert config.optimizer.d.schedules == (f"learning_rate=cosine:5e-5@{steps}, "
                                          f"b2=cosine:0.99@{steps}")
  assert (config.loss.augment, config.loss.augment_pipeline, config.loss.augment_target) == (
      "ada", "r3gan", 0.0)
  ffhq = r3gan_config.get_config("64")
  assert (ffhq.loss.r1_weight, ffhq.train.batch_size) == (1.0, 256)
  assert "augment_p=cosine:0.3@78125" in ffhq.loss.schedules


def test_bad_variant_lists_the_valid_ones():
  with pytest.raises(ValueError, match="cifar10, mnist, fashion_mnist, 64, tiny"):
    r3gan_config.get_config("cifar100")


def _tiny_run(tmp_path, loss_name, **model):
  config = r3gan_config.get_config("tiny")
  config.loss.name = loss_name
  config.model.update(model)
  config.train.update(num_steps=2, steps_per_call=2, log_every=2, sample_every=2,
                      checkpoint_every=2, num_samples=16)
  trainer.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / "metrics.jsonl") as f:
    return [json.loads(line) for line in f][-1]


def _assert_finite(record):
  assert record["step"] == 2
  for metric in ("d_loss", "g_loss", "r1_penalty", "r2_penalty"):
    assert np.isfinite(record[metric]) and record[metric] >= 0, (metric, record)


def test_tiny_config_trains_with_its_recipe(tmp_path):
  # RpGAN + R1 + R2, the scheduled weights, lr, beta2 and augmentation p.
  record = _tiny_run(tmp_path, r3gan_config.get_config("tiny").loss.name)
  _assert_finite(record)
  assert 0 <= record["augment_p"] <= 0.55


# -- The official PyTorch modules (skipped without torch and a checkout) ------

def _official():
  torch = pytest.importorskip("torch", reason="torch is not installed")
  path = os.environ.get("R3GAN_OFFICIAL", "")
  if not os.path.isfile(os.path.join(path, "R3GAN", "Networks.py")):
    pytest.skip("R3GAN_OFFICIAL does not name a checkout of github.com/brownvc/R3GAN")
  if path not in sys.path:
    sys.path.append(path)
  try:
    from R3GAN import Networks, Resamplers  # pylint: disable=g-import-not-at-top
  except ImportError as error:  # its torch_utils needs requests, setuptools
    pytest.skip(f"the official code does not import: {error}")
  return torch, Networks, Resamplers


def _to_flax_block(weights, prefix):
  """One residual block's official weights (Networks.py `ResidualBlock`)."""
  conv = lambda k: {"kernel": weights[k].transpose(2, 3, 1, 0)}  # OIHW -> HWIO
  out = {f"linear{k}": conv(f"{prefix}.LinearLayer{k}.Layer.weight") for k in (1, 2, 3)}
  out.update({f"act{k}": {"bias": weights[f"{prefix}.NonLinearity{k}.Bias"]}
              for k in (1, 2)})
  return out


def _to_flax_generator(weights, blocks):
  """The official Generator's state dict -> this Generator's params."""
  conv = lambda k: {"kernel": weights[k].transpose(2, 3, 1, 0)}
  params = {"basis": {"basis": weights["MainLayers.0.Layers.0.Basis"].transpose(1, 2, 0),
                      "linear": {"kernel": weights["MainLayers.0.Layers.0.LinearLayer.weight"].T}},
            "aggregation": conv("AggregationLayer.Layer.weight")}
  for i, count in enumerate(blocks):
    transition = f"MainLayers.{i}.Layers.0.LinearLayer.Layer.weight"
    if i and transition in weights:
      params[f"stage{i}_transition"] = conv(transition)
    for j in range(count):
      params[f"stage{i}_block{j}"] = _to_flax_block(weights, f"MainLayers.{i}.Layers.{j + 1}")
  if "EmbeddingLayer.weight" in weights:
    params["embedding"] = {"embedding": weights["EmbeddingLayer.weight"].T}
  return params


def _to_flax_discriminator(weights, blocks):
  """The official Discriminator's state dict -> this Discriminator's params."""
  conv = lambda k: {"kernel": weights[k].transpose(2, 3, 1, 0)}
  last = f"MainLayers.{len(blocks) - 1}.Layers.{blocks[-1]}"
  params = {"extraction": conv("ExtractionLayer.Layer.weight"),
            "basis": conv(f"{last}.Basis.weight"),
            "linear": {"kernel": weights[f"{last}.LinearLayer.weight"].T}}
  for i, count in enumerate(blocks):
    for j in range(count):
      params[f"stage{i}_block{j}"] = _to_flax_block(weights, f"MainLayers.{i}.Layers.{j}")
    transition = f"MainLayers.{i}.Layers.{count}.LinearLayer.Layer.weight"
    if transition in weights:
      params[f"stage{i}_transition"] = conv(transition)
  if "EmbeddingLayer.weight" in weights:
    params["embedding"] = {"embedding": weights["EmbeddingLayer.weight"].T}
  return params


def _randomised(torch, module):
  """`module` with every parameter drawn from N(0, 0.3^2): the zero-initialised
  convs too, so that every layer shows in the outputs."""
  torch.manual_seed(0)
  with torch.no_grad():
    for p in module.parameters():
      p.normal_(0.0, 0.3)
  return module, {k: v.detach().numpy() for k, v in module.state_dict().items()}


def test_official_parameter_counts_and_resamplers():
  torch, networks, resamplers = _official()
  g_kwargs, d_kwargs = r3gan.player_kwargs(r3gan.CIFAR10)
  official = lambda kwargs: [list(kwargs[k]) for k in ("widths", "cardinality", "blocks")]
  g = networks.Generator(64, *official(g_kwargs), 2)
  d = networks.Discriminator(*official(d_kwargs), 2)
  count = lambda m: sum(p.numel() for p in m.parameters())
  assert {"G": count(g), "D": count(d)} == OFFICIAL_CIFAR10_COUNTS
  g = networks.Generator(64, *official(g_kwargs), 2, ConditionDimension=10,
                         ConditionEmbeddingDimension=64)
  d = networks.Discriminator(*official(d_kwargs), 2, ConditionDimension=10,
                             ConditionEmbeddingDimension=768)
  assert {"G": count(g), "D": count(d)} == OFFICIAL_CIFAR10_COND_COUNTS
  x = np.asarray(jax.random.normal(KEY, (2, 6, 8, 3)))
  nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
  for ours, theirs in ((r3gan.upsample, resamplers.InterpolativeUpsampler),
                       (r3gan.downsample, resamplers.InterpolativeDownsampler)):
    want = theirs([1, 2, 1])(nchw).numpy().transpose(0, 2, 3, 1)
    # Two float32 evaluations of 16 taps >= 0 summing to <= 1 per output.
    np.testing.assert_allclose(ours(jnp.asarray(x)), want, rtol=0,
                               atol=float32.sum_bound(16, np.abs(x).max()))


@pytest.mark.parametrize("num_classes", [0, 3])
def test_official_modules_compute_the_same_functions(num_classes):
  torch, networks, _ = _official()
  g_kwargs, d_kwargs = r3gan.player_kwargs(r3gan.TINY)
  official = lambda kwargs: [list(kwargs[k]) for k in ("widths", "cardinality", "blocks")]
  cond = dict(ConditionDimension=num_classes, ConditionEmbeddingDimension=8) if num_classes else {}
  g, g_weights = _randomised(torch, networks.Generator(8, *official(g_kwargs), 2, **cond))
  cond = dict(cond, ConditionEmbeddingDimension=16) if num_classes else {}
  d, d_weights = _randomised(torch, networks.Discriminator(*official(d_kwargs), 2, **cond))
  z = np.asarray(jax.random.normal(KEY, (4, 8)))
  labels = np.array([0, 1, 2, 1]) % max(num_classes, 1)
  onehot = torch.from_numpy(np.eye(max(num_classes, 1), dtype=np.float32)[labels])
  y = (onehot,) if num_classes else ()
  ours_y = (jnp.asarray(labels),) if num_classes else ()
  with torch.no_grad():
    images = g(torch.from_numpy(z), *y)
    logits = d(images, *y).numpy()
  images = images.numpy().transpose(0, 2, 3, 1)
  ours_g = r3gan.Generator(channels=3, num_classes=num_classes, **g_kwargs)
  ours_d = r3gan.Discriminator(num_classes=num_classes, **d_kwargs)
  got = ours_g.apply({"params": _to_flax_generator(g_weights, g_kwargs["blocks"])},
                     jnp.asarray(z), *ours_y)
  np.testing.assert_allclose(got, images, rtol=0, atol=OFFICIAL_G_ATOL)
  got = ours_d.apply({"params": _to_flax_discriminator(d_weights, d_kwargs["blocks"])},
                     jnp.asarray(images), *ours_y)
  np.testing.assert_allclose(got, logits, rtol=0, atol=OFFICIAL_D_ATOL)
