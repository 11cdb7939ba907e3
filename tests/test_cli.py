"""The `jaxgan` command, shipped configs by name, `jaxgan generate` and the
notebook API (`jaxgan.load_generator`, `load_config`, `train`)."""

import json
import os
import re
import subprocess
import sys

import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image
from test_launch import TINY

import jaxgan
from jaxgan import config_files, evaluate, evaluation, generate, generation, models
from jaxgan.train import sampling

from conftest import REPO, one_device_env


def _jaxgan(*args, cwd, env=None, timeout=300):
  """`python -m jaxgan ARGS` in a subprocess."""
  return subprocess.run([sys.executable, "-m", "jaxgan", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=timeout,
                        env=env or one_device_env())


def _train(config: str, workdir, *overrides, cwd):
  result = _jaxgan("train", f"--config={config}", "--config.train.num_steps=2",
                   f"--workdir={workdir}", *overrides, cwd=cwd)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
  """A DCGAN trained 2 steps by `jaxgan train --config=dcgan` (a bare name,
  run outside the repository)."""
  tmp = tmp_path_factory.mktemp("dcgan")
  return str(_train("dcgan", tmp / "run", *TINY, cwd=tmp))


# ------------------------------------------------------------ configs by name


def test_bare_names_resolve_to_the_shipped_configs(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # no configs/ here
  shipped = config_files.directory()
  assert os.path.samefile(shipped, REPO / "configs")  # the repository's, as a package
  assert {"dcgan", "cgan", "pix2pix", "toy_ring"} <= set(config_files.names())
  assert "common" not in config_files.names()
  assert config_files.resolve("dcgan") == os.path.join(shipped, "dcgan.py")
  assert config_files.resolve("cgan.py:dcgan") == os.path.join(shipped, "cgan.py") + ":dcgan"
  own = tmp_path / "mine.py"
  own.write_text("from jaxgan.configs import dcgan\n\n\ndef get_config():\n"
                 "  config = dcgan.get_config()\n  config.seed = 7\n  return config\n")
  assert config_files.resolve("mine.py") == "mine.py"  # a path is taken as it is
  assert jaxgan.load_config("mine.py").seed == 7
  with pytest.raises(FileNotFoundError, match=r"not one of the configs shipped.*dcgan"):
    config_files.resolve("dcgam")
  assert config_files.resolve_flag(["p", "--config", "dcgan", "--config=cgan:mlp"]) == [
      "p", "--config", os.path.join(shipped, "dcgan.py"),
      "--config=" + os.path.join(shipped, "cgan.py") + ":mlp"]


def test_load_config_is_locked_and_takes_a_variant():
  config = jaxgan.load_config("cgan:dcgan")
  assert config.model.name == "cgan_dcgan"
  config.train.num_steps = 3  # an existing key may change
  with pytest.raises(AttributeError):
    config.train.num_stepz = 3  # a misspelled one fails, as on the command line
  assert jaxgan.load_config(str(REPO / "configs" / "dcgan.py")).model.name == "dcgan"


def test_jaxgan_command_lists_its_commands_and_refuses_others(tmp_path):
  result = _jaxgan("--help", cwd=tmp_path)
  assert result.returncode == 0
  for command in ("train", "evaluate", "generate"):
    assert re.search(rf"^\s+{command}\s", result.stdout, re.M), result.stdout
  result = _jaxgan("trian", cwd=tmp_path)
  assert result.returncode != 0 and "unknown command 'trian'" in result.stderr


def test_train_with_an_unknown_config_name_fails_listing_the_shipped_ones(tmp_path):
  result = _jaxgan("train", "--config=dcgam", cwd=tmp_path)
  assert result.returncode != 0
  assert "Bad --config: No config 'dcgam'" in result.stderr and "dcgan" in result.stderr
  assert not (tmp_path / "runs").exists()


def test_train_takes_launchs_sweep_flags_with_a_bare_name(tmp_path):
  lsgan = os.path.join(config_files.directory(), "lsgan.py")
  assert "def get_sweep" not in open(lsgan).read()
  result = _jaxgan("train", "--config=lsgan", "--sweep=config", cwd=tmp_path, timeout=60)
  assert result.returncode != 0  # the shipped file, which has no get_sweep()
  assert f"Bad sweep: --sweep=config: {lsgan} has no get_sweep()" in result.stderr, (
      result.stderr[-2000:])
  result = _jaxgan("train", "--config=toy_ring", "--sweep=seed=0,1;nope=2", cwd=tmp_path,
                   timeout=60)
  assert result.returncode != 0 and "Bad sweep" in result.stderr and "nope" in result.stderr
  assert not (tmp_path / "runs").exists()


def test_a_tfds_source_without_tfds_fails_at_once_naming_the_extra(tmp_path):
  hidden = tmp_path / "hide"  # an import of tensorflow_datasets fails, as uninstalled
  (hidden / "tensorflow_datasets").mkdir(parents=True)
  (hidden / "tensorflow_datasets" / "__init__.py").write_text(
      "raise ImportError('No module named tensorflow_datasets')\n")
  env = {**one_device_env(), "PYTHONPATH": str(hidden)}
  result = _jaxgan("train", "--config=dcgan", "--config.data.source=tfds",
                   "--config.data.name=mnist", f"--workdir={tmp_path / 'w'}",
                   cwd=tmp_path, env=env)
  assert result.returncode != 0
  assert "MissingExtraError" in result.stderr
  assert "pip install 'jaxgan[tfds]'" in result.stderr, result.stderr[-2000:]
  assert not (tmp_path / "w" / "checkpoints").exists()


# ------------------------------------------------------------ generate


def test_generate_pngs_are_reproducible_and_are_the_evaluators_samples(dcgan_run,
                                                                       tmp_path):
  out = tmp_path / "a"
  result = _jaxgan("generate", f"--workdir={dcgan_run}", "--num=10", "--batch_size=4",
                   "--seed=3", f"--output={out}", cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout)
  assert report["step"] == 2 and report["generator"] == "EMA" and report["num"] == 10
  files = sorted(os.listdir(out))
  assert files == [f"{i:06d}.png" for i in range(10)]
  with Image.open(out / files[0]) as image:
    assert image.size == (28, 28) and image.mode == "L"
  # The library call with the same seed and batch size: the same images.
  generate.generate_workdir(dcgan_run, num=10, batch_size=4, seed=3, fmt="npz",
                            output=str(tmp_path / "b.npz"))
  with np.load(tmp_path / "b.npz") as saved:
    images, latents = saved["images"], saved["latents"]
  assert images.shape == (10, 28, 28, 1) and images.dtype == np.uint8
  assert latents.shape == (10, 16)
  for i, name in enumerate(files):
    np.testing.assert_array_equal(np.asarray(Image.open(out / name))[..., None], images[i])
  # Batch 1 (samples 4..7) is what the evaluator's sample_fn draws for batch 1.
  config = evaluate.read_config(dcgan_run)
  _, state = evaluate.restore_state(config, dcgan_run)
  sample_fn = evaluate.make_sample_fn(config, state)
  expected = sample_fn(jax.random.fold_in(jax.random.PRNGKey(3), 1), 4)
  np.testing.assert_array_equal(evaluation.to_uint8(expected), images[4:8])
  generate.generate_workdir(dcgan_run, num=10, batch_size=4, seed=4, fmt="npz",
                            output=str(tmp_path / "c.npz"))
  with np.load(tmp_path / "c.npz") as other:
    assert not np.array_equal(other["images"], images)


def test_generate_grid_interpolation_and_arithmetic(dcgan_run, tmp_path):
  grid = generate.generate_workdir(dcgan_run, num=9, fmt="grid",
                                   output=str(tmp_path / "grid.png"))
  with Image.open(grid["output"]) as image:
    assert image.size == (3 * 30 + 2, 3 * 30 + 2)  # 3 x 3 tiles of 28 + 2 px gaps
  strips = generate.generate_workdir(dcgan_run, num=3, interpolate=5, how="spherical",
                                     output=str(tmp_path / "strips.png"))
  with Image.open(strips["output"]) as image:
    assert image.size == (5 * 30 + 2, 3 * 30 + 2)
  sums = generate.generate_workdir(dcgan_run, num=20, arithmetic="1,2,3 - 4,5 + 6",
                                   output=str(tmp_path / "sum.png"))
  assert sums["terms"] == [[1, [1, 2, 3]], [-1, [4, 5]], [1, [6]]]
  with Image.open(sums["output"]) as image:  # 3 term rows + the result row
    assert image.size == ((generate.VARIATIONS + 2) * 30 + 2, 4 * 30 + 2)
  with pytest.raises(ValueError, match=r"indices must be in \[0, 20\)"):
    generate.generate_workdir(dcgan_run, num=20, arithmetic="1 - 25")
  with pytest.raises(ValueError, match="Choose one of"):
    generate.generate_workdir(dcgan_run, interpolate=4, nearest_k=2)


def test_generate_truncation_keeps_latents_within_psi(dcgan_run, tmp_path):
  generate.generate_workdir(dcgan_run, num=50, fmt="npz", truncation=0.5,
                            output=str(tmp_path / "t.npz"))
  with np.load(tmp_path / "t.npz") as saved:
    z = saved["latents"]
  # Not rounding: 800 draws of N(0, 1) on [-0.5, 0.5] (std 0.284); all 800
  # below 0.4 has probability 0.81^800; the sample std's standard error is
  # 0.004, so 0.2 and 0.3 are 4 or more of them away.
  assert np.abs(z).max() <= 0.5 and np.abs(z).max() > 0.4
  assert 0.2 < z.std() < 0.3  # N(0, 1) on [-0.5, 0.5]: std 0.28


def test_generate_nearest_finds_training_images(dcgan_run, tmp_path):
  report = generate.generate_workdir(dcgan_run, num=3, nearest_k=4,
                                     feature_net="classifier_mnist",
                                     output=str(tmp_path / "near.png"))
  with Image.open(report["output"]) as image:  # sample | 4 pixel | 4 feature
    assert image.size == ((1 + 2 * 5) * 30 + 2, 3 * 30 + 2)
  saved = json.load(open(tmp_path / "near.json"))
  assert saved["data"] == "digits" and set(saved["neighbours"]) == {
      "pixels", "classifier_mnist"}
  distances = np.asarray(saved["neighbours"]["pixels"]["distances"])
  assert distances.shape == (3, 4) and np.all(np.diff(distances, axis=1) >= 0)


def test_nearest_neighbours_of_training_copies_are_themselves():
  rng = np.random.default_rng(0)
  reference = rng.integers(0, 256, (5000, 8, 8, 1), dtype=np.uint8)  # > one chunk
  queries = reference[[4321, 7, 4999]].copy()
  queries[0, 0, 0, 0] ^= 1  # one pixel off: still nearest, at distance 1/127.5
  indices, distances = generation.nearest_neighbours(
      generation.pixels(queries), generation.pixels(reference), 3)
  assert indices[:, 0].tolist() == [4321, 7, 4999]
  # float64 |q|^2 - 2 q.b + |b|^2 over D = 64 values in [-1, 1]: the squared
  # distance is off by <= gamma_66 (|q|^2 + 2 |q.b| + |b|^2) <= 66 u 4 * 64
  # = 1.9e-12 (u = 2**-53), so a distance by <= its square root, 1.4e-6 (at
  # 0; 1.2e-10 at 1 / 127.5). The brute force differences are exact to 1e-15.
  # Rows one pixel level apart are 1 / 127.5 = 7.8e-3 apart.
  atol = np.sqrt(66 * 2.0**-53 * 4 * 64)
  np.testing.assert_allclose(distances[:, 0], [1 / 127.5, 0, 0], rtol=0, atol=atol)
  brute = np.sqrt(((generation.pixels(queries)[:, None].astype(np.float64)
                    - generation.pixels(reference)[None]) ** 2).sum(-1))
  np.testing.assert_allclose(distances, np.sort(brute, 1)[:, :3], rtol=0, atol=atol)


# Slerp from a = (3, 0) to b = (0, 3) in float32: normalising a and b and their
# dot product are exact; omega = arccos(0) is within 2 ulp (4U) of pi / 2; each
# coefficient sin(s omega) / sin(omega) is within 11U of the exact one (that
# 4U, its derivative in omega being <= 1 here; s omega 1.6U; two sines of <= 2
# ulp, 2U each; the division U); times 3 and rounded, each coordinate is
# within 36U = 2.1e-6 of the exact point (3.4U seen on one machine), and its
# norm within sqrt(2) 36U + 7.5U (to compute the norm) < 60U of 3. Lerp's
# (1 - t) a + t b is exact for these t. Lerp for slerp moves a norm by 0.88.
_SLERP = 36 * float32.U
_SLERP_NORM = 60 * float32.U


def test_lerp_and_slerp_end_at_their_endpoints_and_slerp_keeps_the_norm():
  a, b = jnp.array([[3.0, 0.0]]), jnp.array([[0.0, 3.0]])
  t = jnp.linspace(0.0, 1.0, 5)
  for fn in (generation.lerp, generation.slerp):
    path = fn(a, b, t)
    assert path.shape == (1, 5, 2)
    np.testing.assert_allclose(path[0, 0], a[0], rtol=0, atol=_SLERP)
    np.testing.assert_allclose(path[0, -1], b[0], rtol=0, atol=_SLERP)
  np.testing.assert_allclose(jnp.linalg.norm(generation.slerp(a, b, t), axis=-1), 3.0,
                             rtol=0, atol=_SLERP_NORM)
  # The chord's middle (1.5, 1.5) is exact, its norm one rounded sqrt (<= 2U
  # of 3 / sqrt(2) = 2.12); rtol=1e-6 (17U) is slack, far below the arc's 3.
  np.testing.assert_allclose(jnp.linalg.norm(generation.lerp(a, b, t)[0, 2]),
                             3 / np.sqrt(2), rtol=1e-6)  # the chord's middle
  same = generation.slerp(a, a, t)  # parallel: falls back to the line, no NaN
  # (1 - t) a + t a for t in multiples of 1/4: exact (1e-6 is slack).
  np.testing.assert_allclose(same[0], np.repeat(a, 5, 0), atol=1e-6)
  strips = generation.interpolation_strips(jnp.zeros((2, 3)), jnp.ones((2, 3)), 4)
  # t = linspace(0, 1, 4) itself: 1/3 and 2/3 rounded once or twice (<= 2U
  # relative); rtol=1e-6 (17U) is slack, far below a wrong step (1/12).
  np.testing.assert_allclose(strips[:4, 0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)


def test_latent_arithmetic_is_the_signed_sum_of_mean_latents():
  terms = generation.parse_arithmetic("0,1 - 2 + 3,4,5")
  assert terms == [(1, [0, 1]), (-1, [2]), (1, [3, 4, 5])]
  assert generation.parse_arithmetic("-2") == [(-1, [2])]
  z = jnp.arange(12.0).reshape(6, 2)
  means, result = generation.arithmetic(z, terms)
  # Means and signed sums of small integers: exact in float32 (default rtol).
  np.testing.assert_allclose(means, [[1, 2], [4, 5], [8, 9]])
  np.testing.assert_allclose(result, [1 - 4 + 8, 2 - 5 + 9])
  for bad in ("1,2 -", "a,b", ""):
    with pytest.raises(ValueError, match="Bad latent arithmetic"):
      generation.parse_arithmetic(bad)


def test_truncation_is_declared_by_the_model_spec():
  assert models.spec("dcgan").truncation == "latent"
  assert models.spec("pix2pix").truncation is None
  assert models.spec("srgan").truncation is None
  assert models.spec("stylegan2").truncation == "w"
  with pytest.raises(ValueError, match="truncation 'psi'"):
    models.ModelSpec("x", models.spec("dcgan").build, truncation="psi")
  z = sampling.latents(jax.random.PRNGKey(0), 1000, 4, truncation=1.5)
  assert float(jnp.abs(z).max()) <= 1.5
  with pytest.raises(ValueError, match="must be positive"):
    sampling.latents(jax.random.PRNGKey(0), 2, 4, truncation=0.0)


# ------------------------------------------------------------ notebook API


def test_load_generator_samples_and_applies_purely(dcgan_run):
  G = jaxgan.load_generator(dcgan_run)
  assert isinstance(G, jaxgan.Generator) and G.step == 2 and G.ema
  assert G.kind == "unconditional" and G.latent_dim == 16 and G.num_classes == 0
  images = G.sample(jax.random.PRNGKey(0), 6)
  assert images.shape == (6, 28, 28, 1) and np.abs(images).max() <= 1
  z = G.latents(jax.random.PRNGKey(0), 6)
  # G.sample is G.apply of these latents: jit(G.apply) compiles the same jitted
  # sampler (the same fusions, convolutions and reductions; the weights become
  # constants), the same float32 operations in the same order, so equal on any
  # CPU (bitwise on one); 1e-5 is slack. A worst-case bound for differently
  # ordered sums (~1e-4: BatchNorm means of 1,176 terms) would not separate
  # the likeliest bug, the raw weights for the EMA ones: 3.5e-3 apart.
  np.testing.assert_allclose(jax.jit(G.apply)(z), images, atol=1e-5)
  # Differentiable: a gradient with respect to the latents exists and is finite.
  grad = jax.grad(lambda z: G.apply(z).mean())(z)
  assert grad.shape == z.shape and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
  raw = jaxgan.load_generator(dcgan_run, ema=False)
  # Must differ: raw and EMA weights give samples 3.5e-3 apart (one machine),
  # 350 times np.allclose's 1e-5 + 1e-8; the same weights would give equal ones.
  assert not raw.ema and not np.allclose(raw.sample(jax.random.PRNGKey(0), 6), images)
  with pytest.raises(ValueError, match="not class-conditional"):
    G.sample(jax.random.PRNGKey(0), 2, labels=1)


def _readme_block(marker: str) -> str:
  text = (REPO / "README.md").read_text()
  after = text.split(marker, 1)[1]
  return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_the_readme_notebook_example_runs(tmp_path):
  code = _readme_block("<!-- notebook example -->")
  assert "jaxgan.load_generator" in code and "jaxgan.train(" in code
  (tmp_path / "example.py").write_text(code)
  result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=one_device_env())
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / "runs" / "notebook" / "checkpoints").is_dir()
  assert "(16, 32, 32, 1)" in result.stdout


# ------------------------------------------------------------ other kinds


def test_class_conditional_generate_by_label_and_one_row_per_class(tmp_path):
  run = _train("cgan:dcgan", tmp_path / "cgan", *TINY, "--config.data.source=digits",
               "--config.data.path=", "--config.evals.metrics=", cwd=tmp_path)
  G = jaxgan.load_generator(str(run))
  assert G.kind == "class_conditional" and G.num_classes == 10
  report = generate.generate_workdir(str(run), num=6, labels=[3], fmt="png",
                                     output=str(tmp_path / "threes"))
  assert sorted(os.listdir(report["output"])) == [f"{i:06d}_class3.png" for i in range(6)]
  generate.generate_workdir(str(run), num=20, fmt="grid", output=str(tmp_path / "g.png"))
  with Image.open(tmp_path / "g.png") as image:  # 10 rows (classes) of 2
    assert image.size == (2 * 30 + 2, 10 * 30 + 2)
  z = G.latents(jax.random.PRNGKey(0), 8)
  as_3 = G.apply(z, np.full(8, 3))
  # The label matters: labels 3 and 5 give images 0.15 apart (one machine),
  # 15,000 times np.allclose's 1e-5; the same program twice gives equal ones.
  assert not np.allclose(as_3, G.apply(z, np.full(8, 5)))
  with pytest.raises(ValueError, match=r"Labels must be classes in \[0, 10\)"):
    G.sample(jax.random.PRNGKey(0), 2, labels=10)


def test_image_to_image_translates_a_folder_and_refuses_truncation(tmp_path):
  run = str(_train("pix2pix", tmp_path / "p2p", "--config.data.source=digits",
                   "--config.data.path=", "--config.train.batch_size=8",
                   "--config.model.g_width=8", "--config.model.d_width=8",
                   "--config.train.sample_every=2", "--config.train.checkpoint_every=2",
                   "--config.train.num_samples=8", "--config.data.holdout=16",
                   cwd=tmp_path))
  inputs = tmp_path / "edges"
  inputs.mkdir()
  for name in ("a", "b", "c"):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40), np.uint8)
                    ).save(inputs / f"{name}.png")
  result = _jaxgan("generate", f"--workdir={run}", f"--inputs={inputs}",
                   f"--output={tmp_path / 'out'}", cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png", "c.png"]
  with Image.open(tmp_path / "out" / "a.png") as image:
    assert image.size == (32, 32)
  with pytest.raises(ValueError, match=r"'pix2pix' \(paired\) does not support trunc"):
    generate.generate_workdir(run, inputs=str(inputs), truncation=0.5)
  with pytest.raises(ValueError, match="give --inputs=FOLDER"):
    generate.generate_workdir(run)
  G = jaxgan.load_generator(run)
  assert G.kind == "paired" and G.cond_shape == (32, 32, 1)
  with pytest.raises(ValueError, match="translates inputs"):
    G.sample(jax.random.PRNGKey(0), 2)


def test_generate_refuses_labels_for_an_unconditional_model(dcgan_run):
  with pytest.raises(ValueError, match="takes no labels"):
    generate.generate_workdir(dcgan_run, labels=[3])


def test_evaluate_reads_config_json_or_says_there_is_no_run(tmp_path):
  with pytest.raises(FileNotFoundError, match="No run in"):
    evaluate.read_config(str(tmp_path))
  (tmp_path / "config.json").write_text(json.dumps({"seed": 1}))
  assert evaluate.read_config(str(tmp_path)) == ml_collections.ConfigDict({"seed": 1})
