"""Evaluation of generative models: FID, KID, IS, precision/recall, density/
coverage, classifier-based scores, intra-class FID and the classifier
accuracy of class-conditional samples, Stacked MNIST and toy mode counts; PSNR
and SSIM of paired (image-to-image) outputs against their targets.

    from jaxgan import evaluation

    # Metrics are pure functions of feature arrays:
    evaluation.fid_from_features(real_features, fake_features)
    # Feature networks by name: 'inception' (pytorch-fid's FID Inception, its
    # published weights downloaded once), 'classifier_mnist',
    # 'classifier_fashion_mnist' (small CNNs shipped with jaxgan):
    net = evaluation.feature_net('classifier_mnist')
    features = net.extract(images)['features']
    # Metrics by name, each a MetricSpec (what it needs, its result keys):
    evaluation.metric_spec('fid').needs   # {'features', 'reference'}
    # Image-to-image models on held-out pairs: L1, PSNR, SSIM (+ bicubic):
    evaluation.paired_scores(fakes, targets, sources)
    # In training, as config.evals says (see `default_config`):
    evaluator = evaluation.Evaluator(config.evals, dataset, workdir)
    if evaluator.due(step, final):
      results = evaluator(sample_fn, step)

docs/evaluation.md says exactly how each number is computed.
"""

from jaxgan.data import stacked_mnist
from jaxgan.evaluation import _toy as toy
from jaxgan.evaluation._evaluator import Evaluator, default_config, parse_metrics
from jaxgan.evaluation._features import FEATURE_NETS, FeatureNet, to_uint8
from jaxgan.evaluation._features import get as feature_net
from jaxgan.evaluation._image_quality import paired_scores, psnr, ssim
from jaxgan.evaluation._inception import FIDInceptionV3, cache_dir
from jaxgan.evaluation._metrics import (
    class_distribution,
    classifier_accuracy,
    density_coverage,
    fid_from_features,
    frechet_distance,
    gaussian_stats,
    inception_score,
    intra_fid,
    kernel_inception_distance,
    kl_to_uniform,
    precision_recall,
    stacked_mnist_modes,
)
from jaxgan.evaluation._registry import METRICS, NEEDS, Inputs, MetricSpec
from jaxgan.evaluation._registry import names as metric_names
from jaxgan.evaluation._registry import spec as metric_spec

__all__ = [
    'FEATURE_NETS', 'FIDInceptionV3', 'METRICS', 'NEEDS', 'Evaluator', 'FeatureNet',
    'Inputs', 'MetricSpec', 'cache_dir', 'class_distribution', 'classifier_accuracy',
    'default_config', 'density_coverage', 'feature_net', 'fid_from_features',
    'frechet_distance', 'gaussian_stats', 'inception_score', 'intra_fid',
    'kernel_inception_distance', 'kl_to_uniform', 'metric_names', 'metric_spec',
    'paired_scores', 'parse_metrics', 'precision_recall', 'psnr', 'ssim', 'stacked_mnist',
    'stacked_mnist_modes', 'to_uint8', 'toy',
]
