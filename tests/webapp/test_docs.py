"""The docs keep up with the code: every setting the app reads is named in docs/operations.md,
the README stays a newcomer's page that links on, and the paths the docs name exist.

Settings are found by reading the source with `ast`, not by importing it: the string keys passed
to os.environ.get / os.environ[...] / os.getenv, to config[...] / config.get(...) on any
`config` (current_app.config, app.config, a local `config = current_app.config`), and to the
helpers that read the environment for their callers (config.py's `_flag("NAME")`: any function
that passes one of its own parameters to os.environ is such a helper). A key held in a local
name (`for name in ("A", "B"): os.environ.get(name)`, `prefix = "X_"`) is followed to its
strings; a prefix matched against the names of os.environ (WECHAT_TEMPLATE_<KIND>) counts as a
key. A read whose key cannot be followed to a string fails the test: say in the docs what it
reads, then teach this test to see it.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
PERFORMANCE = ROOT / "docs" / "performance.md"
SOURCE_PACKAGES = ("webapp", "miniprogram_api")
README_MAX_LINES = 200
README_LINKS = ("docs/architecture.md", "docs/operations.md", "docs/performance.md")
# Written by someone else; the README links to it before it exists.
MAY_BE_MISSING = {"docs/architecture.md"}


@dataclass
class SettingReads:
    keys: dict[str, list[str]] = field(default_factory=dict)  # key → where it is read
    prefixes: dict[str, list[str]] = field(default_factory=dict)  # "WECHAT_TEMPLATE_" → where
    unresolved: list[str] = field(default_factory=list)  # reads whose key is not a string

    def add(self, bucket: dict[str, list[str]], key: str, where: str) -> None:
        bucket.setdefault(key, []).append(where)


# --- finding the keys ------------------------------------------------------------------------


def _is_os_environ(node: ast.AST) -> bool:
    """`os.environ`, or `environ` imported from os."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _is_config(node: ast.AST) -> bool:
    """Something named config: `config`, `app_config`, `current_app.config`, `app.config`."""
    if isinstance(node, ast.Attribute):
        return node.attr == "config"
    return isinstance(node, ast.Name) and (node.id == "config" or node.id.endswith("_config"))


def _key_argument(call: ast.Call, position: int = 0, keyword: str | None = None) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    for kw in call.keywords:
        if keyword is not None and kw.arg == keyword:
            return kw.value
    return None


def _environment_key(node: ast.AST) -> ast.AST | None:
    """The key node of an environment read, or None if `node` is not one."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop") and _is_os_environ(func.value):
            return _key_argument(node, 0, "key")
        if (
            isinstance(func, ast.Attribute) and func.attr == "getenv"
            and isinstance(func.value, ast.Name) and func.value.id == "os"
        ):
            return _key_argument(node, 0, "key")
        if isinstance(func, ast.Name) and func.id == "getenv":
            return _key_argument(node, 0, "key")
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os_environ(node.value):
        return node.slice
    return None


def _config_key(node: ast.AST) -> ast.AST | None:
    """The key node of a read of the app's config, or None."""
    if (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("get", "setdefault") and _is_config(node.func.value)
    ):
        return _key_argument(node, 0, "key")
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_config(node.value):
        return node.slice
    return None


def _iterates_environment(loop: ast.AST) -> bool:
    """`for name in os.environ`, `... in os.environ.items()` / `.keys()`."""
    target = loop.iter
    if (
        isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute)
        and target.func.attr in ("items", "keys")
    ):
        target = target.func.value
    return _is_os_environ(target)


