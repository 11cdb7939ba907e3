r"""Trains a GAN from a config file: `jaxgan train`, run from the repository.

  python launch.py --config=configs/dcgan.py [--workdir=runs/dcgan] \
      [--config.train.num_steps=1000]

Running the same command again resumes from the latest checkpoint in workdir.
SIGTERM or SIGINT (Ctrl-C) saves a checkpoint and exits with status 128 + the
signal number; a second one stops at once. A workdir holding a run with a
different config is refused unless --override_config is given, and so is a
workdir another run is writing to (workdir/.lock names it).

A sweep trains many members of the config from one command, each in
workdir/<member>/, and writes workdir/summary.csv and summary.png
(docs/sweeps.md):

  python launch.py --config=configs/toy_ring.py --sweep='seed=0,1,2,3'
  python launch.py --config=configs/toy_ring.py --sweep=config  # its get_sweep()

The flags and what they do are in `jaxgan/cli/train.py`, which the installed
`jaxgan train` command runs too.
"""

from absl import app

from jaxgan import cli
from jaxgan.cli import train as train_command

cli.quiet_logging()
train_command.define_flags()
main, parse_flags = train_command.main, train_command.parse_flags

if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
