"""The package layering of docs/architecture.md, checked on the source: who may import whom.

* `sketch_common` imports neither model package nor `flags`;
* `sketchgloc_tf2` and `bert_tf2` never import each other, nor the demo (`sketch_demo`);
* no library module imports `flags` (the command-line layer), except a package's `__main__.py`
  and a module's `if __name__ == "__main__":` block, which are entry points;
* no test module imports another test module (shared code lives in `tests/helpers/`).
"""

import ast
import pathlib

import pytest

from helpers.paths import REPO_ROOT as ROOT

LIBRARIES = ("sketch_common", "sketchgloc_tf2", "bert_tf2", "sketch_demo")
FORBIDDEN = {
    "sketch_common": {"sketchgloc_tf2", "bert_tf2", "flags", "sketch_demo"},
    "sketch_demo": {"flags"},
    "sketchgloc_tf2": {"bert_tf2", "flags", "sketch_demo"},
    "bert_tf2": {"sketchgloc_tf2", "flags", "sketch_demo"},
}


def _is_main_guard(node) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__"
                    for c in test.comparators))


def imported_modules(path: pathlib.Path, skip_main_guard: bool) -> list:
    """`(line, dotted module name)` of every import in `path`, outside main guards if asked."""
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if skip_main_guard and _is_main_guard(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.lineno, child.module))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _library_modules():
    for package in LIBRARIES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def test_library_layers_import_only_downwards():
    violations = []
    for package, path in _library_modules():
        entry_point = path.name == "__main__.py"
        for line, module in imported_modules(path, skip_main_guard=True):
            top = module.split(".")[0]
            if top in FORBIDDEN[package] and not (entry_point and top == "flags"):
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not violations, "\n".join(violations)


def test_no_test_module_imports_another():
    tests = ROOT / "tests"
    test_names = {path.stem for path in tests.rglob("test_*.py")} | {"conftest"}
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted(tests.rglob("*.py"))
        for line, module in imported_modules(path, skip_main_guard=False)
        if module.split(".")[-1] in test_names or module.split(".")[0] in test_names
    ]
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("source, expected", [
    ("import flags.common\n", ["flags.common"]),
    ("from flags import common\n", ["flags"]),
    ("def f():\n    from bert_tf2 import model\n", ["bert_tf2"]),
    ("if __name__ == '__main__':\n    from flags import tools\n", []),
])
def test_import_scanner(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert [module for _, module in imported_modules(path, skip_main_guard=True)] == expected


def test_tests_live_in_unit_parity_or_integration():
    tests = ROOT / "tests"
    misplaced = [str(path.relative_to(ROOT)) for path in tests.rglob("test_*.py")
                 if path.parent.name not in ("unit", "parity", "integration")]
    assert not misplaced, misplaced
