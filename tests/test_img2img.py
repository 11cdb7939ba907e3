"""Image-to-image GANs: paired data, pix2pix and SRGAN models, PSNR/SSIM, the
VGG content loss, and both configs end to end (tiny, offline on the digits)."""

import json
import pathlib

import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgan import data, evaluation
from jaxgan.data import _pairs
from jaxgan.models import pix2pix, srgan, vgg
from jaxgan.train import objective, trainer

from conftest import REPO  # noqa: F401  (puts the repo on sys.path for configs)

# ---------------------------------------------------------------- paired data


def _save(path: pathlib.Path, array: np.ndarray) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(array).save(path)


def _image(value: int, size: int = 8, channels: int = 3) -> np.ndarray:
  return np.full((size, size, channels), value, np.uint8)


def test_pair_folder_a_b_layout_matches_names_and_direction(tmp_path):
  for i, name in enumerate(["x", "y/z"]):
    _save(tmp_path / "A" / f"{name}.png", _image(10 + i))
    _save(tmp_path / "B" / f"{name}.jpg", _image(200 + i, channels=1)[..., 0])
  pairs = _pairs.load_pair_folder(str(tmp_path), image_size=4, channels=1,
                                  source_channels=3)
  assert pairs.images.shape == (2, 4, 4, 1) and pairs.sources.shape == (2, 4, 4, 3)
  np.testing.assert_array_equal(pairs.sources[:, 0, 0, 0], [10, 11])
  # Not rounding: lossy JPEG (libjpeg's integer DCT); a flat 200 decodes to 200
  # exactly here, 2 levels allow a neighbour, and the other image is 1 away.
  np.testing.assert_allclose(pairs.images[:, 0, 0, 0], [200, 201], atol=2)
  swapped = _pairs.load_pair_folder(str(tmp_path), image_size=4, channels=3,
                                    source_channels=1, direction="BtoA")
  np.testing.assert_array_equal(swapped.images[:, 0, 0, 0], [10, 11])


def test_pair_folder_side_by_side_splits_input_and_target(tmp_path):
  _save(tmp_path / "p.png", np.concatenate([_image(30), _image(220)], axis=1))
  pairs = _pairs.load_pair_folder(str(tmp_path), image_size=8, channels=3)
  assert pairs.sources.shape == pairs.images.shape == (1, 8, 8, 3)
  assert pairs.sources.max() == 30 and pairs.images.min() == 220


def test_pair_folder_errors_name_the_problem(tmp_path):
  _save(tmp_path / "A" / "a.png", _image(0))
  _save(tmp_path / "B" / "b.png", _image(0))
  with pytest.raises(ValueError, match=r"1 file\(s\) only in A/ .*'a'.*1 only in B/"):
    _pairs.load_pair_folder(str(tmp_path), image_size=8, channels=3)
  _save(tmp_path / "wide" / "w.png", np.zeros((8, 12, 3), np.uint8))
  with pytest.raises(ValueError, match="12x8: a side-by-side pair must be twice"):
    _pairs.load_pair_folder(str(tmp_path / "wide"), image_size=8, channels=3)
  with pytest.raises(ValueError, match="data.direction='CtoD'"):
    _pairs.load_pair_folder(str(tmp_path), image_size=8, channels=3, direction="CtoD")
  with pytest.raises(ValueError, match=r"data.pairs='blur'; valid: edges, masked"):
    data.load_paired(ml_collections.ConfigDict(dict(pairs="blur")), image_size=8,
                     channels=1)


@pytest.fixture(scope="module")
def digits():
  return data.load(ml_collections.ConfigDict(dict(source="digits")), image_size=16,
                   channels=1)


@pytest.mark.parametrize("kind,shape", [("edges", (16, 16, 1)), ("masked", (16, 16, 1)),
                                        ("downsample4", (4, 4, 1))])
def test_builtin_pairs_are_deterministic_and_shaped(digits, kind, shape):
  first = _pairs.make_pairs(digits, kind, seed=1)
  again = _pairs.make_pairs(digits, kind, seed=1)
  assert first.sources.shape == (len(digits), *shape)
  np.testing.assert_array_equal(first.sources, again.sources)
  np.testing.assert_array_equal(first.images, digits.images)
  assert not np.array_equal(first.sources[:, :4, :4], first.sources[:1, :4, :4]
                            .repeat(len(digits), 0))  # depends on the image


