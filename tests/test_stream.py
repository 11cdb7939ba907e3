"""data.source='arrayrecord': `prepare` (a folder -> ArrayRecord), the lazily
read `ArrayRecordImages`, per-process streamed batches, training and
evaluation on it."""

import json
import os
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgan import data as data_lib
from jaxgan import evaluation
from jaxgan.data import _stream
from jaxgan.data._folder import load_folder
from jaxgan.evaluation import _features
from jaxgan.train import setup, trainer, validation

from conftest import REPO, one_device_env, tiny_config

pytest.importorskip("array_record")

SIZE = 16


def _smooth(rng, width, height, channels):
  """Smooth random content (JPEG-like photos rather than white noise)."""
  small = rng.integers(0, 256, (4, 4, channels), np.uint8)
  image = Image.fromarray(small[..., 0] if channels == 1 else small)
  return image.resize((width, height), Image.Resampling.BICUBIC)


def _folder(path, n=64, *, channels=3, size=None, fmt="PNG", seed=0):
  """n images of assorted sizes (or size x size), written with PIL."""
  rng = np.random.default_rng(seed)
  os.makedirs(path, exist_ok=True)
  for i in range(n):
    w, h = (size, size) if size else (int(rng.integers(12, 40)), int(rng.integers(12, 40)))
    ext = "jpg" if fmt == "JPEG" else "png"
    _smooth(rng, w, h, channels).save(os.path.join(path, f"{i:03d}.{ext}"), fmt,
                                      **({"quality": 90} if fmt == "JPEG" else {}))
  return str(path)


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
  """(folder of 64 PNGs, its lossless conversion at SIZE, load_folder's images)."""
  root = tmp_path_factory.mktemp("pngs")
  folder = _folder(root / "images")
  out = str(root / "converted")
  data_lib.prepare(folder, out, image_size=SIZE, encoding="png")
  return folder, out, load_folder(folder, image_size=SIZE, channels=3).images


def _records(path):
  from array_record.python import array_record_module
  reader = array_record_module.ArrayRecordReader(
      os.path.join(path, _stream.RECORDS), "readahead_buffer_size:0")
  return reader.read(list(range(reader.num_records())))


def test_png_conversion_decodes_to_exactly_what_load_folder_gives(pngs):
  folder, out, expected = pngs
  with open(os.path.join(out, _stream.SIDECAR)) as f:
    meta = json.load(f)
  assert meta["count"] == 64 and meta["shape"] == [64, SIZE, SIZE, 3]
  assert (meta["encoding"], meta["verbatim_jpegs"], meta["labels"]) == ("png", 0, None)
  assert meta["source"] == os.path.abspath(folder)
  assert all(r.startswith(b"\x89PNG") for r in _records(out))
  images = _stream.load_arrayrecord(out, image_size=SIZE, channels=3).images
  np.testing.assert_array_equal(images[:], expected)


def test_jpeg_conversion_is_within_jpeg_error_and_keeps_target_size_jpegs(tmp_path):
  folder = tmp_path / "mixed"
  _folder(folder / "a_resized", n=8, seed=1)  # PNGs of other sizes: encoded
  _folder(folder / "b_kept", n=8, size=SIZE, fmt="JPEG", seed=2)  # kept verbatim
  meta = data_lib.prepare(str(folder), str(tmp_path / "out"), image_size=SIZE,
                          quality=95)
  assert (meta["encoding"], meta["quality"], meta["verbatim_jpegs"]) == ("jpeg", 95, 8)
  records = _records(tmp_path / "out")
  sources = sorted(os.listdir(folder / "b_kept"))
  for record, name in zip(records[8:], sources):
    assert record == (folder / "b_kept" / name).read_bytes()
  expected = load_folder(str(folder), image_size=SIZE, channels=3).images
  images = data_lib.load(ml_collections.ConfigDict(dict(
      source="arrayrecord", path=str(tmp_path / "out"))), image_size=SIZE,
      channels=3).images[:]
  np.testing.assert_array_equal(images[8:], expected[8:])  # the same JPEG bytes
  # Not rounding: the loss of a JPEG at quality 95 (libjpeg's integer DCT) on
  # smooth 16x16 images; one machine: mean 1.64 levels, max 10. Bounds: lossy
  # (> 0), under 2 levels on average, no pixel off by 40.
  error = np.abs(images[:8].astype(int) - expected[:8])
  assert 0 < error.mean() < 2.0 and error.max() < 40, (error.mean(), error.max())