class _Module:
    """One parsed file, with each node's parent, for following a name to its strings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node

    def where(self, node: ast.AST) -> str:
        return f"{self.relative}:{getattr(node, 'lineno', '?')}"

    def enclosing_function(self, node: ast.AST) -> ast.AST | None:
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return node
        return None

    def parameter_index(self, name: str, node: ast.AST) -> int | None:
        """The position of `name` among the parameters of the function around `node`."""
        function = self.enclosing_function(node)
        if function is None:
            return None
        params = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
        names = [p.arg for p in params]
        return names.index(name) if name in names else None

    def strings_of(self, node: ast.AST) -> set[str] | None:
        """The strings a key expression can be, or None when it cannot be told here."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if not isinstance(node, ast.Name):
            return None
        scope = self.enclosing_function(node) or self.tree
        found: set[str] = set()
        for candidate in ast.walk(scope):
            if isinstance(candidate, (ast.For, ast.comprehension)) and _binds(candidate.target, node.id):
                values = _constant_strings(candidate.iter)
                if values is None:
                    return None
                found |= values
            elif isinstance(candidate, (ast.Assign, ast.AnnAssign)) and candidate.value is not None:
                targets = candidate.targets if isinstance(candidate, ast.Assign) else [candidate.target]
                if any(_binds(t, node.id) for t in targets):
                    values = _constant_strings(candidate.value)
                    if values is None:
                        return None
                    found |= values
        return found or None


def _binds(target: ast.AST, name: str) -> bool:
    return isinstance(target, ast.Name) and target.id == name


def _constant_strings(node: ast.AST) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        values = [_constant_strings(element) for element in node.elts]
        if any(v is None for v in values):
            return None
        return set().union(*values)
    return None


def _helper_call(node: ast.AST, helpers: dict[str, int]) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers


def _read_helpers(modules: list[_Module]) -> dict[str, int]:
    """Functions that read the environment with a key their caller passes: name → position.

    Followed to a fixed point, so a helper calling a helper is found too.
    """
    helpers: dict[str, int] = {}
    while True:
        before = dict(helpers)
        for module in modules:
            for node in ast.walk(module.tree):
                key = _environment_key(node)
                if key is None and _helper_call(node, helpers):
                    key = _key_argument(node, helpers[node.func.id])
                if isinstance(key, ast.Name):
                    index = module.parameter_index(key.id, key)
                    function = module.enclosing_function(key)
                    if index is not None and isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        helpers[function.name] = index
        if helpers == before:
            return helpers


def setting_reads(paths: list[Path]) -> SettingReads:
    modules = [_Module(path) for path in paths]
    helpers = _read_helpers(modules)
    reads = SettingReads()
    for module in modules:
        for node in ast.walk(module.tree):
            key = _environment_key(node)
            if key is None:
                key = _config_key(node)
            if key is None and _helper_call(node, helpers):
                key = _key_argument(node, helpers[node.func.id])
                if key is None:  # the helper's key left to its default: not a read here
                    continue
            if key is not None:
                if isinstance(key, ast.Name) and module.parameter_index(key.id, key) is not None:
                    continue  # inside a helper: its callers name the key
                values = module.strings_of(key)
                if values is None:
                    reads.unresolved.append(f"{module.where(node)}: {ast.unparse(node)}")
                else:
                    for value in values:
                        reads.add(reads.keys, value, module.where(node))
            if isinstance(node, ast.For) and _iterates_environment(node):
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, ast.Call)
                        and isinstance(inner.func, ast.Attribute)
                        and inner.func.attr == "startswith"
                        and inner.args
                    ):
                        values = module.strings_of(inner.args[0])
                        if values is None:
                            reads.unresolved.append(f"{module.where(inner)}: {ast.unparse(inner)}")
                        else:
                            for value in values:
                                reads.add(reads.prefixes, value, module.where(inner))
    return reads


def source_files() -> list[Path]:
    return sorted(path for package in SOURCE_PACKAGES for path in (ROOT / package).rglob("*.py"))


# --- what the docs name ----------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def inline_code(markdown: str) -> list[str]:
    """The `code spans` of a Markdown text, outside fenced blocks."""
    return _CODE_SPAN.findall(_FENCE.sub("", markdown))


def names_key(spans: list[str], key: str, *, prefix: bool = False) -> bool:
    end = "" if prefix else r"(?![A-Za-z0-9_])"
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(key)}{end}")
    return any(pattern.search(span) for span in spans)


# --- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reads() -> SettingReads:
    return setting_reads(source_files())


