"""The shape of the code base: its import graph has no cycle, its functions
are short. The checks live in scripts/ (runnable on their own); these tests
run them on jaxgan/ and show, on small made-up packages, that they can fail."""

import importlib.util
import pathlib
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _script(name: str):
  spec = importlib.util.spec_from_file_location(name, REPO / 'scripts' / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


import_graph = _script('import_graph')
function_length = _script('check_function_length')

# Packages whose import graph must have no cycle.
ACYCLIC = ['jaxgan']
# Modules that import nothing else from jaxgan (anything may import them).
LEAVES = {'jaxgan.weights': 'jaxgan', 'jaxgan.losses': 'jaxgan',
          'jaxgan.augment': 'jaxgan'}
# Paths whose functions must be at most MAX_LINES long.
SHORT_FUNCTIONS = ['jaxgan']


def _write(root: pathlib.Path, files: dict[str, str]) -> None:
  for name, text in files.items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.mark.parametrize('package', ACYCLIC)
def test_import_graph_has_no_cycle(package):
  edges = import_graph.graph(REPO / package)
  found = import_graph.cycles(edges)
  assert not found, '\n'.join(import_graph.describe(edges, c) for c in found)


@pytest.mark.parametrize('module, package', sorted(LEAVES.items()))
def test_leaf_modules_import_nothing_else_from_the_package(module, package):
  edges = import_graph.graph(REPO / package)
  inside = {m for m in edges if m == module or m.startswith(module + '.')}
  outside = {t for m in inside for t in edges[m]} - inside
  assert not outside, f'{module} imports {sorted(outside)}'


def test_import_graph_follows_the_imports_jaxgan_makes():
  edges = import_graph.graph(REPO / 'jaxgan')
  assert 'jaxgan.data' in edges['jaxgan.evaluation._evaluator']  # from jaxgan.data import
  assert 'jaxgan.weights' in edges['jaxgan.models.vgg']
  assert 'jaxgan.models.dcgan' in edges['jaxgan.models._registry']
  assert 'jaxgan.train.trainer' in edges['jaxgan.evaluate']


def test_import_graph_finds_cycles_through_function_level_and_package_imports(
    tmp_path):
  _write(tmp_path / 'pkg', {
      '__init__.py': '',
      'a.py': '''
          def f():
            from pkg import b
            return b
      ''',
      'b.py': 'from pkg.a import f\n',
      # c imports d's package, whose __init__ imports c: a cycle through __init__.
      'c.py': 'import pkg.d.e\n',
      'd/__init__.py': 'from pkg.c import *\n',
      'd/e.py': '',
      # Siblings that import each other through their package are no cycle.
      'f/__init__.py': 'from pkg.f import g, h\n',
      'f/g.py': 'from pkg.f import h\n',
      'f/h.py': 'from . import i\n',
      'f/i.py': '',
  })
  edges = import_graph.graph(tmp_path / 'pkg')
  assert edges['pkg.f.h'] == {'pkg.f.i'}
  assert sorted(import_graph.cycles(edges)) == [['pkg.a', 'pkg.b'], ['pkg.c', 'pkg.d']]


def test_functions_are_short():
  paths = [str(REPO / p) for p in SHORT_FUNCTIONS]
  assert all(pathlib.Path(p).exists() for p in paths)
  assert not function_length.too_long(paths)


def test_function_length_counts_from_def_to_the_last_line(tmp_path):
  body = ''.join(f'  x{i} = {i}\n' for i in range(78))
  path = tmp_path / 'm.py'
  path.write_text(f'class C:\n  def ok(self):\n{body.replace("  x", "    x")}'
                  f'    return 0\n\n\ndef long():\n{body}  y = 1\n  return y\n')
  found = function_length.too_long([str(path)])
  assert found == [f'{path}:84 long (81 lines)']  # C.ok: 80 lines, allowed
  assert function_length.function_lengths(path)[0] == ('C.ok', 2, 80)