def test_masked_pairs_grey_out_one_half_side_square(digits):
  sources = _pairs.make_pairs(digits, "masked", seed=0).sources[..., 0]
  corners = []
  for src, image in zip(sources[:50], digits.images[:50, ..., 0]):
    fits = []
    for top in range(9):
      for left in range(9):
        expected = image.copy()
        expected[top:top + 8, left:left + 8] = 128
        fits += [(top, left)] if np.array_equal(src, expected) else []
    assert fits, "not the image with one grey 8x8 square"
    corners.append(fits[0])
  assert len(set(corners)) > 10  # positions vary


def test_downsample_is_antialiased_bicubic():
  stripes = np.zeros((1, 16, 16, 1), np.uint8)
  stripes[:, :, ::2] = 255  # aliasing would keep only one phase
  small = _pairs.downsample(stripes)
  assert small.shape == (1, 4, 4, 1)
  # Not rounding: Pillow's antialiased bicubic (fixed-point) averages the
  # stripes to 118..137 here (its lobes, the edges); aliasing gives 0 or 255.
  np.testing.assert_allclose(small, 127.5, atol=15)  # not 0 or 255
  with pytest.raises(ValueError, match="divisible by 4"):
    _pairs.downsample(np.zeros((1, 10, 10, 1), np.uint8))


def test_paired_dataset_is_validated_and_batched(digits):
  with pytest.raises(ValueError, match="1797 targets but 3 sources"):
    data.ImageDataset(images=digits.images, labels=None, num_classes=None, name="x",
                      sources=digits.images[:3])
  with pytest.raises(ValueError, match="sources must be uint8"):
    data.ImageDataset(images=digits.images, labels=None, num_classes=None, name="x",
                      sources=digits.images.astype(np.float32))
  pairs = _pairs.make_pairs(digits, "downsample4")
  train, held = data.split_holdout(pairs, 97)
  assert len(train) == 1700 and len(held) == 97
  np.testing.assert_array_equal(held.sources, pairs.sources[-97:])
  with data.Batches(train, batch_size=8, seed=0, prefetch=0) as batches:
    batch = next(batches)
  idx = data.batch_indices(len(train), 8, 0, 0)
  np.testing.assert_array_equal(batch["source"], train.sources[idx])
  np.testing.assert_array_equal(batch["image"], train.images[idx])


# ---------------------------------------------------------------- models


def test_unet_and_patchgan_shapes_and_receptive_field():
  cond = jnp.zeros((2, 32, 32, 3))
  unet = pix2pix.UNetGenerator(channels=1, num_downs=5, width=8)
  out = jax.eval_shape(lambda c: unet.init_with_output(
      jax.random.PRNGKey(0), None, c, train=False)[0], cond)
  assert out.shape == (2, 32, 32, 1)
  d = pix2pix.PatchDiscriminator(num_layers=1, width=8)
  x = jax.random.normal(jax.random.PRNGKey(2), (1, 32, 32, 1))
  d_vars = jax.jit(lambda x: d.init(jax.random.PRNGKey(0), x, cond[:1], train=False))(x)
  logits = jax.jit(lambda x: d.apply(d_vars, x, cond[:1], train=False))(x)
  assert logits.shape == (1, 14, 14)
  # The input pixels one logit depends on span the receptive field.
  grad = jax.jit(jax.grad(
      lambda x: d.apply(d_vars, x, cond[:1], train=False)[0, 7, 7]))(x)
  # Exactly 0 outside the receptive field (no term reaches those pixels).
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0, ..., 0])) > 0)
  assert rows.max() - rows.min() + 1 == pix2pix.receptive_field(1) == 16
  assert cols.max() - cols.min() + 1 == 16
  assert pix2pix.receptive_field(3) == 70  # the paper's PatchGAN


def test_srresnet_upsamples_4x_and_discriminator_gives_one_logit():
  g = srgan.SRResNet(channels=1, num_blocks=2, width=8)
  low = jnp.zeros((2, 7, 7, 1))
  out, variables = jax.eval_shape(lambda c: g.init_with_output(
      jax.random.PRNGKey(0), None, c, train=False), low)
  assert out.shape == (2, 28, 28, 1)
  # 9x9 in, 2 per residual block, after the blocks, 2 upsampling, 9x9 out.
  assert sum(k.startswith("Conv") for k in variables["params"]) == 1 + 2 * 2 + 1 + 2 + 1
  d = srgan.Discriminator(width=8)
  logits = jax.eval_shape(lambda x: d.init_with_output(
      jax.random.PRNGKey(0), x, low, train=False)[0], jnp.zeros((2, 28, 28, 1)))
  assert logits.shape == (2,)
  x = np.arange(2 * 2 * 2 * 12).reshape(2, 2, 2, 12)
  shuffled = np.asarray(srgan.pixel_shuffle(x, 2))
  assert shuffled.shape == (2, 4, 4, 3)
  np.testing.assert_array_equal(shuffled[1, 2 + 1, 0 + 1], x[1, 1, 0, 9:12])  # (i, j)=(1, 1)


