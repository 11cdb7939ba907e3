r"""Scores a trained run: `jaxgan evaluate --workdir=DIR` (or `python -m
jaxgan.evaluate --workdir=DIR`).

Reads DIR/config.json and the latest checkpoint in DIR/checkpoints (or
`--step`), draws samples from the generator (the EMA parameters when the run
keeps them, BatchNorm in batch-statistics mode as in training), computes the
metrics, and writes a JSON report, by default DIR/evals/report_step_N.json,
that records the results and the protocol: sample count, reference data and
split, feature network and the SHA-256 of its weights.

Defaults come from the run's `config.evals` when it has one, else from
`jaxgan.evaluation.default_config()` with metrics 'fid,kid,precision_recall,
density_coverage'; flags override them. Examples:

  # FID/KID/P&R in the MNIST classifier's feature space, against the test split:
  jaxgan evaluate --workdir=runs/dcgan_mnist \
      --feature_net=classifier_mnist --split=test
  # The standard Inception FID of 10,000 samples against the training split:
  jaxgan evaluate --workdir=runs/dcgan_cifar10 --metrics=fid,is

docs/evaluation.md says how each number is computed.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from absl import app, flags, logging

from jaxgan import checkpoint as checkpoint_lib
from jaxgan import data as data_lib
from jaxgan import evaluation, models
from jaxgan.train import polyak, sampling, trainer
from jaxgan.train import state as state_lib
from jaxgan.train import step as step_lib

DEFAULT_METRICS = 'fid,kid,precision_recall,density_coverage'


def _quiet_libraries(record) -> bool:
  """Drops INFO lines from orbax and JAX internals; keeps warnings and ours."""
  return record.levelno >= logging.converter.STANDARD_WARNING or not any(
      f'/{lib}/' in record.pathname for lib in ('orbax', 'jax', 'absl'))


def evals_config(config: ml_collections.ConfigDict,
                 overrides: dict[str, Any]) -> ml_collections.ConfigDict:
  """`default_config()` updated with the run's config.evals and `overrides`."""
  evals = evaluation.default_config()
  if 'evals' in config:
    evals.update(config.evals.to_dict() if hasattr(config.evals, 'to_dict')
                 else dict(config.evals))
  if not evals.metrics:
    evals.metrics = DEFAULT_METRICS
  for key, value in overrides.items():
    if value is not None:
      evals[key] = value
  return evals


def initial_state(config: ml_collections.ConfigDict, data_shape: tuple,
                  cond_shape: tuple | None = None) -> state_lib.GANState:
  """The training state a run of `config` starts from (its seed's
  initialisation), as `jaxgan.train.train_and_evaluate` builds it."""
  generator, discriminator = models.create(config.model, tuple(data_shape),
                                           axis_name=step_lib.AXIS)
  return state_lib.create(
      jax.random.PRNGKey(config.seed), generator, discriminator,
      *trainer.make_optimizers(config),
      latent_dim=config.model.latent_dim, image_shape=tuple(data_shape),
      ema_decay=config.train.ema_decay, cond=trainer.example_cond(config, cond_shape))


def restore_state(config: ml_collections.ConfigDict, workdir: str,
                  step: int | None = None, data_shape: tuple | None = None,
                  cond_shape: tuple | None = None
                  ) -> tuple[int, state_lib.GANState]:
  """The run's training state at `step` (default: the latest checkpoint).

  The template is built as `jaxgan.train.train_and_evaluate` builds its state
  for data of `data_shape` (default: image_size x image_size x channels) and,
  for an image-to-image model, inputs of `cond_shape` (default: the shape
  config.data's pairs have), but only abstractly (shapes and dtypes):
  initialising the networks for real would be slow work that the restore
  then overwrites.
  """
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory) or not os.listdir(directory):
    raise FileNotFoundError(f'No checkpoints in {directory}.')
  data_shape = data_shape or (config.model.image_size, config.model.image_size,
                              config.model.channels)
  if cond_shape is None and models.kind(config.model) == 'paired':
    cond_shape = data_lib.source_shape(config.data, image_size=data_shape[0],
                                       channels=data_shape[-1])
  abstract = jax.eval_shape(lambda: initial_state(config, data_shape, cond_shape))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  template = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), abstract)
  checkpointer = checkpoint_lib.Checkpointer(directory)
  try:
    restored_step, state, _ = checkpointer.restore(template, step)
  finally:
    checkpointer.close()
  return restored_step, state