def test_docs_finder_sees_every_kind_of_read(tmp_path):
    source = '''
import os
from flask import current_app

def _flag(name, default="0"):
    return os.environ.get(name, default) == "1"

def _twice(label):
    return _flag(label)

A = os.environ.get("PLAIN_GET", "x")
B = os.environ["SUBSCRIPT"]
C = os.getenv("GETENV")
D = _flag("VIA_HELPER")
E = _twice("VIA_HELPER_OF_HELPER")

def check():
    return [name for name in ("LOOP_ONE", "LOOP_TWO") if not os.environ.get(name)]

def templates():
    prefix = "SOME_PREFIX_"
    for name, value in os.environ.items():
        if name.startswith(prefix):
            pass

def view(config):
    current_app.config["APP_SUBSCRIPT"]
    current_app.config.get("APP_GET")
    config.get("LOCAL_CONFIG_GET", 1)
    key = "VIA_LOCAL_NAME"
    current_app.config[key]
'''
    path = tmp_path / "sample.py"
    path.write_text(source, encoding="utf-8")
    found = setting_reads([path])
    assert set(found.keys) == {
        "PLAIN_GET", "SUBSCRIPT", "GETENV", "VIA_HELPER", "VIA_HELPER_OF_HELPER",
        "LOOP_ONE", "LOOP_TWO", "APP_SUBSCRIPT", "APP_GET", "LOCAL_CONFIG_GET", "VIA_LOCAL_NAME",
    }
    assert set(found.prefixes) == {"SOME_PREFIX_"}
    assert found.unresolved == []


def test_docs_finder_sees_the_settings_config_py_is_known_to_read(reads):
    """A guard on the finder itself: these are read in the ways it must see (a plain get,
    the _flag helper, the deadline sweep's config.get, the WECHAT_TEMPLATE_ prefix)."""
    for key in ("APP_ENV", "DATABASE_URL", "DB_POOL_PRE_PING", "DB_GENERIC_PLANS",
                "WECHAT_TEMPLATES", "DEADLINE_WARNING_FRACTION", "DEADLINE_BATCH_SIZE",
                "ESCALATION_STEP_HOURS", "AUTO_CLOSE_DAYS", "SECRET_KEY"):
        assert key in reads.keys, key
    assert "WECHAT_TEMPLATE_" in reads.prefixes


def test_every_setting_key_read_by_the_app_is_named_in_operations_md(reads):
    assert not reads.unresolved, (
        "settings read with a key this test cannot follow to a string; name them in "
        "docs/operations.md and teach tests/webapp/test_docs.py to see them:\n  "
        + "\n  ".join(reads.unresolved)
    )
    spans = inline_code(OPERATIONS.read_text(encoding="utf-8"))
    missing = [
        f"{key} (read at {', '.join(where[:3])})"
        for key, where in sorted(reads.keys.items())
        if not names_key(spans, key)
    ]
    missing += [
        f"{prefix}<…> (names matched at {', '.join(where[:3])})"
        for prefix, where in sorted(reads.prefixes.items())
        if not names_key(spans, prefix, prefix=True)
    ]
    assert not missing, (
        "docs/operations.md does not name these settings in `backticks`:\n  " + "\n  ".join(missing)
    )


def test_readme_is_short_and_links_to_the_docs():
    text = README.read_text(encoding="utf-8")
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    for link in README_LINKS:
        assert any(t.split("#", 1)[0] == link for t in targets), f"README.md does not link to {link}"


_REPO_PATH = re.compile(r"^(?:README\.md|(?:webapp|miniprogram_api|qr|bench|tools|tests|docs)/[\w./-]*)$")


def _named_paths(doc: Path) -> set[str]:
    """Repository paths a doc names: in `code spans` (from the root) and as relative links."""
    text = doc.read_text(encoding="utf-8")
    named = {span for span in inline_code(text) if _REPO_PATH.match(span)}
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        target = target.split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):  # an anchor, a URL
            continue
        resolved = (doc.parent / target).resolve()
        if resolved.is_relative_to(ROOT):
            named.add(resolved.relative_to(ROOT).as_posix())
    return {path for path in named if _REPO_PATH.match(path)}


@pytest.mark.parametrize("doc", [README, OPERATIONS, PERFORMANCE], ids=lambda p: p.name)
def test_paths_the_docs_name_exist(doc):
    """A doc that names `webapp/reads.py` names a file that is there (moved code: fix the doc)."""
    missing = sorted(
        path for path in _named_paths(doc)
        if path not in MAY_BE_MISSING and not (ROOT / path).exists()
    )
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"
