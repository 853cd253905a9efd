"""Install aihwkit's pure-torch inference tile into the peer venv, without its C++ extension.

IBM's aihwkit (https://github.com/IBM/aihwkit) publishes wheels only for some Python versions
(1.2.0: CPython 3.12 to 3.14) and its source distribution needs a CMake/BLAS/pybind11 build of
the compiled extension ``aihwkit.simulator.rpu_base``. ``physnn perf`` compares against the
pure-torch tile (``TorchInferenceRPUConfig`` → ``TorchInferenceTile`` → ``TorchSimulatorTile``,
``AnalogMVM``), which never calls that extension, but aihwkit's modules import it at import
time. So, when ``import aihwkit`` fails, this script

1. downloads the aihwkit wheel with pip (``--only-binary``, for any platform: no build runs),
2. copies its Python sources (``*.py`` and ``VERSION.txt``, no compiled library) into the
   site-packages of the Python that runs it, and
3. writes ``aihwkit/simulator/rpu_base.py``: a placeholder whose every class raises when it is
   instantiated (and ``cuda.is_compiled()`` says False), so that any use of the compiled tiles
   fails loudly instead of silently.

When ``import aihwkit`` works (a real install from a wheel), it does nothing.

Usage (with the peer venv's Python): ``.peers/bin/python benchmarks/aihwkit_torch_tile.py``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

VERSION = "1.2.0"
WHEEL_PLATFORM = ("3.12", "manylinux_2_28_x86_64")  # any wheel: only its Python files are used

PLACEHOLDER = '''"""Placeholder for aihwkit's compiled extension, which is not installed here.

Written by physnn's benchmarks/aihwkit_torch_tile.py so that aihwkit's Python modules import
and its pure-torch tiles (TorchInferenceRPUConfig) run. Every class of the compiled bindings
raises when it is instantiated: the C++ tiles cannot be used by mistake.
"""


class MissingBinding:
    """A class of the compiled extension that is not installed."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            f"aihwkit.simulator.rpu_base.{type(self).__qualname__} is the compiled extension, "
            "which is not installed here (only aihwkit's pure-torch tiles work)"
        )


class Bindings:
    """A submodule of the extension: CamelCase names are classes that raise when
    instantiated, lower-case names are nested submodules (``tiles.half``)."""

    def __init__(self, name):
        self.__name__ = name
        self._members = {}

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr not in self._members:
            path = f"{self.__name__}.{attr}"
            self._members[attr] = (
                Bindings(path)
                if attr[0].islower()
                else type(attr, (MissingBinding,), {"__qualname__": path})
            )
        return self._members[attr]


class _Cuda(Bindings):
    @staticmethod
    def is_compiled():
        return False


tiles = Bindings("tiles")
devices = Bindings("devices")
cuda = _Cuda("cuda")
'''


def import_error() -> str | None:
    """Why ``aihwkit`` does not import in this interpreter; None when it does."""
    try:
        importlib.import_module("aihwkit.simulator.configs")
    except Exception as err:  # any failure means: install the torch tile
        return f"{type(err).__name__}: {err}"
    return None


def download_wheel(target: Path) -> Path:
    python, platform = WHEEL_PLATFORM
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
         ":all:", "--python-version", python, "--platform", platform,
         f"aihwkit=={VERSION}", "--dest", str(target)],
        check=True,
    )  # fmt: skip
    return next(target.glob("aihwkit-*.whl"))


def install_sources(wheel: Path, site: Path) -> int:
    """Copy aihwkit's Python sources from ``wheel`` into ``site``; the number of files."""
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("aihwkit/") and name.endswith((".py", "VERSION.txt")):
                archive.extract(name, site)
                count += 1
    (site / "aihwkit" / "simulator" / "rpu_base.py").write_text(PLACEHOLDER)
    return count


def main() -> int:
    error = import_error()
    if error is None:
        print("aihwkit imports already: nothing to do")
        return 0
    print(f"aihwkit does not import ({error}): installing its pure-torch tile")
    site = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(Path(tmp))
        count = install_sources(wheel, site)
    print(f"installed {count} Python files of {wheel.name} into {site}")
    print("wrote the placeholder aihwkit/simulator/rpu_base.py (compiled tiles raise if used)")
    importlib.invalidate_caches()
    error = import_error()
    if error is not None:
        print(f"aihwkit still does not import: {error}", file=sys.stderr)
        return 1
    print("aihwkit's pure-torch tile (TorchInferenceRPUConfig) is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
