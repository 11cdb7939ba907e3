"""One `MetricSpec` per metric name in `config.evals.metrics`: what it
consumes, what it returns, which way is better. The Evaluator validates a
config and scores samples from these specs alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from jaxgan.evaluation import _metrics, _toy

# What a metric may consume:
#   features, logits: the feature network's outputs on the samples;
#   channel_logits: its logits on each channel as a greyscale image;
#   classifier: the feature network must be one of jaxgan's classifiers;
#   labels: the class each sample was generated for (class-conditional G);
#   reference: statistics of the reference dataset;
#   reference_labels: the classes of the reference images;
#   toy: 2-D points of a toy mixture (not images).
NEEDS = frozenset({'features', 'logits', 'channel_logits', 'classifier', 'labels',
                   'reference', 'reference_labels', 'toy'})


@dataclasses.dataclass(frozen=True)
class Inputs:
  """What the Evaluator hands a metric's `compute`; the reference statistics
  are computed (or read from the cache) only when a metric asks for them."""
  config: Any
  samples: np.ndarray
  labels: np.ndarray | None = None
  features: np.ndarray | None = None
  logits: np.ndarray | None = None
  channel_logits: np.ndarray | None = None
  toy: _toy.Mixture | None = None
  reference: Callable[[], dict[str, np.ndarray]] | None = None
  matched_reference: Callable[[int], np.ndarray] | None = None
  reference_labels: Callable[[], np.ndarray] | None = None


@dataclasses.dataclass(frozen=True)
class MetricSpec:
  """A metric by name.

  Attributes:
    name: its name in config.evals.metrics.
    compute: Inputs -> {result key: value}, the keys `keys`.
    keys: the result keys it produces.
    needs: what it consumes, a subset of NEEDS.
    best: {result key: 'min' or 'max'}, the better direction of each key
      that has one (a standard deviation has none).
  """
  name: str
  compute: Callable[[Inputs], dict[str, float]]
  keys: tuple[str, ...]
  needs: frozenset[str]
  best: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    unknown = self.needs - NEEDS
    if unknown:
      raise ValueError(f'MetricSpec {self.name!r} needs unknown inputs {sorted(unknown)}; '
                       f'valid: {", ".join(sorted(NEEDS))}.')
    if set(self.best) - set(self.keys) or set(self.best.values()) - {'min', 'max'}:
      raise ValueError(f'MetricSpec {self.name!r}: best must map some of {self.keys} '
                       f"to 'min' or 'max', got {dict(self.best)}.")


def _fid(x: Inputs) -> dict[str, float]:
  ref = x.reference()
  return {'fid': _metrics.frechet_distance(*_metrics.gaussian_stats(x.features),
                                           ref['mu'], ref['sigma'])}


def _kid(x: Inputs) -> dict[str, float]:
  c = x.config
  kid = _metrics.kernel_inception_distance(
      x.features, x.reference()['features'], num_subsets=c.kid_subsets,
      subset_size=c.kid_subset_size, seed=c.seed)
  return {'kid': kid['kid'], 'kid_std': kid['kid_std']}


def _inception_score(x: Inputs) -> dict[str, float]:
  return _metrics.inception_score(x.logits, splits=x.config.is_splits)


def _precision_recall(x: Inputs) -> dict[str, float]:
  real = x.matched_reference(len(x.features))
  return _metrics.precision_recall(real, x.features, k=x.config.pr_k)


def _density_coverage(x: Inputs) -> dict[str, float]:
  real = x.matched_reference(len(x.features))
  return _metrics.density_coverage(real, x.features, k=x.config.dc_k)


def _class_distribution(x: Inputs) -> dict[str, float]:
  dist = _metrics.class_distribution(x.logits.argmax(-1), x.logits.shape[-1])
  return {k: dist[k] for k in ('class_kl', 'class_min_frac', 'class_max_frac')}


def _stacked_mnist(x: Inputs) -> dict[str, float]:
  digits = x.channel_logits.argmax(-1).reshape(3, -1).T
  return _metrics.stacked_mnist_modes(digits)


def _intra_fid(x: Inputs) -> dict[str, float]:
  return _metrics.intra_fid(x.reference()['features'], x.reference_labels(),
                            x.features, x.labels)


def _classifier_accuracy(x: Inputs) -> dict[str, float]:
  return {'classifier_accuracy': _metrics.classifier_accuracy(x.logits, x.labels)}


def _toy_scores(x: Inputs) -> dict[str, float]:
  return {f'toy_{k}': v for k, v in _toy.evaluate(x.samples, x.toy).items()}


_TOY_KEYS = ('toy_modes', 'toy_high_quality', 'toy_reverse_kl')
_TOY_BEST = {'toy_modes': 'max', 'toy_high_quality': 'max', 'toy_reverse_kl': 'min'}
_SPECS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec('fid', _fid, ('fid',), frozenset({'features', 'reference'}),
               {'fid': 'min'}),
    MetricSpec('kid', _kid, ('kid', 'kid_std'), frozenset({'features', 'reference'}),
               {'kid': 'min'}),
    MetricSpec('is', _inception_score, ('is', 'is_std'), frozenset({'logits'}),
               {'is': 'max'}),
    MetricSpec('precision_recall', _precision_recall, ('precision', 'recall'),
               frozenset({'features', 'reference'}),
               {'precision': 'max', 'recall': 'max'}),
    MetricSpec('density_coverage', _density_coverage, ('density', 'coverage'),
               frozenset({'features', 'reference'}),
               {'density': 'max', 'coverage': 'max'}),
    MetricSpec('class_distribution', _class_distribution,
               ('class_kl', 'class_min_frac', 'class_max_frac'),
               frozenset({'logits', 'classifier'}),
               {'class_kl': 'min', 'class_min_frac': 'max'}),
    MetricSpec('stacked_mnist', _stacked_mnist,
               ('stacked_mnist_modes', 'stacked_mnist_kl'),
               frozenset({'channel_logits', 'classifier'}),
               {'stacked_mnist_modes': 'max', 'stacked_mnist_kl': 'min'}),
    MetricSpec('intra_fid', _intra_fid, ('intra_fid', 'intra_fid_max'),
               frozenset({'features', 'labels', 'reference', 'reference_labels'}),
               {'intra_fid': 'min', 'intra_fid_max': 'min'}),
    MetricSpec('classifier_accuracy', _classifier_accuracy, ('classifier_accuracy',),
               frozenset({'logits', 'labels', 'classifier'}),
               {'classifier_accuracy': 'max'}),
    MetricSpec('toy_ring', _toy_scores, _TOY_KEYS, frozenset({'toy'}), _TOY_BEST),
    MetricSpec('toy_grid', _toy_scores, _TOY_KEYS, frozenset({'toy'}), _TOY_BEST),
)}
# metric name -> the result keys it produces.
METRICS: dict[str, tuple[str, ...]] = {name: s.keys for name, s in _SPECS.items()}


def names() -> list[str]:
  """The metric names, in the order they are listed and scored."""
  return list(_SPECS)


def spec(name: str) -> MetricSpec:
  """The MetricSpec called `name`; ValueError listing the valid names if none is."""
  if name not in _SPECS:
    raise ValueError(f'Unknown metric {name!r}; valid: {", ".join(_SPECS)}.')
  return _SPECS[name]


def needing(need: str, metrics: Iterable[str] | None = None) -> list[str]:
  """The metrics (of `metrics`, default all) that need `need`."""
  return [m for m in (_SPECS if metrics is None else metrics) if need in _SPECS[m].needs]
