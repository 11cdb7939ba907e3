"""The shipped classifiers, feature extraction, the in-training Evaluator and
`python -m jaxgan.evaluate`, on real MNIST / Fashion-MNIST where available."""

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import flax.linen as nn
import float32
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxgan import data as data_lib
from jaxgan import evaluation
from jaxgan.evaluation import _classifier, _features, toy

from conftest import REPO, checkpoint_without_training, tiny_config

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / 'shared' / 'data'


def _load(name, split):
  path = SHARED_DATA / name
  if not path.exists():
    pytest.skip(f'{path} is absent (the offline MNIST copies in ../shared/data).')
  config = ml_collections.ConfigDict(dict(source='idx', path=str(path), split=split))
  return data_lib.load(config, image_size=28, channels=1)


@pytest.fixture(scope='module')
def mnist_test():
  return _load('mnist', 'test')


@pytest.fixture(scope='module')
def reference(mnist_test):
  """2,000 MNIST test images as the reference set."""
  return data_lib.ImageDataset(mnist_test.images[:2000], mnist_test.labels[:2000],
                               10, 'mnist-test-2000')


def _config(tmp_path, **overrides):
  config = evaluation.default_config()
  config.update(dict(feature_net='classifier_mnist', num_samples=500,
                     batch_size=100, kid_subsets=10, kid_subset_size=200,
                     cache_dir=str(tmp_path / 'cache')))
  config.update(overrides)
  return config


