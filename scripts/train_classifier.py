r"""Trains the small MNIST / Fashion-MNIST classifiers that jaxgan ships.

Their features give FID on digit-like data, their predictions the class
distribution of samples and the Stacked MNIST mode count
(`jaxgan.evaluation`). This script reproduces the shipped weights:

  python scripts/train_classifier.py --dataset=mnist
  python scripts/train_classifier.py --dataset=fashion_mnist

It reads the IDX files from `--data_dir` (default `../shared/data/<dataset>`),
trains on the 60,000 training images, measures accuracy on the 10,000 test
images, and writes `jaxgan/evaluation/weights/classifier_<dataset>.msgpack`
(flax msgpack) with a JSON sidecar that records the test accuracy and how the
weights were made. A few minutes on a 2-core CPU.
"""

import hashlib
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import app, flags, logging
from flax import serialization

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from jaxgan import data as data_lib  # noqa: E402
from jaxgan.evaluation import _classifier  # noqa: E402

_REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
FLAGS = flags.FLAGS
flags.DEFINE_enum('dataset', 'mnist', list(_classifier.DATASETS), 'Which data.')
flags.DEFINE_string('data_dir', None,
                    'Directory of the IDX files (default ../shared/data/<dataset>).')
flags.DEFINE_integer('epochs', 0, 'Epochs (0: 5 for MNIST, 10 for Fashion-MNIST).')
flags.DEFINE_integer('batch_size', 128, 'Batch size.')
flags.DEFINE_float('learning_rate', 2e-3, 'Peak Adam learning rate (cosine decay).')
flags.DEFINE_integer('max_shift', 2, 'Random translation (pixels) while training.')
flags.DEFINE_integer('seed', 0, 'Random seed.')
flags.DEFINE_string('out', None, 'Output .msgpack (default: the package copy).')


def load_split(path: str, split: str) -> data_lib.ImageDataset:
  config = ml_collections.ConfigDict(dict(source='idx', path=path, split=split))
  return data_lib.load(config, image_size=_classifier.INPUT_SIZE, channels=1)


def random_shift(rng: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
  """Translates each image by up to max_shift pixels (zero-padded with -1)."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)),
                   constant_values=-1.0)
  offsets = jax.random.randint(rng, (n, 2), 0, 2 * max_shift + 1)
  crop = lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, 1))
  return jax.vmap(crop)(padded, offsets)


def train(dataset: str, data_dir: str, *, epochs: int, batch_size: int,
          learning_rate: float, max_shift: int, seed: int):
  train_set, test_set = load_split(data_dir, 'train'), load_split(data_dir, 'test')
  model = _classifier.Classifier()
  rng = jax.random.PRNGKey(seed)
  params = model.init(rng, jnp.zeros((1, 28, 28, 1)))['params']
  steps_per_epoch = len(train_set) // batch_size
  schedule = optax.cosine_onecycle_schedule(epochs * steps_per_epoch, learning_rate)
  tx = optax.adam(schedule)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, images, labels, rng):
    shift_rng, dropout_rng = jax.random.split(rng)
    images = random_shift(shift_rng, data_lib.to_float(images), max_shift)

    def loss_fn(p):
      logits = model.apply({'params': p}, images, train=True,
                           rngs={'dropout': dropout_rng})['logits']
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  predict = jax.jit(lambda p, x: jnp.argmax(
      model.apply({'params': p}, data_lib.to_float(x))['logits'], -1))

  def accuracy(p, ds):
    preds = np.concatenate([np.asarray(predict(p, ds.images[i:i + 1000]))
                            for i in range(0, len(ds), 1000)])
    return float((preds == ds.labels).mean())

  perm_rng = np.random.default_rng(seed)
  start = time.time()
  for epoch in range(epochs):
    order = perm_rng.permutation(len(train_set))
    losses = []
    for i in range(steps_per_epoch):
      idx = order[i * batch_size:(i + 1) * batch_size]
      params, opt_state, loss = step(
          params, opt_state, train_set.images[idx], train_set.labels[idx],
          jax.random.fold_in(rng, epoch * steps_per_epoch + i))
      losses.append(loss)
    logging.info('epoch %d: loss %.4f, test accuracy %.4f (%.0fs)', epoch + 1,
                 float(np.mean(jax.device_get(losses))), accuracy(params, test_set),
                 time.time() - start)
  return params, accuracy(params, test_set), accuracy(params, train_set), \
      time.time() - start


def main(argv):
  del argv
  data_dir = FLAGS.data_dir or os.path.join(_REPO, '..', 'shared', 'data',
                                            FLAGS.dataset)
  epochs = FLAGS.epochs or {'mnist': 5, 'fashion_mnist': 10}[FLAGS.dataset]
  params, test_acc, train_acc, seconds = train(
      FLAGS.dataset, data_dir, epochs=epochs, batch_size=FLAGS.batch_size,
      learning_rate=FLAGS.learning_rate, max_shift=FLAGS.max_shift, seed=FLAGS.seed)
  out = FLAGS.out or _classifier.weights_file(FLAGS.dataset)
  raw = serialization.to_bytes({'params': jax.device_get(params)})
  with open(out, 'wb') as f:
    f.write(raw)
  record = {
      'dataset': FLAGS.dataset,
      'test_accuracy': round(test_acc, 4),
      'train_accuracy': round(train_acc, 4),
      'test_images': 10000,
      'train_images': 60000,
      'epochs': epochs,
      'batch_size': FLAGS.batch_size,
      'learning_rate': FLAGS.learning_rate,
      'max_shift': FLAGS.max_shift,
      'seed': FLAGS.seed,
      'parameters': int(sum(x.size for x in jax.tree.leaves(params))),
      'sha256': hashlib.sha256(raw).hexdigest(),
      'train_seconds': round(seconds, 1),
      'command': f'python scripts/train_classifier.py --dataset={FLAGS.dataset}',
      'jax': jax.__version__,
  }
  with open(out.replace('.msgpack', '.json'), 'w') as f:
    json.dump(record, f, indent=2)
    f.write('\n')
  print(json.dumps(record, indent=2))


if __name__ == '__main__':
  app.run(main)
