"""The import graph of a package, from its source (ast; nothing is imported),
and its cycles.

  python scripts/import_graph.py [PACKAGE_DIR]   # default jaxgan; exit 1 on a cycle

Nodes are modules, a package's `__init__` being the module named after the
package. Every `import` and `from ... import` counts, at any depth (function
level too). `from pkg import sub` is an edge to the module pkg.sub when that
is a module, else to pkg; importing a module also runs the `__init__` of each
package above it, so those are edges too, except the packages above the
importing module itself (they are already being imported when it runs).
"""

from __future__ import annotations

import ast
import pathlib
import sys


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
  parts = list(path.relative_to(root.parent).with_suffix('').parts)
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _ancestors(name: str) -> list[str]:
  parts = name.split('.')
  return ['.'.join(parts[:i]) for i in range(1, len(parts))]


def _imported(node: ast.AST, module: str, is_package: bool,
              modules: set[str]) -> list[str]:
  """The dotted names an import statement loads (modules where they are)."""
  if isinstance(node, ast.Import):
    return [alias.name for alias in node.names]
  if not isinstance(node, ast.ImportFrom):
    return []
  base = node.module or ''
  if node.level:  # relative: from the package of `module`
    anchor = module.split('.') if is_package else module.split('.')[:-1]
    anchor = anchor[:len(anchor) - node.level + 1]
    base = '.'.join(anchor + ([base] if base else []))
  return [f'{base}.{a.name}' if f'{base}.{a.name}' in modules else base
          for a in node.names]


def graph(root: str | pathlib.Path) -> dict[str, set[str]]:
  """{module: the modules of the package it imports} for the package at `root`."""
  root = pathlib.Path(root)
  files = {module_name(p, root): p for p in sorted(root.rglob('*.py'))}
  edges: dict[str, set[str]] = {m: set() for m in files}
  for module, path in files.items():
    is_package = path.name == '__init__.py'
    skip = set(_ancestors(module)) | {module}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      for name in _imported(node, module, is_package, set(files)):
        while name and name not in files:  # a name inside a module
          name = name.rpartition('.')[0]
        if name:
          edges[module].update({name, *_ancestors(name)} - skip)
  return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components with more than one module (Tarjan)."""
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  out: list[list[str]] = []

  def visit(v: str) -> None:
    index[v] = low[v] = len(index)
    stack.append(v)
    for w in sorted(edges[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while not component or component[-1] != v:
        component.append(stack.pop())
      if len(component) > 1:
        out.append(sorted(component))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return out


def describe(edges: dict[str, set[str]], component: list[str]) -> str:
  """One line per module of a cycle: the modules of the cycle it imports."""
  return '\n'.join(f'  {m} -> {", ".join(sorted(edges[m] & set(component)))}'
                   for m in component)


if __name__ == '__main__':
  package_edges = graph(sys.argv[1] if len(sys.argv) > 1 else 'jaxgan')
  found = cycles(package_edges)
  for c in found:
    print(f'cycle: {", ".join(c)}\n{describe(package_edges, c)}')
  sys.exit(1 if found else 0)