def test_prepare_never_overwrites_and_leaves_nothing_when_it_fails(pngs, tmp_path):
  folder, out, _ = pngs
  before = sorted(os.listdir(out))
  with pytest.raises(FileExistsError, match="never overwrites"):
    data_lib.prepare(folder, out, image_size=SIZE)
  assert sorted(os.listdir(out)) == before
  mixed = tmp_path / "mixed"
  _folder(mixed / "colour", n=2)
  _folder(mixed / "grey", n=2, channels=1)
  with pytest.raises(ValueError, match="mix greyscale and colour"):
    data_lib.prepare(str(mixed), str(tmp_path / "out"), image_size=SIZE,
                     mixed_channels="error")
  assert sorted(os.listdir(tmp_path)) == ["mixed"]  # no output, no partial one

  def command(output):
    return subprocess.run(
        [sys.executable, "-m", "jaxgan", "prepare", f"--input={folder}",
         f"--output={output}", f"--image_size={SIZE}", "--encoding=png"],
        capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)

  result = command(tmp_path / "cli")
  assert result.returncode == 0, result.stderr
  assert json.loads(result.stdout)["fingerprint"] == _stream._locate(out)[1]["fingerprint"]
  result = command(out)
  assert result.returncode != 0 and "never overwrites" in result.stderr, result.stderr


def test_lazy_images_index_like_numpy(pngs):
  _, out, expected = pngs
  images = _stream.load_arrayrecord(out, image_size=SIZE, channels=3).images
  assert (images.shape, images.dtype, images.ndim, len(images)) == (
      expected.shape, np.uint8, 4, 64)
  assert images.nbytes == expected.nbytes
  index = np.array([[5, -1], [0, 5]])
  mask = np.arange(64) % 7 == 0
  for key in (3, -1, np.int64(10), slice(None), slice(60, None), slice(None, None, -9),
              slice(70, 80), index, mask, np.array([], np.int64), [2, 1]):
    np.testing.assert_array_equal(images[key], expected[key], err_msg=str(key))
  for key in (64, -65, np.array([0, 64])):
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 64"):
      images[key]
  with pytest.raises(IndexError, match="integer or boolean"):
    images[np.array([0.5])]
  with pytest.raises(TypeError, match="first axis"):
    images[0, 0]
  with pytest.raises(TypeError, match="hold the whole dataset in memory"):
    np.asarray(images)


def test_num_examples_is_a_lazy_view_of_the_same_images(pngs):
  folder, out, _ = pngs
  config = ml_collections.ConfigDict(dict(source="arrayrecord", path=out,
                                          num_examples=10, seed=3))
  lazy = data_lib.load(config, image_size=SIZE, channels=3)
  config.update(source="folder", path=folder)
  in_memory = data_lib.load(config, image_size=SIZE, channels=3)
  assert data_lib.is_lazy(lazy.images) and len(lazy) == 10
  np.testing.assert_array_equal(lazy.images[:], in_memory.images)
  whole = _stream.load_arrayrecord(out, image_size=SIZE, channels=3).images
  assert lazy.images.fingerprint != whole.fingerprint


def _batch_config(path, source, batch_size=16, n_critic=2):
  config = tiny_config()
  config.model.update(image_size=SIZE, channels=3)
  config.data.update(source=source, path=path, on_device=False)
  config.train.update(batch_size=batch_size, n_critic=n_critic)
  return config