def _float32_bounds(net, images):
  """{layer name: how far two float32 evaluations of `net` on uint8 `images`
  can differ at that layer's output}: float32.sum_bound of each Dense/Conv
  (its fan-in terms and the bias; magnitude: the largest sum of |w| |x| + |b|
  over its outputs, for its actual inputs x) added up layer by layer, errors
  carried forward with gain <= 1 (as float32.network_bound); the input
  resize adds two passes of weights >= 0 summing to 1 on |x| <= 1."""
  total = [2 * float32.sum_bound(max(images.shape[1:3]))]
  bounds, busy = {}, []

  def measure(next_fun, args, kwargs, context):
    module = context.module
    if (not busy and context.method_name == '__call__'
        and isinstance(module, (nn.Dense, nn.Conv))):
      busy.append(module)  # not for the layer's own apply below
      absolute = jax.tree.map(jnp.abs, module.variables)
      magnitude = module.clone(parent=None).apply(absolute, jnp.abs(args[0])).max()
      busy.pop()
      kernel = module.variables['params']['kernel']
      total.append(float32.sum_bound(kernel.size // kernel.shape[-1] + 1, magnitude))
      bounds[module.name] = float(sum(total))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(measure):
    net.apply(net.variables, jnp.asarray(images))
  return bounds


def _from_images(images):
  """A sample_fn that returns the given uint8 images as floats in [-1, 1]."""
  def sample_fn(rng, n):
    idx = jax.random.choice(rng, len(images), (n,), replace=False)
    return data_lib.to_float(images[np.asarray(idx)])
  return sample_fn


# ------------------------------------------------------------- classifiers


@pytest.mark.parametrize('name,floor', [('mnist', 0.99), ('fashion_mnist', 0.90)])
def test_shipped_classifier_is_small_accurate_and_recorded(name, floor):
  path = _classifier.weights_file(name)
  assert os.path.getsize(path) < 1_000_000
  record = _classifier.info(name)
  # Not rounding: accuracy floors. On the first 2,000 test images (floor - 0.02)
  # the accuracy's standard error is 0.002 (MNIST, 99.2%) and 0.006 (Fashion,
  # 92.6%): the margins are 10 and 7 of them; rounding can flip near-ties only.
  assert record['test_accuracy'] > floor and record['test_images'] == 10000
  with open(path, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  assert record['sha256'] == digest
  net = evaluation.feature_net(f'classifier_{name}')
  assert net.weights_sha256 == digest
  test = _load(name, 'test')
  out = net.extract(test.images[:2000], batch_size=500)
  assert out['features'].shape == (2000, 128) and out['logits'].shape == (2000, 10)
  assert (out['logits'].argmax(-1) == test.labels[:2000]).mean() > floor - 0.02


def test_extraction_is_data_parallel_and_exact():
  net = evaluation.feature_net('classifier_mnist')
  assert jax.local_device_count() == 8  # conftest's host devices
  images = np.random.default_rng(0).integers(0, 256, (13, 32, 32, 1), np.uint8)
  batched = net.extract(images, batch_size=8)  # 2 batches, the last padded
  whole = jax.jit(net.apply)(net.variables, jnp.asarray(images))
  # Other batch shapes sum in other orders: resize (32 terms), conv 5x5x1,
  # conv 5x5x16, dense 1568, magnitudes <= 15: 3.2e-3 (2.2e-6 seen on one
  # machine); features are up to 3.3 and those of another image or of the
  # padding differ by O(1).
  atol = _float32_bounds(net, images)['features']
  np.testing.assert_allclose(batched['features'], whole['features'], atol=atol)
  # Floats in [-1, 1] are quantised like a saved PNG, then take the same path.
  floats = net.extract(data_lib.to_float(images) + 1e-3, batch_size=8)
  np.testing.assert_array_equal(floats['features'], batched['features'])
  with pytest.raises(ValueError, match='C in'):
    net.extract(np.zeros((2, 28, 28, 3), np.uint8))


def test_to_uint8_rounds_like_saving_a_png():
  x = np.array([-1.5, -1.0, -0.999, 0.0, 1.0, 2.0], np.float32)
  np.testing.assert_array_equal(evaluation.to_uint8(x), [0, 0, 0, 128, 255, 255])
  u = np.arange(256, dtype=np.uint8)
  np.testing.assert_array_equal(evaluation.to_uint8(data_lib.to_float(u)), u)


# -------------------------------------------------------------- Evaluator


def test_default_config_evaluates_nothing(tmp_path):
  evaluator = evaluation.Evaluator(evaluation.default_config(), None, str(tmp_path))
  assert not evaluator.due(100, final=True)
  assert evaluator(lambda rng, n: 1 / 0, 100) == {}


@pytest.mark.parametrize('overrides,message', [
    (dict(metrics='fid,fdi'), "Unknown metric.*'fdi'.*valid: fid, kid, is"),
    (dict(metrics='fid', feature_net='vgg'), 'Unknown feature network.*inception'),
    (dict(metrics='fid', best_metric='is'), 'best_metric=.*choose one of: fid'),
    (dict(metrics='fid', best_mode='lower'), 'best_mode'),
    (dict(metrics='fid,toy_ring'), 'cannot be mixed'),
    (dict(metrics='stacked_mnist', feature_net='inception'), 'need a classifier'),
    (dict(metrics='fid', num_samples=0), 'num_samples must be positive'),
])
def test_bad_configs_fail_at_construction(overrides, message, reference, tmp_path):
  with pytest.raises(ValueError, match=message):
    evaluation.Evaluator(_config(tmp_path, **overrides), reference, str(tmp_path))


def test_due_every_and_final(reference, tmp_path):
  evaluator = evaluation.Evaluator(_config(tmp_path, metrics='fid', every=10),
                                   reference, str(tmp_path))
  assert [s for s in range(1, 31) if evaluator.due(s, final=False)] == [10, 20, 30]
  assert evaluator.due(7, final=True)
  only_final = evaluation.Evaluator(_config(tmp_path, metrics='fid'), reference,
                                    str(tmp_path))
  assert not only_final.due(10, final=False) and only_final.due(10, final=True)


@pytest.fixture(scope='module')
def scores(mnist_test, reference, tmp_path_factory):
  """Scores of real (unseen) digits, of one digit class only, and of noise."""
  tmp_path = tmp_path_factory.mktemp('evals')
  config = _config(tmp_path, metrics='fid,kid,is,precision_recall,density_coverage,'
                   'class_distribution')
  evaluator = evaluation.Evaluator(config, reference, str(tmp_path))
  unseen = mnist_test.images[5000:]
  ones = unseen[mnist_test.labels[5000:] == 1]
  noise = lambda rng, n: np.asarray(jax.random.uniform(rng, (n, 28, 28, 1), minval=-1))
  return {'evaluator': evaluator, 'tmp_path': tmp_path,
          'real': evaluator(_from_images(unseen), step=1),
          'ones': evaluator(_from_images(ones), step=2),
          'noise': evaluator(noise, step=3)}


def test_evaluator_ranks_real_collapsed_and_noise_samples(scores):
  real, ones, noise = scores['real'], scores['ones'], scores['noise']
  assert set(real) == {'fid', 'kid', 'kid_std', 'is', 'is_std', 'precision', 'recall',
                       'density', 'coverage', 'class_kl', 'class_min_frac',
                       'class_max_frac'}
  # Not rounding: thresholds that separate the three sets (fixed seeds). On one
  # machine, real / ones / noise: FID 22.6 / 576 / 475; KID 1.5 (std 0.73) /
  # 66; precision 0.86, recall 0.80 / 0.078 / 0; coverage 0.86 / 0.11 / 0.036;
  # class KL 0.007 / 2.29 (> 2.07); IS 9.1 / 1.01. Float32 rounding moves the
  # features by < 1e-2 of their O(1) values (_float32_bounds), far from these.
  assert real['fid'] < 0.1 * min(ones['fid'], noise['fid'])
  assert abs(real['kid']) < 3 * real['kid_std'] < ones['kid']
  assert real['precision'] > 0.6 and real['recall'] > 0.6
  assert ones['recall'] < 0.25 and noise['recall'] == 0.0
  assert real['coverage'] > 0.8 and ones['coverage'] < 0.3 and noise['coverage'] < 0.1
  # (The classifier maps noise to one region among real digits: precision and
  # density cannot flag noise in its feature space; coverage and recall do.)
  assert real['class_kl'] < 0.05 and ones['class_kl'] > 0.9 * np.log(10)
  assert real['is'] > 8.0 and ones['is'] < 1.5  # the "MNIST score"
  for result in (real, ones, noise):
    assert all(np.isfinite(v) for v in result.values())


def test_evaluator_fid_is_the_fid_of_its_features(scores, reference):
  evaluator = scores['evaluator']
  samples = evaluator.generate(_from_images(reference.images))
  net = evaluation.feature_net('classifier_mnist')
  # The evaluator's batch size: the same program on the same batches gives the
  # same float32 features (with another batch size they may differ by up to
  # _float32_bounds, 8.6e-3 here, which bounds this FID only to ~15%), and
  # both FIDs are the same float64 function of them: equal. rel=1e-6 is far
  # below a bug such as N for N - 1 in the samples' covariance (8e-5).
  batch_size = evaluator.config.batch_size
  fake = net.extract(samples, batch_size=batch_size)['features']
  real = net.extract(reference.images, batch_size=batch_size)['features']
  assert evaluator.score(samples)['fid'] == pytest.approx(
      evaluation.fid_from_features(fake, real), rel=1e-6)
  # Same noise at every evaluation: a deterministic generator scores the same.
  np.testing.assert_array_equal(samples, evaluator.generate(_from_images(reference.images)))


def test_protocol_is_recorded(scores):
  with open(scores['tmp_path'] / 'evals' / 'protocol.json') as f:
    protocol = json.load(f)
  assert protocol['num_samples'] == 500 and protocol['feature_net'] == 'classifier_mnist'
  assert protocol['weights_sha256'] == _classifier.info('mnist')['sha256']
  assert protocol['reference'] == {'name': 'mnist-test-2000', 'num_images': 2000,
                                   'image_shape': [28, 28, 1]}
  assert protocol['kid']['subset_size'] == 200


def test_reference_statistics_are_cached_by_content(scores, reference, tmp_path,
                                                    monkeypatch):
  cache = scores['tmp_path'] / 'cache'
  files = sorted(p.name for p in cache.iterdir())
  assert len(files) == 2 and files[0].endswith('.json') and files[1].endswith('.npz')
  first = scores['evaluator'].reference()
  # A new Evaluator of the same data reads the cache and computes nothing.
  monkeypatch.setattr(_features.FeatureNet, 'extract', lambda *a, **k: 1 / 0)
  config = _config(scores['tmp_path'], metrics='fid')
  again = evaluation.Evaluator(config, reference, str(tmp_path)).reference()
  np.testing.assert_array_equal(again['features'], first['features'])
  np.testing.assert_array_equal(again['sigma'], first['sigma'])
  # Other pixels: other statistics.
  monkeypatch.undo()
  changed = reference.images.copy()
  changed[0, 0, 0, 0] ^= 1
  other = data_lib.ImageDataset(changed, None, None, reference.name)
  evaluation.Evaluator(config, other, str(tmp_path)).reference()
  assert len(list(cache.iterdir())) == 4


def test_best_checkpoint_tracking_survives_restarts(reference, tmp_path):
  config = _config(tmp_path, metrics='fid,precision_recall', best_metric='fid')
  evaluator = evaluation.Evaluator(config, reference, str(tmp_path))
  assert evaluator.best is None
  assert evaluator.update_best({'fid': 5.0}, 100)
  assert not evaluator.update_best({'fid': 6.0}, 200)
  assert not evaluator.update_best({'fid': float('nan')}, 250)
  assert evaluator.update_best({'fid': 4.0}, 300)
  restarted = evaluation.Evaluator(config, reference, str(tmp_path))
  assert restarted.best == {'metric': 'fid', 'mode': 'min', 'value': 4.0, 'step': 300}
  assert not restarted.update_best({'fid': 4.5}, 400)
  by_precision = evaluation.Evaluator(
      _config(tmp_path, metrics='fid,precision_recall', best_metric='precision',
              best_mode='max'), reference, str(tmp_path))
  assert by_precision.best is None  # another metric: the old record does not count
  assert by_precision.update_best({'precision': 0.5}, 1)
  assert by_precision.update_best({'precision': 0.7}, 2)
  assert not by_precision.update_best({'precision': 0.6}, 3)
  nothing = evaluation.Evaluator(_config(tmp_path, metrics='fid'), reference,
                                 str(tmp_path))
  assert not nothing.update_best({'fid': 0.0}, 1)


def test_stacked_mnist_modes_of_real_stacked_digits(mnist_test, tmp_path):
  data = evaluation.stacked_mnist(mnist_test, 3000, seed=0)
  stacked = data.images
  assert stacked.shape == (3000, 28, 28, 3) and data.num_classes == 1000
  # Channel 1 of image 0 is an MNIST image whose digit is the mode's tens.
  match = np.all(mnist_test.images[..., 0] == stacked[0, ..., 1], axis=(1, 2))
  assert (data.labels[0] // 10) % 10 in set(mnist_test.labels[match])
  digits = np.stack([data.labels // 100, data.labels // 10 % 10, data.labels % 10], 1)
  true_modes = evaluation.stacked_mnist_modes(digits)
  config = _config(tmp_path, metrics='stacked_mnist', num_samples=3000, batch_size=500)
  evaluator = evaluation.Evaluator(config, None, str(tmp_path))
  real = evaluator.score(stacked)
  # ~1% of digits are misclassified (a few % of the 3,000 stacked images): the
  # counts barely move (one machine: 943 modes for 944, KL 0.1948 for 0.1925).
  assert abs(real['stacked_mnist_modes'] - true_modes['stacked_mnist_modes']) <= 10
  assert real['stacked_mnist_kl'] == pytest.approx(true_modes['stacked_mnist_kl'],
                                                   abs=0.02)
  assert real['stacked_mnist_modes'] > 900
  one = np.repeat(stacked[:1], 3000, axis=0)
  collapsed = evaluator.score(one)
  assert collapsed['stacked_mnist_modes'] == 1
  # 1 log(1000 * 1): float64, a few ulps (the default approx: rel=1e-6).
  assert collapsed['stacked_mnist_kl'] == pytest.approx(np.log(1000))


@pytest.mark.parametrize('name', ['ring', 'grid'])
def test_toy_evaluator(name, tmp_path):
  config = _config(tmp_path, metrics=f'toy_{name}', num_samples=toy.NUM_SAMPLES,
                   batch_size=500)
  evaluator = evaluation.Evaluator(config, None, str(tmp_path))
  mixture = toy.get(name)
  real = lambda rng, n: mixture.sample(int(jax.random.randint(rng, (), 0, 1 << 30)), n)
  result = evaluator(real, step=1)
  assert result['toy_modes'] == mixture.num_modes
  # Sampling: 98.89% expected, standard error 0.21 on 2,500 samples (4 of them
  # to 98.0); 2 N KL ~ chi^2(K - 1), KL < 0.02 is > 10 std above its mean.
  assert result['toy_high_quality'] > 98.0 and result['toy_reverse_kl'] < 0.02
  collapsed = lambda rng, n: np.tile(mixture.means[:1], (n, 1))
  result = evaluator(collapsed, step=2)
  assert result == {'toy_modes': 1.0, 'toy_high_quality': 100.0,
                    'toy_reverse_kl': pytest.approx(np.log(mixture.num_modes))}


# ------------------------------------------------------- metric specs


def _fake_net(name='classifier_fake', num_classes=4):
  """A random linear 'network' on 8x8 images with 1 or 3 channels (fast)."""
  rng = np.random.default_rng(0)
  w = rng.normal(size=(64, 6)).astype(np.float32)
  u = rng.normal(size=(6, num_classes)).astype(np.float32)

  def apply(variables, images):
    x = images.astype(jnp.float32).mean(-1).reshape(images.shape[0], -1) / 255.0
    features = jnp.tanh(x @ variables['w'])
    return {'features': features, 'logits': 4.0 * features @ variables['u']}

  return _features.FeatureNet(name, apply, {'w': w, 'u': u}, '', (1, 3), 'fake')


def _fake_reference(n=120, labels=True):
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (n, 8, 8, 1), np.uint8)
  return data_lib.ImageDataset(images, rng.integers(0, 4, n).astype(np.int32)
                               if labels else None, 4 if labels else None, 'fake')


def test_every_metric_has_one_spec():
  assert evaluation.metric_names() == list(evaluation.METRICS)
  for name in evaluation.metric_names():
    spec = evaluation.metric_spec(name)
    assert spec.name == name and spec.keys == evaluation.METRICS[name]
    assert spec.needs and spec.needs <= evaluation.NEEDS
    assert set(spec.best) <= set(spec.keys)
  with pytest.raises(ValueError, match="Unknown metric 'fdi'; valid: fid, kid, is"):
    evaluation.metric_spec('fdi')
  with pytest.raises(ValueError, match='unknown inputs'):
    evaluation.MetricSpec('x', lambda inputs: {}, ('x',), frozenset({'pixels'}))


def _evaluator(tmp_path, name, *, dataset='labelled', net='classifier_fake',
               num_classes=4):
  dataset = {'labelled': _fake_reference(), 'unlabelled': _fake_reference(labels=False),
             'none': None}[dataset]
  config = _config(tmp_path, metrics=name, num_samples=40, batch_size=20)
  return evaluation.Evaluator(config, dataset, str(tmp_path), num_classes=num_classes,
                              feature_net=_fake_net(net))


@pytest.mark.parametrize('name', evaluation.metric_names())
def test_the_evaluator_refuses_what_a_metric_needs_and_lacks(name, tmp_path):
  needs = evaluation.metric_spec(name).needs
  refusals = {
      'labels': (dict(num_classes=0), 'score class-conditional generators'),
      'classifier': (dict(net='inception_fake'), 'need a classifier'),
      'reference': (dict(dataset='none'), 'need the reference dataset'),
      'reference_labels': (dict(dataset='unlabelled'), 'needs the class labels'),
  }
  for need, (overrides, message) in refusals.items():
    if need in needs:
      with pytest.raises(ValueError, match=message):
        _evaluator(tmp_path, name, **overrides)
    elif 'toy' not in needs:
      _evaluator(tmp_path, name, **overrides)  # what it does not need may be absent
  evaluator = _evaluator(tmp_path, name)
  assert (evaluator.net is None) == ('toy' in needs)
  assert ('reference' in evaluator.protocol()) == ('reference' in needs)


def test_scores_are_the_metric_functions_of_the_network_outputs(tmp_path):
  """Every image metric, scored by the Evaluator, against the functions it
  names applied by hand to the fake network's outputs."""
  names = [m for m in evaluation.metric_names()
           if evaluation.metric_spec(m).needs & {'features', 'logits'}]
  reference = _fake_reference()
  config = _config(tmp_path, metrics=','.join(names), num_samples=40, batch_size=20,
                   kid_subsets=5, kid_subset_size=30, is_splits=2, pr_k=2, dc_k=3)
  net = _fake_net()
  evaluator = evaluation.Evaluator(config, reference, str(tmp_path), num_classes=4,
                                   feature_net=net)
  samples = np.random.default_rng(2).integers(0, 256, (40, 8, 8, 1), np.uint8)
  labels = evaluator.sample_labels()
  results = evaluator.score(samples, labels)

  fake = net.extract(samples, batch_size=20)
  real = net.extract(reference.images, batch_size=20)['features']
  matched = real[np.sort(np.random.default_rng(1).permutation(len(real))[:40])]
  m = evaluation
  expected = {
      'fid': m.frechet_distance(*m.gaussian_stats(fake['features']),
                                *m.gaussian_stats(real)),
      **{k: v for k, v in m.kernel_inception_distance(
          fake['features'], real, num_subsets=5, subset_size=30, seed=0).items()
         if k in ('kid', 'kid_std')},
      **m.inception_score(fake['logits'], splits=2),
      **m.precision_recall(matched, fake['features'], k=2),
      **m.density_coverage(matched, fake['features'], k=3),
      **{k: v for k, v in m.class_distribution(fake['logits'].argmax(-1), 4).items()
         if k in m.METRICS['class_distribution']},
      **m.intra_fid(real, reference.labels, fake['features'], labels),
      'classifier_accuracy': m.classifier_accuracy(fake['logits'], labels),
  }
  assert set(results) == {k for n in names for k in m.METRICS[n]} == set(expected)
  # The same features (one program, batch size 20) and the same float64
  # functions: equal (bitwise on one machine); the tolerance allows float64
  # rounding (~1e-13 here) and is far below a wrong k, seed or split (counts
  # move by 1 / 40, KID by its std 0.014, the FID of 0.02 by > 1e-4).
  for key, value in expected.items():
    assert results[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
  with pytest.raises(ValueError, match='need the class of each sample'):
    evaluator.score(samples, labels[:10])


def test_paired_scores():
  rng = np.random.default_rng(0)
  targets = rng.uniform(-1, 1, (3, 16, 16, 1))
  # paired_scores is float64 NumPy on the same arrays as the expressions it is
  # compared with: equal to a few ulps, so pytest.approx's default (rel=1e-6).
  assert evaluation.paired_scores(targets, targets) == {
      'l1': 0.0, 'psnr': np.inf, 'ssim': pytest.approx(1.0)}
  fakes = np.clip(targets + 0.1, -1, 1)
  sources = rng.integers(0, 256, (3, 4, 4, 1), np.uint8)
  scores = evaluation.paired_scores(fakes, targets, sources)
  assert scores['l1'] == pytest.approx(np.abs(fakes - targets).mean())
  pixels = lambda x: np.clip(np.round((x + 1) * 127.5), 0, 255)
  assert scores['psnr'] == pytest.approx(
      np.mean(evaluation.psnr(pixels(fakes), pixels(targets))))
  bicubic = data_lib.upsample_bicubic(sources, (16, 16)).astype(np.float64)
  assert scores['bicubic_ssim'] == pytest.approx(
      np.mean(evaluation.ssim(bicubic, pixels(targets))))
  same_size = rng.integers(0, 256, (3, 16, 16, 1), np.uint8)  # no enlargement
  assert set(evaluation.paired_scores(fakes, targets, same_size)) == {'l1', 'psnr', 'ssim'}


# ------------------------------------------------------- jaxgan.evaluate


def test_evaluate_command_writes_a_report_with_the_protocol(tmp_path):
  """A checkpoint made without training (random weights of the run's shapes,
  fast) is evaluated by the command."""
  config = tiny_config()
  workdir = tmp_path / 'run'
  checkpoint_without_training(workdir, config)

  env = dict(os.environ, JAXGAN_CACHE_DIR=str(tmp_path / 'cache'))
  result = subprocess.run(
      [sys.executable, '-m', 'jaxgan.evaluate', f'--workdir={workdir}',
       '--metrics=fid,class_distribution', '--feature_net=classifier_mnist',
       '--num_samples=64', '--batch_size=32', '--num_reference=300'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'checkpoint_manager' not in result.stderr  # orbax's INFO lines are dropped
  report = json.loads((workdir / 'evals' / 'report_step_7.json').read_text())
  assert report['step'] == 7
  assert set(report['results']) == {'fid', 'class_kl', 'class_min_frac',
                                    'class_max_frac'}
  assert report['results']['fid'] > 0
  protocol = report['protocol']
  assert protocol['num_samples'] == 64 and protocol['batch_size'] == 32
  assert protocol['feature_net'] == 'classifier_mnist'
  assert protocol['weights_sha256'] == _classifier.info('mnist')['sha256']
  assert protocol['reference']['split'] == 'train'
  assert protocol['reference']['num_images'] == 300
  assert protocol['reference']['data']['source'] == 'digits'
  assert protocol['generator'].startswith('EMA parameters')
  assert len(list((tmp_path / 'cache' / 'reference_stats').glob('*.npz'))) == 1


def test_evaluate_all_examples_scores_against_the_whole_split(tmp_path, monkeypatch):
  """A run trained on data.num_examples images is scored against those by
  default and against every image of the split with all_examples (ADA's
  few-data protocol)."""
  from jaxgan import evaluate

  monkeypatch.setenv('JAXGAN_CACHE_DIR', str(tmp_path / 'cache'))
  config = tiny_config()
  config.data.num_examples = 200  # of the 1,797 digits, 20 per class
  workdir = tmp_path / 'run'
  checkpoint_without_training(workdir, config)
  kwargs = dict(metrics='fid', feature_net='classifier_mnist', num_samples=32,
                batch_size=32, num_reference=0)
  subset = evaluate.evaluate_workdir(str(workdir), **kwargs)
  whole = evaluate.evaluate_workdir(str(workdir), all_examples=True,
                                    output=str(tmp_path / 'whole.json'), **kwargs)
  assert subset['protocol']['reference']['num_images'] == 200
  assert whole['protocol']['reference']['num_images'] == 1797
  assert subset['results']['fid'] != whole['results']['fid']


def test_sampling_params_pick_the_ema_or_the_trained_generator():
  """ema=True gives the EMA parameters when the run keeps them, ema=False
  the trained ones; a run without an EMA gives the trained ones either way;
  the batch statistics are always the trained generator's."""
  from jaxgan.train import state as state_lib

  g_state = state_lib.TrainState.create(apply_fn=None, params={'w': np.zeros(2)},
                                        tx=optax.sgd(1.0), batch_stats={'m': np.ones(2)})
  with_ema = state_lib.GANState(step=0, generator=g_state, discriminator=g_state,
                                ema_params={'w': np.full(2, 3.0)})
  without = with_ema.replace(ema_params=None)
  assert state_lib.sampling_params(with_ema)['params']['w'][0] == 3.0
  assert state_lib.sampling_params(with_ema, ema=False)['params']['w'][0] == 0.0
  assert state_lib.sampling_params(without)['params']['w'][0] == 0.0
  for state in (with_ema, without):
    for ema in (True, False):
      assert state_lib.sampling_params(state, ema)['batch_stats']['m'][0] == 1.0


def test_evaluate_noema_scores_the_trained_generator_in_its_own_report(tmp_path,
                                                                       monkeypatch):
  """ema=False samples the trained parameters (another FID than the EMA's:
  the checkpoint's two sets of weights are different random draws), says so
  in the protocol and writes report_step_N_raw.json, leaving the EMA's
  report as it was."""
  from jaxgan import evaluate

  monkeypatch.setenv('JAXGAN_CACHE_DIR', str(tmp_path / 'cache'))
  workdir = tmp_path / 'run'
  checkpoint_without_training(workdir, tiny_config())
  kwargs = dict(metrics='fid', feature_net='classifier_mnist', num_samples=32,
                batch_size=32, num_reference=300)
  ema = evaluate.evaluate_workdir(str(workdir), **kwargs)
  ema_text = (workdir / 'evals' / 'report_step_7.json').read_text()
  raw = evaluate.evaluate_workdir(str(workdir), ema=False, **kwargs)
  assert ema['protocol']['generator'].startswith('EMA parameters')
  assert raw['protocol']['generator'].startswith('raw parameters')
  assert raw['results']['fid'] != ema['results']['fid']
  assert json.loads((workdir / 'evals' / 'report_step_7_raw.json').read_text()
                    )['results'] == raw['results']
  assert (workdir / 'evals' / 'report_step_7.json').read_text() == ema_text
