"""The `jaxgan` command (also `python -m jaxgan`): one subcommand per task.

  jaxgan train --config=dcgan [--workdir=DIR] [--config.KEY=VALUE ...]
  jaxgan evaluate --workdir=DIR [--metrics=fid,kid] [--step=N]
  jaxgan generate --workdir=DIR [--num=64] [--format=png|npz|grid] [--seed=0]
  jaxgan prepare --input=FOLDER --output=DIR --image_size=64 [--encoding=jpeg|png]

`jaxgan COMMAND --help` lists a command's flags. Each command defines its
flags only when it runs (absl's flags are global), so the modules stay
importable for tests and notebooks.
"""

from __future__ import annotations

import importlib
import logging as std_logging
import sys

from absl import logging

# Command -> the module whose `run(argv)` runs it.
COMMANDS = {
    'train': 'jaxgan.cli.train',
    'evaluate': 'jaxgan.evaluate',
    'generate': 'jaxgan.generate',
    'prepare': 'jaxgan.cli.prepare',
}
_SUMMARIES = {
    'train': 'train a GAN from a config (shipped name or file), resuming in its workdir',
    'evaluate': "score a trained run's generator (FID, KID, ...) into a JSON report",
    'generate': 'images from a checkpoint: PNGs, .npz, grids, interpolations, '
                'latent arithmetic, nearest training images',
    'prepare': 'convert a folder of images to ArrayRecord, streamed batch by batch '
               'in training (data larger than memory)',
}


def _quiet_libraries(record) -> bool:
  """Drops INFO lines from orbax and JAX internals; keeps warnings and ours."""
  return record.levelno >= logging.converter.STANDARD_WARNING or not any(
      f'/{lib}/' in record.pathname for lib in ('orbax', 'jax', 'absl'))


def quiet_logging() -> None:
  """Keeps a command's log to jaxgan's lines and every library's warnings."""
  logging.get_absl_logger().addFilter(_quiet_libraries)  # orbax logs through absl
  std_logging.getLogger('jax').setLevel(std_logging.WARNING)


def usage() -> str:
  """The command's help text."""
  lines = ['usage: jaxgan COMMAND [FLAGS]   (jaxgan COMMAND --help for its flags)',
           '', 'commands:']
  lines += [f'  {name:<9} {_SUMMARIES[name]}' for name in COMMANDS]
  return '\n'.join(lines)


def main(argv: list[str] | None = None) -> None:
  """Runs `jaxgan COMMAND FLAGS...` (default: sys.argv)."""
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ('-h', '--help', 'help'):
    print(usage())
    sys.exit(0 if len(argv) >= 2 else 2)
  command = argv[1]
  if command not in COMMANDS:
    sys.exit(f'jaxgan: unknown command {command!r}; valid: {", ".join(COMMANDS)}.\n'
             + usage())
  importlib.import_module(COMMANDS[command]).run([f'jaxgan {command}', *argv[2:]])