def test_streamed_batches_equal_the_in_memory_ones(pngs):
  folder, out, _ = pngs
  in_memory = data_lib.load(_batch_config(folder, "folder").data, image_size=SIZE,
                            channels=3)
  streamed = data_lib.load(_batch_config(out, "arrayrecord").data, image_size=SIZE,
                           channels=3)
  config = _batch_config(out, "arrayrecord")
  config.data.on_device = True
  assert not setup.on_device(config, streamed)  # never copied to the devices
  a = setup.Batches(_batch_config(folder, "folder"), in_memory, start_step=3)
  b = setup.Batches(config, streamed, start_step=3)
  try:
    for step in (3, 5, 7):  # 32-image global batches that cross epochs of 64
      x, y = a(step, 2), b(step, 2)
      assert x.keys() == y.keys() == {"image"}
      assert y["image"].shape == (jax.local_device_count(), 2, 2, 2, SIZE, SIZE, 3)
      np.testing.assert_array_equal(x["image"], y["image"])
  finally:
    a.close()
    b.close()


def test_each_process_reads_and_decodes_only_its_rows(pngs, monkeypatch):
  folder, out, _ = pngs
  in_memory = load_folder(folder, image_size=SIZE, channels=3)
  streamed = _stream.load_arrayrecord(out, image_size=SIZE, channels=3)
  decoded = []
  read = _stream.ArrayRecordImages._read
  monkeypatch.setattr(_stream.ArrayRecordImages, "_read",
                      lambda self, rows: decoded.append(len(rows)) or read(self, rows))
  global_batch = 32
  config = _batch_config(out, "arrayrecord", batch_size=global_batch, n_critic=1)
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  for process in (0, 1):
    monkeypatch.setattr(jax, "process_index", lambda p=process: p)
    decoded.clear()
    batches = setup.Batches(config, streamed, start_step=0)
    try:
      got = batches(0, 3)["image"]
    finally:
      batches.close()
    idx = np.stack([data_lib.batch_indices(64, global_batch, config.seed, s)
                    for s in range(3)])
    np.testing.assert_array_equal(got, setup.shard_batch(in_memory.images[idx], 1))
    assert decoded[:3] == [global_batch // 2] * 3  # half of each batch


def _tiny_store(tmp_path, config):
  folder = _folder(tmp_path / "grey", n=64, channels=config.model.channels, seed=4)
  out = str(tmp_path / "grey_ar")
  data_lib.prepare(folder, out, image_size=config.model.image_size,
                   channels=config.model.channels, encoding="png")
  return out


def test_resumed_streaming_run_ends_with_the_parameters_of_an_uninterrupted_one(tmp_path):
  config = tiny_config()
  config.data.update(source="arrayrecord", path=_tiny_store(tmp_path, config))
  uninterrupted = trainer.train_and_evaluate(config, str(tmp_path / "a"))
  config.train.num_steps = 2
  trainer.train_and_evaluate(config, str(tmp_path / "b"))
  config.train.num_steps = 4
  resumed = trainer.train_and_evaluate(config, str(tmp_path / "b"))
  assert int(resumed.step) == 4
  leaves_a, leaves_b = jax.tree.leaves(uninterrupted), jax.tree.leaves(resumed)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def test_bad_inputs_say_what_to_do(pngs, tmp_path, monkeypatch):
  _, out, _ = pngs
  with pytest.raises(ValueError, match="needs data.path"):
    _stream.load_arrayrecord("", image_size=SIZE, channels=3)
  with pytest.raises(FileNotFoundError, match="jaxgan prepare --input=FOLDER"):
    _stream.load_arrayrecord(str(tmp_path / "nothing"), image_size=SIZE, channels=3)
  with pytest.raises(ValueError, match=r"holds 16x16 images but model.image_size=32. "
                     r"Set model.image_size=16 .*--image_size=32"):
    _stream.load_arrayrecord(out, image_size=32, channels=3)
  with pytest.raises(ValueError, match="Set model.channels=3"):
    _stream.load_arrayrecord(out, image_size=SIZE, channels=1)
  with pytest.raises(FileNotFoundError, match="not a directory"):
    data_lib.prepare(str(tmp_path / "nothing"), str(tmp_path / "o"), image_size=SIZE)
  config = tiny_config()
  config.data.update(source="arrayrecord", path=out)
  validation.check_config(config)  # a streaming config is valid
  config.data.pairs = "edges"
  with pytest.raises(ValueError, match="makes its pairs in memory"):
    validation.check_config(config)
  for module in ("array_record", "array_record.python",
                 "array_record.python.array_record_module"):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
  with pytest.raises(data_lib.MissingExtraError, match=r"pip install 'jaxgan\[stream\]'"):
    _stream.load_arrayrecord(out, image_size=SIZE, channels=3)


def _net():
  """A random linear feature 'network' on SIZE x SIZE images (fast)."""
  w = np.random.default_rng(0).normal(size=(SIZE * SIZE, 5)).astype(np.float32)

  def apply(variables, images):
    x = images.astype(np.float32).mean(-1).reshape(images.shape[0], -1) / 255.0
    features = jax.numpy.tanh(x @ variables["w"])
    return {"features": features, "logits": features}

  return _features.FeatureNet("fake", apply, {"w": w}, "", (1, 3), "fake")


def test_evaluator_keys_its_cache_without_reading_and_extracts_in_chunks(
    pngs, tmp_path, monkeypatch):
  folder, out, expected = pngs
  config = evaluation.default_config()
  config.update(metrics="fid", batch_size=4, num_reference=40,
                cache_dir=str(tmp_path / "cache"))
  lazy = _stream.load_arrayrecord(out, image_size=SIZE, channels=3)
  in_memory = data_lib.ImageDataset(expected, None, None, lazy.name)
  reads = []
  read = _stream.ArrayRecordImages._read
  monkeypatch.setattr(_stream.ArrayRecordImages, "_read",
                      lambda self, rows: reads.append(len(rows)) or read(self, rows))
  evaluator = evaluation.Evaluator(config, lazy, str(tmp_path), feature_net=_net())
  path, key = evaluator._cache_path()
  assert not reads  # the key is the converter's fingerprint
  features = evaluator.reference()["features"]
  assert reads == [32, 8]  # 40 images, 8 batches of 4 at a time
  expected_features = evaluation.Evaluator(
      config.copy_and_resolve_references(), in_memory, str(tmp_path / "m"),
      feature_net=_net())._reference_features(
          np.sort(np.random.default_rng(0).permutation(64)[:40]))
  # The same 40 images through the same program in the same batches (of 8: 4
  # rounded up to the 8 devices, one image each; chunks of 32 rows keep the
  # boundaries): equal on any machine (bitwise on one). rtol=1e-6 (17 U) is
  # only slack; the features (tanh of 256-term sums) of a wrong or reordered
  # image differ by O(1).
  np.testing.assert_allclose(features, expected_features, rtol=1e-6)
  assert os.path.exists(path)


def test_the_benchmark_prints_conversion_loader_and_memory_figures(tmp_path):
  result = subprocess.run(
      [sys.executable, str(REPO / "benchmarks" / "stream_loader.py"), f"--dir={tmp_path}",
       "--num=40", "--size=16", "--batch_size=8", "--windows=2", "--steps=2"],
      capture_output=True, text=True, timeout=300,
      env=one_device_env())
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout[result.stdout.index("{"):])
  kept, resized = report["conversion"]
  assert (kept["image_size"], kept["verbatim_jpegs"]) == (16, 40)
  assert (resized["image_size"], resized["verbatim_jpegs"]) == (12, 0)
  loader = report["loader"]["arrayrecord"]
  assert 0 < loader["min"] <= loader["median_images_per_s"] <= loader["max"]
  memory = report["memory"]
  assert memory["in_memory_dataset_mb"] == round(40 * 16 * 16 * 3 / 1e6, 1)
  for process in ("streaming_process", "load_folder_process"):
    assert 0 < memory[process]["peak_rss_mb_after_imports"] <= memory[process]["peak_rss_mb"]
