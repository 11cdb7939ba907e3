"""Prints the functions longer than MAX_LINES lines (def line to the last line
of the body) in the given files or folders (default jaxgan/); exits 1 if any.

  python scripts/check_function_length.py [PATH ...]
"""

import ast
import pathlib
import sys

MAX_LINES = 80


def python_files(paths: list[str]) -> list[pathlib.Path]:
  files = []
  for path in map(pathlib.Path, paths):
    files.extend(sorted(path.rglob('*.py')) if path.is_dir() else [path])
  return files


def function_lengths(path: pathlib.Path) -> list[tuple[str, int, int]]:
  """(qualified name, first line, length) of every function in `path`."""
  out = []

  def visit(node, prefix):
    for child in ast.iter_child_nodes(node):
      if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
        name = f'{prefix}{child.name}'
        out.append((name, child.lineno, child.end_lineno - child.lineno + 1))
        visit(child, f'{name}.')
      elif isinstance(child, ast.ClassDef):
        visit(child, f'{prefix}{child.name}.')
      else:
        visit(child, prefix)

  visit(ast.parse(path.read_text(), str(path)), '')
  return out


def too_long(paths: list[str], max_lines: int = MAX_LINES) -> list[str]:
  """'file:line name (n lines)' for each function longer than max_lines."""
  return [f'{path}:{line} {name} ({n} lines)'
          for path in python_files(paths)
          for name, line, n in function_lengths(path) if n > max_lines]


if __name__ == '__main__':
  found = too_long(sys.argv[1:] or ['jaxgan'])
  print('\n'.join(found))
  sys.exit(1 if found else 0)
