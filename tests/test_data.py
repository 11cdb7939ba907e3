"""Tests for jaxgan.data: sources, resizing, and deterministic batches."""

import gc
import gzip
import io
import json
import logging
import pathlib
import shutil
import socket
import struct
import time

import float32
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgan import data
from jaxgan.data import _tfds

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


def _config(**fields):
  return ml_collections.ConfigDict(fields)


# ---------------------------------------------------------------- batches


@pytest.mark.parametrize('n,b', [(10, 4), (12, 4), (5, 7), (1797, 64)])
def test_batch_indices_every_example_once_per_epoch(n, b):
  steps = -(-3 * n // b) + 1  # past the end of epoch 3
  counter = np.concatenate(
      [data.batch_indices(n, b, seed=3, step=s) for s in range(steps)])
  assert counter.shape == (steps * b,)
  epochs = [counter[e * n:(e + 1) * n] for e in range(3)]
  for e, epoch in enumerate(epochs):
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
    # The documented order: epoch e is default_rng((seed, e)).permutation(N).
    np.testing.assert_array_equal(
        epoch, np.random.default_rng((3, e)).permutation(n))
  if n > 5:
    assert not np.array_equal(epochs[0], epochs[1])


def test_batch_indices_depend_only_on_seed_and_step():
  a = data.batch_indices(100, 8, seed=0, step=37)
  data.batch_indices(100, 8, seed=0, step=2)  # other calls change nothing
  data.batch_indices(100, 8, seed=1, step=37)
  np.testing.assert_array_equal(a, data.batch_indices(100, 8, seed=0, step=37))
  assert not np.array_equal(a, data.batch_indices(100, 8, seed=1, step=37))
  assert a.shape == (8,) and np.issubdtype(a.dtype, np.integer)
  a[:] = 0  # the caller's copy: the cached permutation is untouched
  assert not np.all(data.batch_indices(100, 8, seed=0, step=37) == 0)


@pytest.mark.parametrize('kwargs', [
    dict(num_examples=0, batch_size=4, seed=0, step=0),
    dict(num_examples=4, batch_size=0, seed=0, step=0),
    dict(num_examples=4, batch_size=4, seed=-1, step=0),
    dict(num_examples=4, batch_size=4, seed=0, step=-1),
])
def test_batch_indices_rejects_bad_arguments(kwargs):
  with pytest.raises(ValueError):
    data.batch_indices(**kwargs)


def _toy_dataset(n=23, labels=True):
  images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones(
      (1, 2, 2, 1), np.uint8)
  return data.ImageDataset(
      images=images, labels=np.arange(n, dtype=np.int32) if labels else None,
      num_classes=n if labels else None, name='toy')


@pytest.mark.parametrize('prefetch', [0, 2])
def test_batches_match_batch_indices(prefetch):
  ds = _toy_dataset()
  with data.Batches(ds, batch_size=5, seed=7, prefetch=prefetch) as it:
    for step in range(12):
      assert it.step == step
      batch = next(it)
      idx = data.batch_indices(len(ds), 5, seed=7, step=step)
      assert batch['image'].dtype == np.uint8
      assert batch['image'].shape == (5, 2, 2, 1)
      assert batch['label'].dtype == np.int32
      np.testing.assert_array_equal(batch['image'][:, 0, 0, 0], idx)
      np.testing.assert_array_equal(batch['label'], idx)
    assert it.step == 12


def test_batches_resume_equals_uninterrupted():
  ds = _toy_dataset(labels=False)
  with data.Batches(ds, batch_size=4, seed=1) as fresh:
    uninterrupted = [next(fresh)['image'] for _ in range(20)]
  with data.Batches(ds, batch_size=4, seed=1, start_step=13) as resumed:
    tail = [next(resumed) for _ in range(7)]
  assert all(set(batch) == {'image'} for batch in tail)
  for a, b in zip(uninterrupted[13:], tail, strict=True):
    np.testing.assert_array_equal(a, b['image'])


def test_batches_close_stops_iteration():
  it = data.Batches(_toy_dataset(), batch_size=4, seed=0, prefetch=3)
  next(it)
  it.close()
  assert not it._thread.is_alive()
  with pytest.raises(StopIteration):
    next(it)


def test_abandoned_batches_stop_their_thread():
  it = data.Batches(_toy_dataset(), batch_size=4, seed=0, prefetch=1)
  next(it)
  thread = it._thread
  del it
  gc.collect()
  thread.join(timeout=5)
  assert not thread.is_alive()


def test_to_float_range_on_numpy_and_jax():
  x = np.array([0, 127, 128, 255], np.uint8)
  y = data.to_float(x)
  assert isinstance(y, np.ndarray) and y.dtype == np.float32
  # x / 127.5 - 1 in float32: the division rounds q <= 2 by <= U q, and the
  # subtraction is exact for q >= 1/2 (Sterbenz) or rounds by <= U: <= 2U of the
  # exact value (one pixel level is 2 / 255 = 1.3e5 U).
  np.testing.assert_allclose(
      y, [-1.0, 127 / 127.5 - 1, 128 / 127.5 - 1, 1.0], rtol=0, atol=2 * float32.U)
  assert y[0] == -1.0 and y[-1] == 1.0
  z = data.to_float(jnp.asarray(x))
  assert isinstance(z, jnp.ndarray) and z.dtype == jnp.float32
  # XLA may multiply by a rounded 1 / 127.5 instead: two roundings of q, <= 4U
  # (+ U^2) of the exact value (2.5U on one machine), so z and y differ < 7U.
  np.testing.assert_allclose(z, y, rtol=0, atol=7 * float32.U)


# ---------------------------------------------------------------- load


def test_unknown_source_lists_valid_ones():
  with pytest.raises(ValueError) as e:
    data.load(_config(source='imagenet'), image_size=32, channels=1)
  for source in data.SOURCES:
    assert source in str(e.value)


def test_digits():
  ds = data.load(_config(source='digits'), image_size=32, channels=1)
  assert len(ds) == 1797 and ds.name == 'digits'
  assert ds.images.shape == (1797, 32, 32, 1) and ds.images.dtype == np.uint8
  assert ds.images.min() == 0 and ds.images.max() == 255
  assert ds.labels.dtype == np.int32 and ds.num_classes == 10
  np.testing.assert_array_equal(np.unique(ds.labels), np.arange(10))
  # Upsampled digits still look like the 8x8 originals: block means agree.
  from sklearn.datasets import load_digits
  original = load_digits().images * (255 / 16)
  blocks = ds.images[..., 0].astype(float).reshape(-1, 8, 4, 8, 4).mean((2, 4))
  # Not rounding (Pillow resamples uint8 in fixed-point integers): the bicubic
  # kernel's overshoot, clipped at 0 and 255, moves block means by 11.9 on
  # average (correlation 0.991); bound: one of the 17 original grey levels,
  # 255 / 16. Transposed, shifted, reordered or unscaled digits: > 59
  # (correlation 0.06 transposed).
  assert np.corrcoef(blocks.ravel(), original.ravel())[0, 1] > 0.97
  assert np.abs(blocks - original).mean() < 255 / 16


def test_digits_channel_mismatch_says_what_to_set():
  with pytest.raises(ValueError, match=r'1-channel.*model\.channels=1'):
    data.load(_config(source='digits'), image_size=32, channels=3)


# ---------------------------------------------------------------- tfds


@pytest.mark.parametrize('name,channels,size,native', [
    ('mnist', 1, 32, 28), ('cifar10', 3, 32, 32), ('celeb_a', 3, 16, None)])
def test_tfds_under_mock_data(name, channels, size, native):
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=6):
    ds = data.load(_config(source='tfds', name=name, split='train',
                           data_dir=None, download=False),
                   image_size=size, channels=channels)
  assert ds.name == f'tfds:{name}' and len(ds) == 6
  assert ds.images.shape == (6, size, size, channels)
  assert ds.images.dtype == np.uint8
  if native is None:  # celeb_a: no 'label' feature
    assert ds.labels is None and ds.num_classes is None
  else:
    assert ds.num_classes == 10 and ds.labels.dtype == np.int32
    assert ds.labels.min() >= 0 and ds.labels.max() < 10


