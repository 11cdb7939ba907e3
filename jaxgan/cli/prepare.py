r"""`jaxgan prepare`: converts a folder of images, once, into an ArrayRecord
dataset that training reads batch by batch (data larger than memory).

  jaxgan prepare --input=photos/ --output=photos64/ --image_size=64 \
      [--channels=3] [--encoding=jpeg|png] [--quality=95]
  jaxgan train --config=dcgan_folder.py --config.data.source=arrayrecord \
      --config.data.path=photos64/ --config.model.image_size=64

The images are those `data.source='folder'` would load (same order, crop and
resize); see `jaxgan.data.prepare` and docs/data.md. An existing --output is
never overwritten. Needs `pip install 'jaxgan[stream]'`.
"""

import json
import sys

from absl import app, flags

from jaxgan import cli
from jaxgan import data as data_lib
from jaxgan.data import _stream


def _define_flags() -> None:
  """The command's flags; defined only when it runs (absl's flags are global)."""
  flags.DEFINE_string('input', None, 'The folder of images (searched recursively).')
  flags.DEFINE_string('output', None, 'A new directory for the dataset.')
  flags.DEFINE_integer('image_size', None, "Stored height and width: the model's "
                       'model.image_size.')
  flags.DEFINE_integer('channels', 3, '3 (RGB) or 1 (greyscale): model.channels.')
  flags.DEFINE_enum('encoding', 'jpeg', _stream.ENCODINGS,
                    'jpeg (lossy, --quality) or png (lossless).')
  flags.DEFINE_integer('quality', 95, 'JPEG quality, 1..100.')
  flags.DEFINE_bool('skip_corrupt', True, 'Skip files that cannot be decoded.')
  flags.DEFINE_enum('mixed_channels', 'convert', ('convert', 'error'),
                    'Greyscale and colour images mixed: convert or refuse.')
  flags.mark_flags_as_required(['input', 'output', 'image_size'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  F = flags.FLAGS
  try:
    meta = data_lib.prepare(
        F.input, F.output, image_size=F.image_size, channels=F.channels,
        encoding=F.encoding, quality=F.quality, skip_corrupt=F.skip_corrupt,
        mixed_channels=F.mixed_channels)
  except (ValueError, FileNotFoundError, FileExistsError, ImportError) as e:
    sys.exit(f'jaxgan prepare: {e}')
  print(json.dumps(meta, indent=1))


def run(argv: list[str]) -> None:
  """The command (`jaxgan prepare`) on argv."""
  cli.quiet_logging()
  _define_flags()
  app.run(main, argv=argv)
