r"""The test error of a semi-supervised GAN's discriminator used as a classifier.

  python scripts/ssgan_test_error.py --workdir=runs/ssgan [--split=test] [--step=N]

Restores the run's checkpoint (the latest, or --step), classifies every image
of the run's data split (MNIST: the 10,000 test images) by the argmax of the
discriminator's K class logits, without its training noise, and prints JSON:
the number of errors, as 'Improved Techniques' reports them (Table 1: 93 +-
6.5 errors with 100 labels), and the error rate.
"""

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from jaxgan import evaluate  # noqa: E402

flags.DEFINE_string('workdir', None, 'The run directory.')
flags.DEFINE_string('split', 'test', 'The data split to classify.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  result = evaluate.discriminator_test_error(flags.FLAGS.workdir, split=flags.FLAGS.split,
                                             step=flags.FLAGS.step)
  print(json.dumps(result, indent=2))


if __name__ == '__main__':
  app.run(main)