def test_tfds_channel_mismatch_under_mock_data():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=2):
    with pytest.raises(ValueError, match=r'3-channel.*model\.channels=3'):
      data.load(_config(source='tfds', name='cifar10'), image_size=32,
                channels=1)


def test_tfds_not_prepared_fails_at_once_naming_data_dir(tmp_path, monkeypatch):
  pytest.importorskip('tensorflow_datasets')
  monkeypatch.setattr(_tfds, 'network_available', _no_network_expected)
  start = time.perf_counter()
  with pytest.raises(FileNotFoundError) as e:
    data.load(_config(source='tfds', name='mnist', split='train',
                      data_dir=str(tmp_path), download=False),
              image_size=32, channels=1)
  # Timing: no network wait (the probe's timeout is 3 s); 5 s of wall clock
  # leaves room for a slow, loaded machine.
  assert time.perf_counter() - start < 5
  message = str(e.value)
  assert str(tmp_path) in message
  assert 'data.download=True' in message and "source='idx'" in message


def _no_network_expected(*args, **kwargs):
  raise AssertionError('the network must not be probed here')


def test_tfds_download_without_tensorflow_names_the_extra(tmp_path,
                                                          monkeypatch):
  pytest.importorskip('tensorflow_datasets')
  monkeypatch.setattr(_tfds, '_tensorflow_installed', lambda: False)
  monkeypatch.setattr(_tfds, 'network_available', _no_network_expected)
  with pytest.raises(ImportError, match=r"jaxgan\[tf\]"):
    data.load(_config(source='tfds', name='mnist', data_dir=str(tmp_path),
                      download=True), image_size=32, channels=1)