# ---------------------------------------------------------------- PSNR / SSIM


def _ssim_reference(x, y, data_range):
  """Wang et al.'s SSIM, written directly: every 11x11 window, weighted."""
  t = np.arange(11) - 5
  g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
  w = np.outer(g, g) / np.outer(g, g).sum()
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  out = []
  for a, b in zip(x.astype(np.float64), y.astype(np.float64)):
    values = []
    for c in range(a.shape[-1]):
      pa = np.lib.stride_tricks.sliding_window_view(a[..., c], (11, 11))
      pb = np.lib.stride_tricks.sliding_window_view(b[..., c], (11, 11))
      ma, mb = (pa * w).sum((-1, -2)), (pb * w).sum((-1, -2))
      va = (w * (pa - ma[..., None, None]) ** 2).sum((-1, -2))
      vb = (w * (pb - mb[..., None, None]) ** 2).sum((-1, -2))
      cov = (w * (pa - ma[..., None, None]) * (pb - mb[..., None, None])).sum((-1, -2))
      values.append(np.mean((2 * ma * mb + c1) * (2 * cov + c2)
                            / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))))
    out.append(np.mean(values))
  return np.array(out)


def test_psnr_and_ssim_match_their_definitions():
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (3, 20, 17, 2)).astype(np.float64)
  y = np.clip(x + rng.normal(0, [[[[5.0]]], [[[20.0]]], [[[60.0]]]], x.shape), 0, 255)
  mse = np.mean((x - y) ** 2, axis=(1, 2, 3))
  # float64, the same formula: equal to a few ulps (default rtol=1e-7); 255^2 /
  # 255^2 is exactly 1, its log exactly 0, so [0.0] holds with atol 0.
  np.testing.assert_allclose(evaluation.psnr(x, y), 10 * np.log10(255 ** 2 / mse))
  np.testing.assert_allclose(evaluation.psnr(x[:1], x[:1] + 255.0), [0.0])
  assert evaluation.psnr(x, x)[0] == np.inf
  s = evaluation.ssim(x, y)
  # float64 (u = 1.1e-16), two algorithms: local sums of 2 x 11 (ours) or 121
  # terms of pixels^2 <= 65025 with weights summing to 1 are off by <= 121 u
  # 65025 = 9e-10 (the squared means likewise); SSIM divides them by
  # mu_x^2 + mu_y^2 + c1 >= 16,500 and var_x + var_y + c2 >= 7,100 here: 1.3e-13
  # relative per factor. rtol=1e-10 is 700 times that (3e-16 seen), and far
  # below another window (sigma 1.6: 2e-3), c2 (3% off: 1e-4) or data range
  # (256: 1.5e-5).
  np.testing.assert_allclose(s, _ssim_reference(x, y, 255.0), rtol=1e-10)
  assert s[0] > s[1] > s[2] and s[0] < 1
  # Identical factors above and below: 1 to a few ulps (default rtol=1e-7).
  np.testing.assert_allclose(evaluation.ssim(x, x), 1.0)
  with pytest.raises(ValueError, match="at least 11x11"):
    evaluation.ssim(x[:, :10], y[:, :10])


# ---------------------------------------------------------------- VGG loss


def _torch_vgg_state(layers: int):
  """A random torchvision-layout VGG19 state dict up to its `layers`-th conv."""
  torch = pytest.importorskip("torch")
  gen = torch.Generator().manual_seed(0)
  state, in_ch = {}, 3
  widths = [w for block in vgg._BLOCKS for w in block]
  for index, w in zip(vgg._TORCH_INDICES[:layers], widths):
    state[f"features.{index}.weight"] = torch.randn(w, in_ch, 3, 3, generator=gen) * 0.1
    state[f"features.{index}.bias"] = torch.randn(w, generator=gen) * 0.1
    in_ch = w
  return torch, state


