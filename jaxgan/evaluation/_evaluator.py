"""In-training evaluation: `config.evals`, reference statistics, `Evaluator`.

    evaluator = evaluation.Evaluator(config.evals, dataset, workdir)
    ...
    if evaluator.due(step, final=step == num_steps):
      results = evaluator(sample_fn, step)   # {'fid': ..., 'kid': ...}
      writer.write_scalars(step, results)
      if evaluator.update_best(results, step):
        ...save the best checkpoint...
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from absl import logging

from jaxgan.data import ImageDataset, is_lazy
from jaxgan.evaluation import _features, _inception, _metrics, _registry, _toy
from jaxgan.evaluation._registry import METRICS

# Bump when the preprocessing or the stored statistics change.
_CACHE_VERSION = 1
GENERATED_KEY = 'generated'
# Batches of reference images decoded at a time from a lazily read dataset.
_LAZY_CHUNK_BATCHES = 8


def default_config() -> ml_collections.ConfigDict:
  """`config.evals`: what to measure during training, how often, how.

  Fields:
    metrics: comma-separated names from `METRICS` ('' turns evaluation off),
      e.g. 'fid,kid' or 'fid,precision_recall,class_distribution'.
    every: evaluate every this many steps; 0 only at the end of training.
    num_samples: generated samples per evaluation (10,000 is the common FID
      protocol; 26,000 for Stacked MNIST; 2,500 for the toy mixtures).
    batch_size: samples generated and featurised at a time. Samples of a
      BatchNorm generator in train mode depend on it.
    feature_net: 'inception' (pytorch-fid's FID Inception), 'classifier_mnist'
      or 'classifier_fashion_mnist' (jaxgan's small classifiers).
    num_reference: reference (dataset) images for the statistics; 0 for all.
    best_metric: a result key (e.g. 'fid') to keep the best checkpoint by;
      '' for none.
    best_mode: 'min' or 'max': which direction is better for best_metric.
    cache_dir: where reference statistics are cached; '' for
      `$JAXGAN_CACHE_DIR/reference_stats` (default ~/.cache/jaxgan/...).
    seed: the generator noise is the same at every evaluation.
    kid_subsets, kid_subset_size: KID's subsets and their size.
    is_splits: Inception Score splits.
    pr_k: k of improved precision/recall; dc_k: k of density/coverage.
  """
  return ml_collections.ConfigDict(dict(
      metrics='',
      every=0,
      num_samples=10000,
      batch_size=250,
      feature_net='inception',
      num_reference=0,
      best_metric='',
      best_mode='min',
      cache_dir='',
      seed=0,
      kid_subsets=100,
      kid_subset_size=1000,
      is_splits=10,
      pr_k=3,
      dc_k=5,
  ))


def parse_metrics(metrics) -> tuple[str, ...]:
  """'fid, kid' or ('fid', 'kid') -> ('fid', 'kid'); unknown names raise."""
  if isinstance(metrics, str):
    names = tuple(m.strip() for m in metrics.split(',') if m.strip())
  else:
    names = tuple(metrics or ())
  unknown = [m for m in names if m not in METRICS]
  if unknown:
    raise ValueError(f'Unknown metric(s) {", ".join(map(repr, unknown))} in '
                     f'config.evals.metrics; valid: {", ".join(METRICS)}.')
  if len(set(names)) != len(names):
    raise ValueError(f'config.evals.metrics names a metric twice: {metrics!r}.')
  toy = _registry.needing('toy', names)
  if len(toy) > 1:
    raise ValueError(f'Choose one of {" and ".join(_registry.needing("toy"))}.')
  if toy and len(names) > 1:
    raise ValueError(f'Toy metrics ({", ".join(_registry.needing("toy"))}) score 2-D '
                     'points and cannot be mixed with image metrics.')
  return names


def _content_hash(dataset: ImageDataset, indices: np.ndarray | None) -> str:
  if is_lazy(dataset.images):  # the converter's fingerprint: reads no image
    digest = hashlib.sha256(f'{dataset.images.fingerprint}:{dataset.images.shape}'.encode())
    if indices is not None:
      digest.update(np.asarray(indices, np.int64).tobytes())
    return digest.hexdigest()
  digest = hashlib.sha256()
  images = dataset.images if indices is None else dataset.images[indices]
  digest.update(str(images.shape).encode())
  digest.update(np.ascontiguousarray(images).data)
  return digest.hexdigest()


class Evaluator:
  """Scores a generator with the metrics `config.evals` names.

  Construction checks the config and loads the feature network (so a missing
  weights file fails before training starts); the reference statistics are
  computed at the first call, or read from the on-disk cache.
  """

  def __init__(self, config_evals: ml_collections.ConfigDict,
               dataset: ImageDataset | None, workdir: str, *,
               reference_name: str | None = None,
               feature_net: _features.FeatureNet | None = None,
               num_classes: int = 0):
    """
    Args:
      config_evals: `config.evals` (see `default_config`).
      dataset: the reference images (usually the training data); None only
        for the toy metrics.
      workdir: the run's directory; the protocol and best score go to
        `workdir/evals/`.
      reference_name: how reports name the reference data (e.g.
        'idx:/data/mnist:train'); default `dataset.name`.
      feature_net: use this network instead of `config_evals.feature_net`
        (tests, custom networks).
      num_classes: K of a class-conditional generator (0: unconditional).
        Samples are then generated for the classes `sample_labels()`, the
        same number of each, and `sample_fn` is called as
        `sample_fn(rng, n, labels)`.
    """
    self.config = config_evals
    self.metrics = parse_metrics(config_evals.metrics)
    self.workdir = workdir
    self._dataset = dataset
    self.num_classes = num_classes
    _check_config(config_evals, self.metrics, dataset, num_classes)
    self._reference_name = reference_name or (dataset.name if dataset else '')
    self._toy = next((_toy.get(m[len('toy_'):])
                      for m in _registry.needing('toy', self.metrics)), None)
    image_metrics = [m for m in self.metrics if m not in _registry.needing('toy')]
    self.net = None
    if image_metrics:
      if dataset is None and _registry.needing('reference', image_metrics):
        raise ValueError(f'Metrics {image_metrics} need the reference dataset.')
      self.net = _feature_net(config_evals, image_metrics, feature_net)
      whole = [m for m in image_metrics
               if _registry.spec(m).needs & {'features', 'logits'}]
      if (whole and dataset is not None
          and dataset.images.shape[-1] not in self.net.channels):
        raise ValueError(
            f'{self.net.name} takes images with {self.net.channels} channels, the '
            f'dataset has {dataset.images.shape[-1]}: metrics {whole} cannot '
            'use it.')
    self._reference: dict[str, np.ndarray] | None = None
    self._best = self._read_best()

  # -- scheduling and best checkpoints ----------------------------------------

  def due(self, step: int, final: bool) -> bool:
    """Whether to evaluate after `step`: every `every` steps and at the end."""
    if not self.metrics:
      return False
    return final or (self.config.every > 0 and step % self.config.every == 0)

  @property
  def best(self) -> dict | None:
    """{'metric', 'mode', 'value', 'step'} of the best evaluation so far."""
    return self._best

  def update_best(self, results: dict[str, float], step: int) -> bool:
    """Records `results` if better than the best so far; True if they are.

    Always False when config.evals.best_metric is ''. The best survives
    restarts (workdir/evals/best.json).
    """
    name = self.config.best_metric
    if not name or name not in results or not np.isfinite(results[name]):
      return False
    value = float(results[name])
    if self._best is not None:
      better = (value < self._best['value'] if self.config.best_mode == 'min'
                else value > self._best['value'])
      if not better:
        return False
    self._best = {'metric': name, 'mode': self.config.best_mode, 'value': value,
                  'step': int(step)}
    if jax.process_index() == 0:
      _write_json(os.path.join(self.workdir, 'evals', 'best.json'), self._best)
    return True

  def _read_best(self) -> dict | None:
    path = os.path.join(self.workdir, 'evals', 'best.json')
    if not self.config.best_metric or not os.path.exists(path):
      return None
    with open(path) as f:
      best = json.load(f)
    if (best.get('metric'), best.get('mode')) != (self.config.best_metric,
                                                  self.config.best_mode):
      return None
    return best

  # -- reference statistics ---------------------------------------------------

  def protocol(self) -> dict:
    """How the numbers are computed, for reports (JSON-serialisable)."""
    c = self.config
    out = {'metrics': list(self.metrics), 'num_samples': c.num_samples,
           'batch_size': c.batch_size, 'seed': c.seed}
    if self.net is not None:
      out.update(self.net.protocol())
      out['image_quantisation'] = 'round((x + 1) * 127.5) to uint8'
    if self._dataset is not None and _registry.needing('reference', self.metrics):
      out['reference'] = {'name': self._reference_name,
                          'num_images': self._num_reference(),
                          'image_shape': list(self._dataset.images.shape[1:])}
    if 'kid' in self.metrics:
      subset = min(c.kid_subset_size, c.num_samples)
      if self._dataset is not None:
        subset = min(subset, self._num_reference())
      out['kid'] = {'kernel': '(x.y/d + 1)^3', 'subsets': c.kid_subsets,
                    'subset_size': subset}
    if 'is' in self.metrics:
      out['is_splits'] = c.is_splits
    if 'precision_recall' in self.metrics:
      out['precision_recall_k'] = c.pr_k
    if 'density_coverage' in self.metrics:
      out['density_coverage_k'] = c.dc_k
    if self._toy is not None:
      out['toy'] = {'mixture': self._toy.name, 'modes': self._toy.num_modes,
                    'std': self._toy.std, 'threshold_std': _toy.THRESHOLD_STD}
    return out

  def _num_reference(self) -> int:
    n = len(self._dataset)
    return min(n, self.config.num_reference) if self.config.num_reference else n

  def _reference_indices(self) -> np.ndarray | None:
    n = self._num_reference()
    if n == len(self._dataset):
      return None
    return np.sort(np.random.default_rng(0).permutation(len(self._dataset))[:n])

  def _cache_path(self) -> tuple[str, dict]:
    indices = self._reference_indices()
    key = {'version': _CACHE_VERSION, 'dataset': self._reference_name,
           'num_images': self._num_reference(),
           'image_shape': list(self._dataset.images.shape[1:]),
           'content_sha256': _content_hash(self._dataset, indices),
           'feature_net': self.net.name, 'weights_sha256': self.net.weights_sha256}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    directory = self.config.cache_dir or os.path.join(_inception.cache_dir(),
                                                      'reference_stats')
    return os.path.join(directory, f'{self.net.name}-{digest[:20]}.npz'), key

  def reference(self) -> dict[str, np.ndarray]:
    """{'features', 'mu', 'sigma'} of the reference images (cached on disk)."""
    if self._reference is not None:
      return self._reference
    path, key = self._cache_path()
    if os.path.exists(path):
      with np.load(path) as f:
        self._reference = {k: f[k] for k in ('features', 'mu', 'sigma')}
      logging.info('Reference statistics from %s.', path)
      return self._reference
    start = time.perf_counter()
    indices = self._reference_indices()
    features = self._reference_features(indices)
    mu, sigma = _metrics.gaussian_stats(features)
    self._reference = {'features': features, 'mu': mu, 'sigma': sigma}
    logging.info('Reference statistics of %d images (%s) in %.1fs.', len(features),
                 self.net.name, time.perf_counter() - start)
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      tmp = f'{path}.{os.getpid()}.tmp.npz'
      np.savez(tmp, **self._reference)
      os.replace(tmp, path)
      _write_json(path[:-len('.npz')] + '.json', key)
    return self._reference

  def _reference_features(self, indices: np.ndarray | None) -> np.ndarray:
    """Features of the reference images; a lazily read dataset is decoded a
    chunk at a time, so that it is never held in memory."""
    images, batch_size = self._dataset.images, self.config.batch_size
    if not is_lazy(images):
      images = images if indices is None else images[indices]
      return self.net.extract(images, batch_size=batch_size)['features']
    rows = np.arange(len(images)) if indices is None else indices
    chunk = batch_size * _LAZY_CHUNK_BATCHES
    return np.concatenate([
        self.net.extract(images[rows[i:i + chunk]], batch_size=batch_size)['features']
        for i in range(0, len(rows), chunk)])

  # -- evaluation -------------------------------------------------------------

  def sample_labels(self) -> np.ndarray | None:
    """The classes of the num_samples samples of a class-conditional
    generator (i mod K for sample i: uniform, as equal as the count allows),
    or None."""
    if not self.num_classes:
      return None
    return np.arange(self.config.num_samples, dtype=np.int32) % self.num_classes

  def generate(self, sample_fn: Callable[..., np.ndarray]) -> np.ndarray:
    """num_samples samples, batch by batch, with the same noise every time
    (and, for a class-conditional generator, for the classes `sample_labels()`)."""
    c = self.config
    key = jax.random.PRNGKey(c.seed)
    labels = self.sample_labels()
    chunks, total = [], 0
    for i in range(-(-c.num_samples // c.batch_size)):
      n = min(c.batch_size, c.num_samples - total)
      rng = jax.random.fold_in(key, i)
      chunk = np.asarray(sample_fn(rng, n) if labels is None
                         else sample_fn(rng, n, labels[total:total + n]))
      if len(chunk) != n:
        raise ValueError(f'sample_fn returned {len(chunk)} samples, asked for {n}.')
      chunks.append(chunk if self._toy is not None else _features.to_uint8(chunk))
      total += n
    return np.concatenate(chunks)

  def __call__(self, sample_fn: Callable[[jax.Array, int], np.ndarray],
               step: int) -> dict[str, float]:
    """Generates num_samples samples and scores them.

    Args:
      sample_fn: (rng, n) -> n samples: images (n, H, W, C), float in [-1, 1]
        (or uint8), or (n, 2) points for the toy metrics; (rng, n, labels)
        for a class-conditional generator (labels: int (n,)).
      step: the training step (for logs and the best checkpoint).

    Returns:
      {result key: value} for every metric in config.evals.metrics (see
      `METRICS` for the keys).
    """
    if not self.metrics:
      return {}
    start = time.perf_counter()
    samples = self.generate(sample_fn)
    results = self.score(samples, self.sample_labels())
    logging.info('Evaluation at step %d (%d samples, %.1fs): %s', step,
                 len(samples), time.perf_counter() - start,
                 ', '.join(f'{k}={v:.4g}' for k, v in results.items()))
    if jax.process_index() == 0 and not os.path.exists(
        os.path.join(self.workdir, 'evals', 'protocol.json')):
      _write_json(os.path.join(self.workdir, 'evals', 'protocol.json'),
                  self.protocol())
    return results

  def score(self, samples: np.ndarray, labels: np.ndarray | None = None
            ) -> dict[str, float]:
    """The metrics of given samples (uint8 / [-1, 1] images, or 2-D points);
    `labels`: the classes they were generated for (class-conditional metrics)."""
    if self._toy is not None:
      inputs = _registry.Inputs(self.config, samples, toy=self._toy)
    else:
      inputs = self._image_inputs(_features.to_uint8(samples), labels)
    results: dict[str, float] = {}
    for name in _registry.names():
      if name in self.metrics:
        results.update(_registry.spec(name).compute(inputs))
    return results

  def _image_inputs(self, samples: np.ndarray, labels: np.ndarray | None
                    ) -> _registry.Inputs:
    """The feature network's outputs on `samples` that the metrics need."""
    batch_size = self.config.batch_size
    needs = frozenset().union(*(_registry.spec(m).needs for m in self.metrics))
    channel_logits = out = None
    if 'channel_logits' in needs:
      if samples.shape[-1] != 3:
        raise ValueError(f'stacked_mnist needs 3-channel samples, got {samples.shape}.')
      channels = np.moveaxis(samples, -1, 0)[..., None].reshape(-1, *samples.shape[1:3], 1)
      channel_logits = self.net.extract(channels, batch_size=batch_size)['logits']
    if needs & {'features', 'logits'}:
      out = self.net.extract(samples, batch_size=batch_size)
    if 'labels' in needs and (labels is None or len(labels) != len(samples)):
      raise ValueError(f'{" and ".join(_registry.needing("labels", self.metrics))} '
                       'need the class of each sample (labels of the same length).')
    return _registry.Inputs(
        self.config, samples, labels,
        features=None if out is None else out['features'],
        logits=None if out is None else out['logits'],
        channel_logits=channel_logits, reference=self.reference,
        matched_reference=self._matched_reference,
        reference_labels=self._reference_labels)

  def _reference_labels(self) -> np.ndarray:
    """The classes of the reference images, in the order of their features."""
    indices = self._reference_indices()
    return self._dataset.labels if indices is None else self._dataset.labels[indices]

  def _matched_reference(self, n: int) -> np.ndarray:
    """n reference features (a fixed random subset): the k-NN metrics compare
    sets of equal size, as their papers do."""
    features = self.reference()['features']
    if len(features) <= n:
      return features
    return features[np.sort(np.random.default_rng(1).permutation(len(features))[:n])]


def _check_config(config_evals: ml_collections.ConfigDict, metrics: tuple[str, ...],
                  dataset: ImageDataset | None, num_classes: int) -> None:
  """Raises ValueError for config.evals fields the metrics cannot work with."""
  conditional = _registry.needing('labels', metrics)
  if conditional and num_classes <= 0:
    raise ValueError(f'Metrics {", ".join(conditional)} (config.evals.metrics) score '
                     'class-conditional generators; this model has no '
                     'config.model.num_classes.')
  for name in _registry.needing('reference_labels', metrics):
    if dataset is not None and dataset.labels is None:
      raise ValueError(f'{name} needs the class labels of the reference data; '
                       f'{dataset.name} has none.')
  for key in ('every', 'num_reference'):
    if config_evals[key] < 0:
      raise ValueError(f'config.evals.{key} must be >= 0, got {config_evals[key]}.')
  for key in ('num_samples', 'batch_size'):
    if config_evals[key] <= 0:
      raise ValueError(f'config.evals.{key} must be positive, got '
                       f'{config_evals[key]}.')
  keys = [k for m in metrics for k in METRICS[m]]
  if config_evals.best_metric and config_evals.best_metric not in keys:
    raise ValueError(
        f'config.evals.best_metric={config_evals.best_metric!r} is not produced '
        f'by the metrics {", ".join(metrics) or "(none)"}; choose one of: '
        f'{", ".join(keys) or "(none)"}, or "".')
  if config_evals.best_mode not in ('min', 'max'):
    raise ValueError(f"config.evals.best_mode must be 'min' or 'max', got "
                     f'{config_evals.best_mode!r}.')


def _feature_net(config_evals: ml_collections.ConfigDict, metrics: list[str],
                 feature_net: _features.FeatureNet | None) -> _features.FeatureNet:
  """`feature_net`, or the network config.evals names, checked against what
  the metrics need."""
  net_name = feature_net.name if feature_net else config_evals.feature_net
  if net_name not in _features.FEATURE_NETS and feature_net is None:
    raise ValueError(f'Unknown feature network {net_name!r} '
                     '(config.evals.feature_net); valid: '
                     f'{", ".join(_features.FEATURE_NETS)}.')
  if _registry.needing('classifier', metrics) and not net_name.startswith('classifier'):
    classifiers = [n for n in _features.FEATURE_NETS if n.startswith('classifier')]
    raise ValueError(
        f'{", ".join(_registry.needing("classifier"))} need a classifier: set '
        f'config.evals.feature_net to {" or ".join(map(repr, classifiers))} '
        f'(got {net_name!r}).')
  return feature_net or _features.get(net_name)


def _write_json(path: str, obj) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)