def test_tfds_download_without_network_fails_at_once(tmp_path, monkeypatch):
  pytest.importorskip('tensorflow_datasets')
  monkeypatch.setattr(_tfds, '_tensorflow_installed', lambda: True)
  monkeypatch.setattr(_tfds, 'network_available', lambda timeout=3.0: False)
  start = time.perf_counter()
  with pytest.raises(ConnectionError, match='data.data_dir'):
    data.load(_config(source='tfds', name='mnist', data_dir=str(tmp_path),
                      download=True), image_size=32, channels=1)
  assert time.perf_counter() - start < 5  # timing: no wait (see above)
  assert not any(tmp_path.iterdir())  # nothing was downloaded or created


def _closed_local_port():
  with socket.create_server(('127.0.0.1', 0)) as server:
    return server.getsockname()[1]


def test_network_probe_false_when_unreachable(monkeypatch):
  for var in ('https_proxy', 'HTTPS_PROXY'):
    monkeypatch.delenv(var, raising=False)
  monkeypatch.setattr(_tfds, 'NETWORK_PROBE', ('127.0.0.1', _closed_local_port()))
  start = time.perf_counter()
  assert not _tfds.network_available(timeout=1)
  assert time.perf_counter() - start < 3  # timing: the 1 s timeout + 2 s slack


def test_network_probe_goes_through_the_https_proxy(monkeypatch):
  monkeypatch.setattr(_tfds, 'NETWORK_PROBE', ('127.0.0.1', _closed_local_port()))
  with socket.create_server(('127.0.0.1', 0)) as proxy:
    port = proxy.getsockname()[1]
    for var in ('https_proxy', 'HTTPS_PROXY'):
      monkeypatch.setenv(var, f'http://127.0.0.1:{port}')
    assert _tfds.network_available(timeout=2)


def test_tfds_unknown_name_suggests_close_matches():
  pytest.importorskip('tensorflow_datasets')
  with pytest.raises(ValueError, match=r'mnistt.*Did you mean.*mnist'):
    data.load(_config(source='tfds', name='mnistt'), image_size=32, channels=1)


def _tiny_tfds_builder_class(tfds):
  """A 2-split, 3-class TFDS builder that prepares without TensorFlow.

  TFDS encodes array images with TensorFlow, so the examples hand it PNG bytes.
  """

  class JaxganTestTinyImages(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          'image': tfds.features.Image(shape=(6, 8, 1)),
          'label': tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {'train': self._generate_examples(2500),
              'test': self._generate_examples(4)}

    def _generate_examples(self, n):
      for i in range(n):
        image = np.full((6, 8), i % 256, np.uint8)
        image[:, :1] = image[:, -1:] = 255  # cropped away
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format='PNG')
        yield i, {'image': buf.getvalue(), 'label': i % 3}

  return JaxganTestTinyImages


