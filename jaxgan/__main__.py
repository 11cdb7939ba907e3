"""`python -m jaxgan COMMAND ...`: the `jaxgan` command (see jaxgan.cli)."""

import sys

from jaxgan import cli

if __name__ == '__main__':
  cli.main(['jaxgan', *sys.argv[1:]])
