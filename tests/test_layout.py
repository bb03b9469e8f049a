"""The repository's shape, read from the code: what a newcomer sees at the root, and the package's imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"train_grpo.py", "compare_base_vs_lora.py", "merge_adapter.py", "rewards.py", "dataset_utils.py", "demo.py"}
PACKAGE = ROOT / "grpo_suite"
MAX_LINES = 800


def _imports(path: Path) -> set[str]:
    """The grpo_suite modules and root scripts one file imports, lazily or not."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "grpo_suite":
                names |= {f"grpo_suite.{a.name}" for a in node.names}
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def test_the_root_holds_only_the_user_facing_scripts():
    assert {p.name for p in ROOT.glob("*.py")} == SCRIPTS


def test_the_package_never_imports_a_root_script():
    roots = {name[:-3] for name in SCRIPTS}
    for path in PACKAGE.glob("*.py"):
        assert not _imports(path) & roots, f"{path.name} imports a root script"


def test_no_import_cycle_in_the_package():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {
        m: {i.split(".")[1] for i in _imports(PACKAGE / f"{m}.py") if i.startswith("grpo_suite.")} & modules
        for m in modules
    }
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join(path + (module,))}"
        if module in done:
            return
        for other in graph[module]:
            visit(other, path + (module,))
        done.add(module)

    for module in modules:
        visit(module, ())


def test_no_file_is_over_800_lines_and_each_says_what_it_holds():
    for path in [*ROOT.glob("*.py"), *PACKAGE.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= MAX_LINES, f"{path.name} has {text.count(chr(10))} lines; split it along its seams"
        if path.name != "__init__.py" or text.strip():
            doc = ast.get_docstring(ast.parse(text))
            assert doc and doc.splitlines()[0].strip(), f"{path.name} has no first docstring line"


def test_no_private_argparse_attribute():
    for path in [*ROOT.glob("*.py"), *PACKAGE.glob("*.py"), *(ROOT / "tests").glob("*.py")]:
        if path.name == "test_layout.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\._action_groups|\._group_actions|parser\._actions|argparse\._[A-Z]", text), path.name


def test_pyproject_reads_requirements_and_its_commands_are_the_scripts_mains():
    import importlib

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]
    assert set(project["tool"]["setuptools"]["py-modules"]) == {name[:-3] for name in SCRIPTS}
    for command, target in project["project"]["scripts"].items():
        module, _, func = target.partition(":")
        assert f"{module}.py" in SCRIPTS, command
        assert callable(getattr(importlib.import_module(module), func)), command