def test_vgg_features_match_torch_with_test_made_weights(tmp_path):
  torch, state = _torch_vgg_state(4)
  torch.save(state, tmp_path / "vgg19.pth")
  features = vgg.feature_fn(str(tmp_path / "vgg19.pth"), "relu2_2")
  images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
  x = torch.from_numpy((images + 1) / 2).permute(0, 3, 1, 2).repeat(1, 3, 1, 1)
  x = (x - torch.tensor(vgg._MEAN)[:, None, None]) / torch.tensor(vgg._STD)[:, None, None]
  # Each 3x3 conv adds float32.sum_bound of its 9 C_in terms and bias, with
  # magnitude the largest sum |w| |x| + |b| of its actual inputs; the errors
  # are carried forward with gain <= 1, as float32.network_bound (and the
  # input normalisation's 2 roundings are within the first layer's bound).
  bounds = []

  def conv(x, i):
    w, b = state[f"features.{i}.weight"], state[f"features.{i}.bias"]
    magnitude = torch.nn.functional.conv2d(x.abs(), w.abs(), b.abs(), padding=1)
    bounds.append(float32.sum_bound(w[0].numel() + 1, float(magnitude.max())))
    return torch.relu(torch.nn.functional.conv2d(x, w, b, padding=1))

  y = conv(conv(x, 0), 2)
  y = conv(conv(torch.nn.functional.max_pool2d(y, 2), 5), 7)
  # 0.023 here, of features up to 24 (1.9e-5 seen on one machine; the old
  # atol=1e-5, rtol=1e-4 was 61% used); a wrong layer, padding, pooling or
  # normalisation moves the large features by O(1).
  np.testing.assert_allclose(np.asarray(features(jnp.asarray(images))),
                             y.permute(0, 2, 3, 1).numpy(), rtol=0, atol=sum(bounds))
  with pytest.raises(ValueError, match="no 'features.10.weight'"):
    vgg.load_params(str(tmp_path / "vgg19.pth"), "relu3_1")
  with pytest.raises(ValueError, match="vgg_weights"):
    objective.Objective.from_config(ml_collections.ConfigDict(
        dict(name="non_saturating", perceptual_weight=1.0, vgg_weights="")))


# ---------------------------------------------------------------- configs


def _tiny(name: str, tmp_path) -> ml_collections.ConfigDict:
  from configs import pix2pix as pix2pix_config
  from configs import srgan as srgan_config
  config = {"pix2pix": pix2pix_config, "srgan": srgan_config}[name].get_config()
  config.data.source, config.data.path, config.data.holdout = "digits", "", 16
  config.model.update(image_size=16, g_width=8, d_width=8)
  if name == "pix2pix":
    config.model.num_downs = 2
  if name == "srgan":
    config.model.num_blocks = 1
    _, state = _torch_vgg_state(2)
    np.savez(tmp_path / "vgg.npz", **{k: v.numpy() for k, v in state.items()})
    config.loss.update(perceptual_weight=0.01, vgg_weights=str(tmp_path / "vgg.npz"),
                       vgg_layer="relu1_2")
  config.train.update(num_steps=2, log_every=2, sample_every=2, checkpoint_every=2,
                      num_samples=16, steps_per_call=2)
  return config


@pytest.mark.parametrize("name", ["pix2pix", "srgan"])
def test_config_trains_two_steps_offline_and_scores_held_out_pairs(name, tmp_path):
  config = _tiny(name, tmp_path)
  trainer.train_and_evaluate(config, str(tmp_path / "run"))
  records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
  scores = {k: v for r in records for k, v in r.items()}
  assert scores["step"] == 2 and np.isfinite(scores["g_loss"])
  # Ranges, not rounding bounds: L1 of images in [-1, 1] is below 2 and SSIM
  # in [-1, 1]; a bicubic enlargement's PSNR is tens of dB (5 to 40 allows
  # any plausible one, and catches a wrong data range or unit).
  assert 0 < scores["eval/l1"] < 2 and -1 <= scores["eval/ssim"] <= 1
  if name == "srgan":
    assert np.isfinite(scores["g_perceptual_loss"]) and scores["g_perceptual_loss"] > 0
    assert 5 < scores["eval/bicubic_psnr"] < 40 and "eval/bicubic_ssim" in scores
  else:
    assert "g_l1_loss" in scores and "eval/bicubic_psnr" not in scores
  grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step_0000002.png"))
  # 16 held-out triples (source | generated | target), two to a row of 16 px
  # images with 2 px gaps.
  assert grid.shape[:2] == (2 + 8 * 18, 2 + 6 * 18)


def test_paired_config_mistakes_fail_before_training(tmp_path):
  config = _tiny("pix2pix", tmp_path)
  config.data.pairs = ""
  with pytest.raises(ValueError, match="set config.data.pairs to one of edges"):
    trainer.check_config(config)
  config.data.pairs = "blur"
  with pytest.raises(ValueError, match="Unknown config.data.pairs='blur'"):
    trainer.check_config(config)
  config.data.pairs, config.model.num_downs = "edges", 5
  with pytest.raises(ValueError, match="divisible by 2\\^num_downs"):
    trainer.check_config(config)