def make_sample_fn(config: ml_collections.ConfigDict, state: state_lib.GANState,
                   data_shape: tuple | None = None, ema: bool = True):
  """(rng, n[, labels]) -> n samples (images in [-1, 1], or points), drawn
  as the trainer draws them; labels (int (n,)) for class-conditional models.
  `ema`: from the EMA parameters when the run keeps them (else the raw)."""
  data_shape = data_shape or (config.model.image_size, config.model.image_size,
                              config.model.channels)
  return sampling.make_sample_fn(sampling.make_sampler(config, tuple(data_shape)),
                                 state_lib.sampling_params(state, ema),
                                 config.model.latent_dim)


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config of the run in `workdir` (its config.json)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'No run in {workdir}: {path} does not exist.')
  from jaxgan.configs import common  # pylint: disable=g-import-not-at-top
  with open(path) as f:
    return ml_collections.ConfigDict(common.upgrade(json.load(f)))


def discriminator_test_error(workdir: str, *, split: str = 'test',
                             step: int | None = None, batch_size: int = 1000
                             ) -> dict[str, Any]:
  """The classification error of a semi-supervised run's discriminator
  (argmax of its class logits, no noise) on `split` of the run's data: with
  the Polyak-averaged weights when D's optimizer keeps them
  (`optimizer.d.polyak`, as improved-gan tests), and with the weights
  themselves.

  Returns:
    {'step', 'errors', 'num_images', 'error_rate', 'averaged' (whether
    'errors' are the averaged weights'), 'errors_last' (the weights'
    themselves), 'data'}.
  """
  config = read_config(workdir)
  if models.kind(config.model) != 'semi_supervised':
    raise ValueError(f'The run in {workdir} (model {config.model.name!r}) has no '
                     'classifying discriminator.')
  data_config = ml_collections.ConfigDict(config.data.to_dict())
  data_config.split = split
  dataset = data_lib.load(data_config, image_size=config.model.image_size,
                          channels=config.model.channels)
  restored_step, state = restore_state(config, workdir, step, dataset.images.shape[1:])
  discriminator = models.create(config.model, dataset.images.shape[1:])[1]

  predict = jax.jit(lambda params, x: jax.numpy.argmax(discriminator.apply(
      {'params': params, 'batch_stats': state.discriminator.batch_stats},
      data_lib.to_float(x), train=False)['class_logits'], -1))

  def errors(params):  # the same compiled predict for both sets of weights
    predictions = np.concatenate([
        np.asarray(predict(params, dataset.images[i:i + batch_size]))
        for i in range(0, len(dataset), batch_size)])
    return int((predictions != dataset.labels).sum())

  last = errors(state.discriminator.params)
  average = polyak.averaged_params(state.discriminator.opt_state)
  chosen = last if average is None else errors(average)
  return {'step': int(restored_step), 'errors': chosen, 'num_images': len(dataset),
          'error_rate': chosen / len(dataset), 'averaged': average is not None,
          'errors_last': last, 'data': f'{dataset.name}:{split}'}


