"""Config files by name or by path.

The configs of the repository's `configs/` ship in the wheel as the package
`jaxgan.configs`, so a bare name finds them from any directory:

    config = jaxgan.load_config('dcgan')             # jaxgan/configs/dcgan.py
    config = jaxgan.load_config('cgan:dcgan')        # with get_config('dcgan')
    config = jaxgan.load_config('configs/dcgan.py')  # a path, as launch.py takes

A name or path may end in ':ARG', which is passed to `get_config(ARG)`, as
ml_collections' `DEFINE_config_file` does for `--config=path:ARG`. The
config comes back locked, as the command line's: setting a key that does not
exist raises.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

# Modules of jaxgan.configs that are helpers, not experiments.
HELPERS = ('__init__', 'common')


def directory() -> str:
  """Where the shipped configs are: the folder of the package jaxgan.configs."""
  spec = importlib.util.find_spec('jaxgan.configs')
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError('The package jaxgan.configs is not installed.')
  return list(spec.submodule_search_locations)[0]


def names() -> list[str]:
  """The experiments shipped with jaxgan (config names), sorted."""
  return sorted(f[:-3] for f in os.listdir(directory())
                if f.endswith('.py') and f[:-3] not in HELPERS)


def resolve(name_or_path: str) -> str:
  """'dcgan', 'dcgan.py', 'dcgan:ARG', 'PATH' or 'PATH:ARG' -> 'FILE[:ARG]'.

  An existing file is taken as it is; otherwise a bare name (no directory)
  is the shipped config of that name.

  Raises:
    FileNotFoundError: neither a file nor a shipped config; the message lists
      the shipped ones.
  """
  path, colon, arg = name_or_path.partition(':')
  if os.path.isfile(path):
    return name_or_path
  stem = path[:-3] if path.endswith('.py') else path
  if stem and os.path.dirname(stem) == '' and stem in names():
    return os.path.join(directory(), f'{stem}.py') + colon + arg
  raise FileNotFoundError(
      f'No config {path!r}: not a file, and not one of the configs shipped with '
      f'jaxgan: {", ".join(names())}.')


def load_config(name_or_path: str) -> ml_collections.ConfigDict:
  """The locked config of a shipped config's name or a config file's path
  (either may end in ':ARG' for `get_config(ARG)`)."""
  path, colon, arg = resolve(name_or_path).partition(':')
  stem = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(f'{stem}_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg) if colon else module.get_config()
  if not isinstance(config, ml_collections.ConfigDict):
    raise TypeError(f'{path}: get_config() returned {type(config).__name__}, '
                    'not a ConfigDict.')
  config.lock()
  return config


def resolve_flag(argv: list[str], flag: str = 'config') -> list[str]:
  """`argv` with the value of `--FLAG=VALUE` (or `--FLAG VALUE`) resolved
  (see `resolve`, whose FileNotFoundError it raises), so that absl reads a
  shipped config by its bare name."""
  out, i = list(argv), 0
  while i < len(out):
    arg = out[i]
    if arg.startswith(f'--{flag}='):
      out[i] = f'--{flag}=' + resolve(arg.split('=', 1)[1])
    elif arg == f'--{flag}' and i + 1 < len(out):
      out[i + 1] = resolve(out[i + 1])
      i += 1
    i += 1
  return out