@pytest.fixture(scope='module')
def prepared_tfds(tmp_path_factory):
  """(name, data_dir) of a tiny dataset prepared as ArrayRecord files."""
  tfds = pytest.importorskip('tensorflow_datasets')
  data_dir = tmp_path_factory.mktemp('tfds')
  builder_cls = _tiny_tfds_builder_class(tfds)
  tfds.disable_progress_bar()
  try:
    builder_cls(data_dir=str(data_dir), file_format='array_record'
               ).download_and_prepare()
  except ImportError as e:  # this TFDS version wants more to prepare data
    pytest.skip(f'cannot prepare a TFDS dataset without TensorFlow here: {e}')
  finally:
    tfds.enable_progress_bar()
  return builder_cls.name, data_dir


def test_tfds_reads_prepared_array_record(prepared_tfds, monkeypatch):
  name, data_dir = prepared_tfds
  # Prepared already, so download=True must not touch the network.
  monkeypatch.setattr(_tfds, 'network_available', _no_network_expected)
  ds = data.load(_config(source='tfds', name=name, split='train',
                         data_dir=str(data_dir), download=True),
                 image_size=6, channels=1)
  assert ds.images.shape == (2500, 6, 6, 1) and ds.num_classes == 3
  assert ds.labels.dtype == np.int32
  # TFDS shuffles examples when it writes them; pair pixels with labels.
  values = ds.images[:, 3, 3, 0].astype(int)
  np.testing.assert_array_equal(np.sort(values), np.sort(np.arange(2500) % 256))
  assert np.all(ds.images[..., 0] == values[:, None, None])  # border cropped
  test = data.load(_config(source='tfds', name=name, split='test',
                           data_dir=str(data_dir)), image_size=6, channels=1)
  np.testing.assert_array_equal(
      np.sort(test.images[:, 0, 0, 0]), [0, 1, 2, 3])
  np.testing.assert_array_equal(test.labels, test.images[:, 0, 0, 0] % 3)


def test_tfds_unknown_split_lists_splits(prepared_tfds):
  name, data_dir = prepared_tfds
  with pytest.raises(ValueError, match=r"validation.*\['test', 'train'\]"):
    data.load(_config(source='tfds', name=name, split='validation',
                      data_dir=str(data_dir)), image_size=6, channels=1)


def test_tfds_tfrecord_only_names_the_extra(prepared_tfds, tmp_path,
                                            monkeypatch):
  """A dataset prepared only as TFRecord files needs TensorFlow to read."""
  name, data_dir = prepared_tfds
  shutil.copytree(data_dir / name, tmp_path / name)
  info_file = next((tmp_path / name).glob('*/dataset_info.json'))
  info = json.loads(info_file.read_text())
  info['fileFormat'] = 'tfrecord'
  info_file.write_text(json.dumps(info))
  monkeypatch.setattr(_tfds, '_tensorflow_installed', lambda: False)
  with pytest.raises(ImportError, match=r"TFRecord.*jaxgan\[tf\]"):
    data.load(_config(source='tfds', name=name, data_dir=str(tmp_path)),
              image_size=6, channels=1)


def test_tfds_not_prepared_real_builder(prepared_tfds, tmp_path):
  name, _ = prepared_tfds
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    data.load(_config(source='tfds', name=name, data_dir=str(tmp_path)),
              image_size=6, channels=1)


# ---------------------------------------------------------------- idx


def _write_idx(path, array, compress=False, truncate=0):
  code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
  raw = struct.pack('>BBBB', 0, 0, code, array.ndim)
  raw += struct.pack(f'>{array.ndim}I', *array.shape)
  raw += array.astype(array.dtype.newbyteorder('>')).tobytes()
  raw = raw[:len(raw) - truncate]
  path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize('compress', [False, True])
def test_idx_synthetic(tmp_path, compress):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (7, 6, 6), dtype=np.uint8)
  labels = np.array([0, 1, 2, 2, 1, 0, 3], np.uint8)
  ext = '.gz' if compress else ''
  _write_idx(tmp_path / f't10k-images-idx3-ubyte{ext}', images, compress)
  _write_idx(tmp_path / f't10k-labels-idx1-ubyte{ext}', labels, compress)
  ds = data.load(_config(source='idx', path=str(tmp_path), split='test'),
                 image_size=6, channels=1)
  np.testing.assert_array_equal(ds.images[..., 0], images)
  np.testing.assert_array_equal(ds.labels, labels)
  assert ds.labels.dtype == np.int32 and ds.num_classes == 4
  assert ds.name == f'idx:{tmp_path}'
  big = data.load(_config(source='idx', path=str(tmp_path), split='test'),
                  image_size=12, channels=1)
  assert big.images.shape == (7, 12, 12, 1)