def _grid_max_pool(x: jax.Array, bins: int = 4) -> jax.Array:
  """(B, H, W, C) -> (B, bins * bins * C): the maximum over each cell of a
  bins x bins grid (cells as adaptive pooling cuts them: floor(i n / bins)
  to ceil((i + 1) n / bins))."""
  def cells(n):
    return [(i * n // bins, -(-(i + 1) * n // bins)) for i in range(bins)]
  return jax.numpy.stack([x[:, a:b, c:d].max((1, 2)) for a, b in cells(x.shape[1])
                          for c, d in cells(x.shape[2])], 1).reshape(x.shape[0], -1)


def _fit_linear_classifier(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float,
                           iterations: int) -> Any:
  """Multinomial logistic regression with an L2 penalty on the weights, on
  standardised features, fitted by full-batch L-BFGS; returns predict(x)."""
  mean, std = x.mean(0), x.std(0) + 1e-6
  x = jax.numpy.asarray((x - mean) / std)
  onehot = jax.nn.one_hot(y, num_classes)

  def loss(params):
    logits = x @ params['w'] + params['b']
    return (optax.softmax_cross_entropy(logits, onehot).mean()
            + 0.5 * l2 * jax.numpy.sum(params['w'] ** 2))

  optimizer = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(loss)

  @jax.jit
  def fit(params):
    def step(carry, _):
      params, state = carry
      value, grad = value_and_grad(params, state=state)
      updates, state = optimizer.update(grad, state, params, value=value, grad=grad,
                                        value_fn=loss)
      return (optax.apply_updates(params, updates), state), None
    return jax.lax.scan(step, (params, optimizer.init(params)), length=iterations)[0][0]

  params = fit({'w': jax.numpy.zeros((x.shape[1], num_classes)),
                'b': jax.numpy.zeros(num_classes)})
  return lambda z: np.asarray(jax.numpy.argmax(
      ((z - mean) / std) @ params['w'] + params['b'], -1))


def discriminator_linear_probe(workdir: str, *, step: int | None = None,
                               initial: bool = False, num_train: int = 10_000,
                               l2: float = 1e-3, iterations: int = 500,
                               batch_size: int = 1000) -> dict[str, Any]:
  """DCGAN's representation-learning evaluation (Radford et al. 2016,
  section 5.1): each layer's activations of the run's discriminator,
  max-pooled to a 4 x 4 grid, flattened and concatenated, and a linear
  classifier (here multinomial logistic regression with an L2 penalty, the
  paper used an L2-SVM) trained on `num_train` labelled training images and
  scored on the test split. `initial`: the same discriminator at its
  initialisation (the run's seed), the baseline the trained one must beat.

  Returns:
    {'step' (0 with `initial`), 'accuracy', 'num_features', 'num_train',
     'num_test', 'data'}.
  """
  config = read_config(workdir)
  if config.model.name != 'dcgan':
    raise ValueError(f'The linear probe reads the layers of a DCGAN discriminator; the '
                     f'run in {workdir} has model {config.model.name!r}.')
  splits = {}
  for split in ('train', 'test'):
    data_config = ml_collections.ConfigDict(config.data.to_dict())
    data_config.update(split=split, num_examples=0)
    splits[split] = data_lib.load(data_config, image_size=config.model.image_size,
                                  channels=config.model.channels)
  shape = splits['train'].images.shape[1:]
  restored_step, state = restore_state(config, workdir, step, shape)
  if initial:
    restored_step, state = 0, initial_state(config, shape)
  discriminator = models.create(config.model, shape)[1]
  variables = {'params': state.discriminator.params,
               'batch_stats': state.discriminator.batch_stats}

  @jax.jit
  def features(images):
    _, sown = discriminator.apply(variables, data_lib.to_float(images), train=False,
                                  mutable=['intermediates'])
    return jax.numpy.concatenate([_grid_max_pool(a) for a in
                                  sown['intermediates']['layers']], 1)

  def embed(images):
    return np.concatenate([np.asarray(features(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])

  train, test = splits['train'], splits['test']
  x_train = embed(train.images[:num_train])
  predict = _fit_linear_classifier(x_train, train.labels[:num_train],
                                   int(train.labels.max()) + 1, l2, iterations)
  accuracy = float((predict(embed(test.images)) == test.labels).mean())
  return {'step': int(restored_step), 'accuracy': accuracy,
          'num_features': int(x_train.shape[1]), 'num_train': len(x_train),
          'num_test': len(test), 'data': train.name}


def evaluate_workdir(workdir: str, *, split: str | None = None,
                     step: int | None = None, output: str | None = None,
                     all_examples: bool = False, ema: bool = True,
                     **overrides) -> dict[str, Any]:
  """Evaluates the run in `workdir` and writes the JSON report.

  Args:
    workdir: the run directory.
    split: the reference split of config.data (default: its training split).
    step: the checkpoint step (default: the latest).
    output: the report path (default workdir/evals/report_step_N.json, and
      report_step_N_raw.json for the raw parameters of a run with an EMA).
    all_examples: score against every image of the split even when the run
      trained on a subset (`config.data.num_examples`): the few-data
      protocol of ADA (Karras et al. 2020, section 3: FID against the whole
      training set, whatever subset was trained on).
    ema: sample with the generator's EMA parameters when the run keeps them;
      False scores the trained (raw) parameters, e.g. to tell whether the
      average or the generator itself drops modes.
    **overrides: `config.evals` fields (metrics, feature_net, num_samples,
      batch_size, num_reference, seed, cache_dir); None keeps the default.

  Returns:
    The report (also written to `output`).
  """
  start = time.perf_counter()
  config = read_config(workdir)
  evals = evals_config(config, overrides)
  metrics = evaluation.parse_metrics(evals.metrics)
  data_config = ml_collections.ConfigDict(config.data.to_dict())
  split = split or data_config.get('split', None) or 'train'
  data_config.split = split
  subsetted = data_config.get('source') not in data_lib.GENERATED_SOURCES
  if all_examples and subsetted and data_config.get('num_examples', 0):
    data_config.num_examples = 0
  dataset = data_lib.load(data_config, image_size=config.model.image_size,
                          channels=config.model.channels)
  data_shape = dataset.images.shape[1:]
  toy_only = all('toy' in evaluation.metric_spec(m).needs for m in metrics)
  evaluator = evaluation.Evaluator(evals, None if toy_only else dataset, workdir,
                                   reference_name=f'{dataset.name}:{split}',
                                   num_classes=config.model.get('num_classes', 0))
  restored_step, state = restore_state(config, workdir, step, data_shape)
  samples = evaluator.generate(make_sample_fn(config, state, data_shape, ema))
  results = evaluator.score(samples, evaluator.sample_labels())
  protocol = evaluator.protocol()
  if 'reference' in protocol:
    protocol['reference'].update(split=split, data=config.data.to_dict())
  use_ema = ema and state.ema_params is not None
  protocol['generator'] = ('EMA parameters' if use_ema else 'raw parameters') + (
      ', BatchNorm with the statistics of each batch')
  # Only the trained G of a run that keeps an EMA gets its own report name.
  suffix = '_raw' if state.ema_params is not None and not use_ema else ''
  report = {
      'workdir': os.path.abspath(workdir),
      'step': int(restored_step),
      'results': results,
      'protocol': protocol,
      'seconds': round(time.perf_counter() - start, 1),
      'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'jax': jax.__version__,
      'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
  }
  output = output or os.path.join(workdir, 'evals',
                                  f'report_step_{restored_step}{suffix}.json')
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, 'w') as f:
    json.dump(report, f, indent=2)
    f.write('\n')
  logging.info('Wrote %s', output)
  return report


def _define_flags() -> None:
  """The command's flags; defined only when run as a program, so importing
  this module (tests, notebooks) adds nothing to absl's global flags."""
  flags.DEFINE_string('workdir', None, 'The run directory (holds config.json).')
  flags.DEFINE_string('metrics', None, f'Comma-separated metrics from: '
                      f'{", ".join(evaluation.METRICS)} (default: config.evals.metrics, '
                      f'else {DEFAULT_METRICS}).')
  flags.DEFINE_string('feature_net', None,
                      f'One of {", ".join(evaluation.FEATURE_NETS)}.')
  flags.DEFINE_integer('num_samples', None, 'Generated samples.')
  flags.DEFINE_integer('batch_size', None, 'Samples generated at a time.')
  flags.DEFINE_integer('num_reference', None, 'Reference images; 0 for all.')
  flags.DEFINE_string('split', None, 'Reference split of config.data (default: '
                      'the training split, config.data.split).')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_bool('all_examples', False, 'Score against every image of the split, '
                    'also when the run trained on data.num_examples of them '
                    '(the few-data protocol of ADA).')
  flags.DEFINE_integer('seed', None, 'Seed of the generator noise.')
  flags.DEFINE_bool('ema', True, 'Sample with the EMA parameters when the run keeps '
                    'them; --noema scores the trained (raw) generator.')
  flags.DEFINE_string('output', None, 'Report path (default '
                      'DIR/evals/report_step_N.json; ..._raw.json with --noema).')
  flags.DEFINE_string('cache_dir', None, 'Reference statistics cache directory.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  FLAGS = flags.FLAGS
  report = evaluate_workdir(
      FLAGS.workdir, split=FLAGS.split, step=FLAGS.step, output=FLAGS.output,
      all_examples=FLAGS.all_examples, ema=FLAGS.ema,
      metrics=FLAGS.metrics, feature_net=FLAGS.feature_net,
      num_samples=FLAGS.num_samples, batch_size=FLAGS.batch_size,
      num_reference=FLAGS.num_reference, seed=FLAGS.seed, cache_dir=FLAGS.cache_dir)
  print(json.dumps({'step': report['step'], **report['results']}, indent=2))


def run(argv: list[str]) -> None:
  """The command (`jaxgan evaluate` and `python -m jaxgan.evaluate`) on argv."""
  logging.get_absl_logger().addFilter(_quiet_libraries)  # orbax logs through absl
  _define_flags()
  flags.mark_flag_as_required('workdir')
  app.run(main, argv=argv)


if __name__ == '__main__':
  run(sys.argv)
