"""Substrates and methods of other packages (entry-point groups ``physnn.substrates`` and
``physnn.methods``): the worked example ``examples/toy_substrate`` installed and trained through
the command line, and the rules of loading (once, built-ins keep their names, broken plug-ins
are skipped)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from physnn import registry
from physnn.errors import ConfigError, PhysnnWarning
from physnn.plugins import METHODS_GROUP, SUBSTRATES_GROUP
from physnn.registry import Registry

EXAMPLE = Path(__file__).parents[1] / "examples" / "toy_substrate"


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    """The example package installed into a folder as pip installs it (offline, without a
    build backend): its modules, and a dist-info folder whose ``entry_points.txt`` holds the
    entry points its ``pyproject.toml`` declares."""
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    project, site = pyproject["project"], tmp_path_factory.mktemp("site")
    for module in pyproject["tool"]["setuptools"]["py-modules"]:
        shutil.copy(EXAMPLE / f"{module}.py", site)
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in groups.items()
    ))  # fmt: skip
    return site


def physnn(site: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``physnn ARGS`` (or the Python ``code``) with the installed example on the path."""
    paths = [str(site), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env = {**os.environ, "PHYSNN_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    command = ["-c", code] if code else ["-m", "physnn.cli", *args]
    done = subprocess.run(
        [sys.executable, *command], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


def test_physnn_list_names_the_plugins_without_importing_them(toy_site):
    code = (
        "import sys\nfrom physnn.cli import main\nmain(['list'])\n"
        "assert 'torch' not in sys.modules and 'toy_substrate' not in sys.modules"
    )
    shown = physnn(toy_site, code=code).stdout
    assert "toy            from package toy-substrate (toy_substrate:register)" in shown
    assert "toy-sign       from package toy-substrate (toy_substrate:register_method)" in shown


def test_physnn_list_json_describes_the_plugins_in_full(toy_site):
    info = json.loads(physnn(toy_site, "list", "--json").stdout)
    (toy,) = [s for s in info["systems"] if s["name"] == "toy"]
    assert toy["package"] == "toy-substrate" and toy["presets"] == ["default", "small"]
    assert toy["controls"] == {"weight": "32×64 in [-1, 1]", "bias": "32 in [-1, 1]"}
    assert info["gap_knobs"]["toy"]["levels"]["moderate"] == {"gain_error": 0.1}
    (method,) = [m for m in info["methods"] if m["name"] == "toy-sign"]
    assert method["package"] == "toy-substrate"
    assert {"pat", "spsa", "toy-sign"} <= set(info["matrix"]["toy"])
    assert "toy-sign" in info["matrix"]["crossbar"]
    assert "toy" in info["incompatible"]["ep"]  # the toy is not energy-based
    assert "package" not in info["systems"][0]  # physnn's own rows are unchanged


@pytest.mark.parametrize(("method", "least"), [("pat", 0.4), ("spsa", 0.25)])
def test_physnn_train_trains_the_toy_substrate(toy_site, tmp_path, method, least):
    out = tmp_path / "run"
    physnn(toy_site, "train", "--system", "toy", "--method", method, "--gap", "moderate",
           "--epochs", "2", "--limit-train", "300", "--no-progress", "--out", str(out))  # fmt: skip
    result = json.loads((out / "result.json").read_text())
    assert result["system"] == "toy" and result["method"] == method
    assert result["device_queries"] > 0  # the methods measured the (simulated) toy device
    first, last = result["history"][0], result["history"][-1]
    assert last["train_loss"] < first["train_loss"] - 0.1
    assert result["device_accuracy"] > least  # ten classes: chance is 0.1


def test_plugin_names_pass_the_catalogue_check_and_a_typo_lists_them(toy_site):
    code = (
        "from physnn.catalogue import catalogue, check_names\n"
        "from physnn.errors import ConfigError\n"
        "def check(**names):\n"
        "    check_names(**{'preset': 'default', 'dataset': 'digits', 'gap': 'moderate',"
        " **names}, info=catalogue())\n"
        "check(system='toy', preset='small', method='toy-sign')\n"
        "check(system='toy', method='pat')\n"
        "try:\n    check(system='toys', method='pat')\n"
        "except ConfigError as err:\n    print(err)\n"
    )
    refused = physnn(toy_site, code=code).stdout
    assert refused.startswith("unknown system 'toys'; choose one of: crossbar, ")
    assert refused.rstrip().endswith(", xy, toy")


# ------------------------------------------------------------------------- loading rules

PACKAGE = """
from physnn import registry

def register():
    registry._GROUPS["physnn.substrates"][0].register("lab")("a lab's system")
    registry._GROUPS["physnn.substrates"][1].register("lab")("its gap family")

def register_method():
    registry._GROUPS["physnn.methods"][0].register("lab-method")("a lab's method")

def fails():
    registry._GROUPS["physnn.substrates"][0].register("half")("registered before failing")
    raise RuntimeError("no such instrument")

def strays():
    registry._GROUPS["physnn.substrates"][0].register("lab")("a lab's system")
    registry._GROUPS["physnn.substrates"][1].register("other")("under another name")

def nothing():
    pass

NOT_A_FUNCTION = 42
"""


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """``fresh(entry_points)``: a package ``labpkg`` installed with these entry points (as pip
    writes its dist-info) and new, empty registries for both groups, none loaded yet; the
    process's own SYSTEMS and METHODS are left alone."""

    def install(entry_points: str) -> tuple[Registry[str], Registry[str], Registry[str]]:
        site = tmp_path / "site"
        (site / "labpkg.py").parent.mkdir(parents=True)
        (site / "labpkg.py").write_text(PACKAGE)
        info = site / "labpkg-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: labpkg\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(entry_points)
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setattr(registry, "_GROUPS", {})
        monkeypatch.setattr(registry, "_LOADED", set())
        systems = Registry[str]("system", SUBSTRATES_GROUP)
        gaps = Registry[str]("gap family", SUBSTRATES_GROUP)
        methods = Registry[str]("method", METHODS_GROUP)
        systems.register("crossbar")("a built-in")
        return systems, gaps, methods

    yield install
    sys.modules.pop("labpkg", None)


def test_plugins_join_every_registry_of_their_group_once(fresh):
    systems, gaps, methods = fresh(
        f"[{SUBSTRATES_GROUP}]\nlab = labpkg:register\n"
        f"[{METHODS_GROUP}]\nlab-method = labpkg:register_method\n"
    )
    assert "labpkg" not in sys.modules  # registering waits for the first lookup
    assert list(systems) == ["crossbar", "lab"] and gaps["lab"] == "its gap family"
    assert systems.plugins() == {"lab": "labpkg"} and gaps.plugins() == {"lab": "labpkg"}
    assert systems.items(builtin_only=True) == [("crossbar", "a built-in")]
    assert methods["lab-method"] == "a lab's method"
    assert list(systems) == ["crossbar", "lab"]  # loaded once: not registered twice


def test_a_plugin_cannot_take_a_built_in_name(fresh):
    systems, _, _ = fresh(f"[{SUBSTRATES_GROUP}]\ncrossbar = labpkg:register\n")
    with pytest.warns(PhysnnWarning, match=r"'crossbar' .* skipped: the built-in substrate"):
        assert systems["crossbar"] == "a built-in"
    assert "labpkg" not in sys.modules and systems.plugins() == {}


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("half = labpkg:fails", r"registering failed: RuntimeError: no such instrument"),
        ("lab = labpkg:strays", r"also registered 'other': one name per entry point"),
        ("lab = labpkg:nothing", r"its register function registered no substrate 'lab'"),
        ("lab = labpkg:NOT_A_FUNCTION", r"it names a int, not a register function"),
        ("lab = labpkg_gone:register", r"registering failed: ModuleNotFoundError"),
    ],
)
def test_a_broken_plugin_is_skipped_and_taken_back(fresh, entry, why):
    systems, gaps, _ = fresh(f"[{SUBSTRATES_GROUP}]\n{entry}\n")
    with pytest.warns(PhysnnWarning, match=why):
        assert list(systems) == ["crossbar"]
    assert list(gaps) == [] and systems.plugins() == {}
    with pytest.raises(ConfigError, match=r"unknown system 'lab'; choose one of: crossbar$"):
        systems["lab"]
