"""Peer simulators: where they are installed, how to import them, their D2NN layer stacks.

Peers are never physnn dependencies. ``benchmarks/install_peers.sh`` installs them in a venv of
their own (``.peers`` by default); :func:`add_peer_path` appends that venv's site-packages to
``sys.path`` and :func:`import_peer` imports a peer inside a try, so that a missing or broken
peer becomes a note, never an error.

Each D2NN stack is built from the peer's own public layers (read from the installed package),
configured to the geometry physnn uses: the same grid, zero padding to the same padded grid,
wavelength, pixel pitch, distances, and the same phase masks. They map an input field
(B, N, N) to the field on the detector plane.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from physnn.perf.cases import D2NNGeometry

ENV_VAR = "PHYSNN_PEERS"
DEFAULT_DIR = ".peers"


def peer_site_packages(peers: str | os.PathLike | None = None) -> Path | None:
    """The site-packages of the peer venv: ``peers``, else $PHYSNN_PEERS, else ``.peers`` if
    present; None when there is none. A directory without a lib/python*/site-packages inside is
    taken to be a site-packages itself."""
    chosen = peers or os.environ.get(ENV_VAR)
    root = Path(chosen) if chosen else Path(DEFAULT_DIR)
    if not root.is_dir():
        return None
    found = sorted(root.glob("lib/python*/site-packages"))
    return found[-1] if found else root


def add_peer_path(peers: str | os.PathLike | None = None) -> Path | None:
    """Append the peer site-packages to ``sys.path`` (after physnn's own environment)."""
    site = peer_site_packages(peers)
    if site is not None and str(site) not in sys.path:
        sys.path.append(str(site))
    return site


def import_peer(module: str) -> tuple[ModuleType | None, str | None]:
    """(module, None), or (None, a note saying why it is skipped). Import chatter is silenced."""
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            return importlib.import_module(module), None
    except Exception as err:  # a broken peer of any kind is skipped, never fatal
        return None, f"peer {module} skipped: {type(err).__name__}: {err}"


PeerStack = tuple[Callable[[Tensor], Tensor], list[Tensor]]


def torchoptics_d2nn(g: D2NNGeometry, phase: Tensor) -> PeerStack:
    """torchoptics: ``Field.propagate_to_z`` (angular spectrum, ``asm_pad`` zeros per side) and
    ``PhaseModulator`` elements. torchoptics computes its transfer function on every call and in
    float64, so its fields come out complex128 even from a complex64 input."""
    tox = importlib.import_module("torchoptics")
    elements = importlib.import_module("torchoptics.elements")
    n = g.grid
    pad = (g.padded_grid - n) // 2
    z = [g.distance * (k + 1) for k in range(g.layers + 1)]
    masks = [
        elements.PhaseModulator(torch.nn.Parameter(phase[k].clone()), z=z[k], spacing=g.pitch)
        for k in range(g.layers)
    ]
    masks = [m.to(phase.device) for m in masks]

    def stack(field: Tensor) -> Tensor:
        f = tox.Field(field, wavelength=g.wavelength, z=0, spacing=g.pitch).to(field.device)
        for k in range(g.layers + 1):
            f = f.propagate_to_z(z[k], propagation_method="ASM", asm_pad=(pad, pad))
            if k < g.layers:
                f = masks[k](f)
        return f.data

    return stack, [m.phase for m in masks]


def lightridge_d2nn(g: D2NNGeometry, phase: Tensor) -> PeerStack:
    """LightRidge: ``DiffractLayer_Raw`` with its default Fresnel transfer function (the paraxial
    approximation of the angular spectrum), ``pad`` zeros per side and ``amplitude_factor`` 1
    (its default 6 is a training gain); a last layer with ``phase_mod=False`` reaches the
    detectors."""
    layers_mod = importlib.import_module("lightridge.layers")
    pad = (g.padded_grid - g.grid) // 2
    layers = []
    with contextlib.redirect_stdout(io.StringIO()):  # it prints on construction
        for k in range(g.layers + 1):
            layer = layers_mod.DiffractLayer_Raw(
                wavelength=g.wavelength,
                pixel_size=g.pitch,
                size=g.grid,
                pad=pad,
                distance=g.distance,
                amplitude_factor=1,
                phase_mod=k < g.layers,
            )
            if k < g.layers:
                layer.phase.data = phase[k].clone().to(layer.phase.dtype)
            layers.append(layer.to(phase.device))
    net = torch.nn.Sequential(*layers)
    return net, [layer.phase for layer in layers[:-1]]


D2NN_PEERS: dict[str, tuple[str, Callable[[D2NNGeometry, Tensor], PeerStack]]] = {
    "torchoptics": ("torchoptics", torchoptics_d2nn),
    "lightridge": ("lightridge.layers", lightridge_d2nn),
}