@pytest.mark.parametrize('compress', [False, True])
def test_idx_truncated_file_names_it(tmp_path, compress):
  ext = '.gz' if compress else ''
  images_file = tmp_path / f'train-images-idx3-ubyte{ext}'
  _write_idx(images_file, np.zeros((4, 5, 5), np.uint8), compress, truncate=3)
  _write_idx(tmp_path / 'train-labels-idx1-ubyte', np.zeros(4, np.uint8))
  with pytest.raises(ValueError, match='truncated') as e:
    data.load(_config(source='idx', path=str(tmp_path)), image_size=5,
              channels=1)
  assert str(images_file) in str(e.value)


def test_idx_corrupt_gzip_and_bad_magic(tmp_path):
  images_file = tmp_path / 'train-images-idx3-ubyte.gz'
  raw = gzip.compress(b'\0\0\x08\x03' + b'\0' * 100)
  images_file.write_bytes(raw[:len(raw) // 2])  # cut inside the gzip stream
  _write_idx(tmp_path / 'train-labels-idx1-ubyte', np.zeros(4, np.uint8))
  with pytest.raises(ValueError, match='Cannot read IDX file') as e:
    data.load(_config(source='idx', path=str(tmp_path)), image_size=5,
              channels=1)
  assert str(images_file) in str(e.value)
  images_file.write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)
  with pytest.raises(ValueError, match='not an IDX file'):
    data.load(_config(source='idx', path=str(tmp_path)), image_size=5,
              channels=1)


def test_idx_missing_files_and_mismatched_labels(tmp_path):
  with pytest.raises(FileNotFoundError, match='train-images-idx3-ubyte'):
    data.load(_config(source='idx', path=str(tmp_path)), image_size=5,
              channels=1)
  with pytest.raises(FileNotFoundError, match='not a directory'):
    data.load(_config(source='idx', path=str(tmp_path / 'nope')),
              image_size=5, channels=1)
  _write_idx(tmp_path / 'train-images-idx3-ubyte', np.zeros((4, 5, 5), np.uint8))
  with pytest.raises(FileNotFoundError, match='train-labels-idx1-ubyte'):
    data.load(_config(source='idx', path=str(tmp_path)), image_size=5,
              channels=1)
  _write_idx(tmp_path / 'train-labels-idx1-ubyte', np.zeros(3, np.uint8))
  with pytest.raises(ValueError, match='expected 4 labels'):
    data.load(_config(source='idx', path=str(tmp_path)), image_size=5,
              channels=1)
  with pytest.raises(ValueError, match="'validation'"):
    data.load(_config(source='idx', path=str(tmp_path), split='validation'),
              image_size=5, channels=1)


@pytest.mark.parametrize('dataset', ['mnist', 'fashion_mnist'])
def test_idx_real_files(dataset):
  path = SHARED_DATA / dataset
  if not (path / 'train-images-idx3-ubyte.gz').exists():
    pytest.skip(f'real {dataset} IDX files not found in {path}')
  ds = data.load(_config(source='idx', path=str(path), split='train'),
                 image_size=32, channels=1)
  assert ds.images.shape == (60000, 32, 32, 1) and ds.images.dtype == np.uint8
  assert ds.num_classes == 10 and ds.labels.dtype == np.int32
  counts = np.bincount(ds.labels, minlength=10)
  # Facts of the data sets, not tolerances: classes of 5,421 to 6,742 images
  # (MNIST) and 6,000 (Fashion-MNIST); mean pixel 33.6 and 73.4 at 32x32; the
  # padded MNIST border averages 0.03.
  assert counts.sum() == 60000 and counts.min() > 5000 and counts.max() < 7000
  assert ds.images.min() == 0 and ds.images.max() == 255
  assert 20 < ds.images.mean() < 100
  if dataset == 'mnist':  # bright digits on a black border
    assert ds.images[:, :2].mean() < 1
  test = data.load(_config(source='idx', path=str(path), split='test'),
                   image_size=28, channels=1)
  assert test.images.shape == (10000, 28, 28, 1)
  with pytest.raises(ValueError, match=r'model\.channels=1'):
    data.load(_config(source='idx', path=str(path), split='test'),
              image_size=28, channels=3)


# ---------------------------------------------------------------- folder


def _solid(size, color, mode='RGB'):
  return Image.new(mode, size, color)


@pytest.fixture
def image_folder(tmp_path):
  """Five good images of different sizes, modes and formats, and two bad."""
  root = tmp_path / 'images'
  (root / 'sub' / 'deeper').mkdir(parents=True)
  # Sorted order: a.png, b.JPG, c.gif, d_rgba.png, sub/deeper/e.bmp.
  _solid((40, 30), (255, 0, 0)).save(root / 'a.png')
  _solid((50, 50), 128, 'L').save(root / 'b.JPG', quality=95)
  _solid((9, 12), 3, 'P').save(root / 'c.gif')
  _solid((20, 20), (0, 0, 255, 255), 'RGBA').save(root / 'd_rgba.png')
  # Wide image: green centre, red bands that the centre crop removes.
  wide = np.zeros((20, 60, 3), np.uint8)
  wide[:, :, 0] = 255
  wide[:, 20:40] = (0, 255, 0)
  Image.fromarray(wide).save(root / 'sub' / 'deeper' / 'e.bmp')
  (root / 'notes.txt').write_text('not an image')
  (root / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n garbage')
  jpg = root / 'sub' / 'cut.jpg'
  _solid((64, 64), (1, 2, 3)).save(jpg)
  jpg.write_bytes(jpg.read_bytes()[:100])
  return root


def test_folder_rgb(image_folder, caplog):
  with caplog.at_level(logging.WARNING):
    ds = data.load(_config(source='folder', path=str(image_folder)),
                   image_size=16, channels=3)
  assert ds.images.shape == (5, 16, 16, 3) and ds.images.dtype == np.uint8
  assert ds.labels is None and ds.num_classes is None
  assert ds.name == f'folder:{image_folder}'
  centre = ds.images[:, 8, 8].astype(int)
  np.testing.assert_array_equal(centre[0], [255, 0, 0])
  # Not rounding: lossy JPEG (libjpeg's integer DCT). A flat 128 decodes to 128
  # exactly here; 2 levels allow an encoder that quantises it to a neighbour,
  # and any other colour is far.
  np.testing.assert_allclose(centre[1], [128] * 3, atol=2)
  np.testing.assert_array_equal(centre[3], [0, 0, 255])
  np.testing.assert_array_equal(ds.images[4], np.broadcast_to(
      np.array([0, 255, 0], np.uint8), (16, 16, 3)))  # only the centre left
  warnings = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING]
  assert any('Skipped 2 of 7' in w for w in warnings), warnings


def test_folder_grey_and_deterministic(image_folder):
  config = _config(source='folder', path=str(image_folder))
  ds = data.load(config, image_size=8, channels=1)
  assert ds.images.shape == (5, 8, 8, 1)
  assert ds.images[0, 4, 4, 0] == 76  # PIL's luma of pure red
  np.testing.assert_array_equal(
      ds.images, data.load(config, image_size=8, channels=1).images)


def test_folder_corrupt_file_fails_when_asked(image_folder):
  with pytest.raises(ValueError, match=r'broken\.png|cut\.jpg'):
    data.load(_config(source='folder', path=str(image_folder),
                      skip_corrupt=False), image_size=16, channels=3)


def test_folder_empty_or_missing(tmp_path):
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'empty' / 'readme.txt').write_text('no images here')
  with pytest.raises(FileNotFoundError, match='No images'):
    data.load(_config(source='folder', path=str(tmp_path / 'empty')),
              image_size=16, channels=3)
  with pytest.raises(FileNotFoundError, match='not a directory'):
    data.load(_config(source='folder', path=str(tmp_path / 'missing')),
              image_size=16, channels=3)
  with pytest.raises(ValueError, match='data.path'):
    data.load(_config(source='folder'), image_size=16, channels=3)
  (tmp_path / 'bad').mkdir()
  (tmp_path / 'bad' / 'x.png').write_bytes(b'nope')
  with pytest.raises(ValueError, match='None of the 1'):
    data.load(_config(source='folder', path=str(tmp_path / 'bad')),
              image_size=16, channels=3)
