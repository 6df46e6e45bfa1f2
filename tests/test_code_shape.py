"""The shape the project keeps: one top-level package, short modules, short functions."""

import ast
import configparser
import pathlib

from setuptools import find_packages

from tests.support import REPO

PACKAGE = pathlib.Path(REPO, "unified_api_server")
MODULE_LINES = 350
FUNCTION_LINES = 60


def test_the_distribution_installs_one_top_level_package_and_all_of_it():
    """setup.cfg's package list is unified_api_server and every folder of code under it."""
    config = configparser.ConfigParser()
    config.read(pathlib.Path(REPO, "setup.cfg"))
    include = config["options.packages.find"]["include"].split()
    found = set(find_packages(where=REPO, include=include))
    assert {name.split(".")[0] for name in found} == {"unified_api_server"}
    folders = {".".join(path.parent.relative_to(REPO).parts) for path in PACKAGE.rglob("*.py")}
    assert folders <= found, f"folders of code that would not be installed: {folders - found}"


def test_no_module_is_too_long_to_read_in_one_sitting():
    too_long = {
        str(path.relative_to(REPO)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MODULE_LINES
    }
    assert too_long == {}


def test_no_function_is_longer_than_a_screen():
    too_long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    too_long[f"{path.relative_to(REPO)}:{node.name}"] = length
    assert too_long == {}


def test_every_data_file_is_installed():
    """Migrations and templates match setup.cfg's package_data, so a wheel carries them."""
    config = configparser.ConfigParser()
    config.read(pathlib.Path(REPO, "setup.cfg"))
    patterns = [p.strip() for p in config["options.package_data"]["*"].split(",")]
    data = [
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert data, "no data files found"
    left_out = []
    for path in data:
        package = next(p for p in path.parents if (p / "__init__.py").exists())
        relative = path.relative_to(package)
        if not any(relative.match(pattern) for pattern in patterns):
            left_out.append(str(path.relative_to(REPO)))
    assert left_out == []
