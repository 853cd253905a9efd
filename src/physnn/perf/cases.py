"""Benchmark cases: physnn, its peers and the arithmetic floor on one problem.

``d2nn`` — a diffractive network as in Lin et al., Science 361, 1004 (2018): λ = 0.75 mm,
0.4 mm pixels, layers 3 cm apart; "full" is issue 9's acceptance size (N = 200, L = 5, 2×
padding, batch 64, complex64), "small" a seconds-long one for tests and smoke runs.

* physnn: :class:`~physnn.substrates.diffractive.system.DiffractiveNetwork` ``forward`` from
  input images to detector energies (it includes the input encoding, which the others are spared).
* peers: their layer stacks on the encoded input field, then the same detectors.
* floor: the ``torch.fft`` work no D2NN layer can avoid, on the padded grid: per gap
  ``ifft2(fft2(u) · H)`` with the cached transfer function H and per layer the multiply by the
  zero-padded mask exp(iφ) (the zeros outside the aperture do the crop), then |u|² on the
  detector plane.

The case uses the plain angular spectrum (no Matsushima band limit, which costs nothing at run
time) so that physnn, the floor and torchoptics compute the same propagation, and this is checked
on every run (:func:`~physnn.perf.timing.relative_difference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.perf import peers as peer_stacks
from physnn.perf.crossbar import crossbar_case, crossbar_pcm_case
from physnn.perf.oscillators import oscillators_case
from physnn.perf.reservoir import reservoir_case
from physnn.perf.timing import Case, Contender, clear_grads, relative_difference
from physnn.perf.wave import wave_case
from physnn.physics import optics
from physnn.substrates.diffractive.system import DiffractiveConfig, DiffractiveNetwork

SIZES = ("small", "full")


@dataclass(frozen=True)
class D2NNGeometry:
    grid: int
    layers: int
    batch: int
    padding: float = 2.0
    pitch: float = 400e-6
    wavelength: float = 750e-6
    distance: float = 0.03

    @property
    def padded_grid(self) -> int:
        return max(self.grid, round(self.padding * self.grid))

    @classmethod
    def of_size(cls, size: str) -> D2NNGeometry:
        if size == "full":
            return cls(grid=200, layers=5, batch=64)
        return cls(grid=32, layers=3, batch=8)


def d2nn_system(g: D2NNGeometry) -> DiffractiveNetwork:
    config = DiffractiveConfig(
        grid=g.grid,
        pitch=g.pitch,
        wavelength=g.wavelength,
        num_layers=g.layers,
        layer_distance=g.distance,
        padding=g.padding,
        band_limit=False,
    )
    return DiffractiveNetwork(config)


def d2nn_floor(g: D2NNGeometry, phase: Tensor) -> Callable[[Tensor], Tensor]:
    """Field (B, N, N) → intensity on the detector plane with nothing but the unavoidable ops."""
    n, n_pad = g.grid, g.padded_grid
    before = (n_pad - n) // 2
    pads = (before, n_pad - n - before) * 2
    h = [
        optics.transfer_function(
            n_pad, g.pitch, g.wavelength, g.distance, band_limit=False, device=phase.device
        )
        for _ in range(g.layers + 1)
    ]

    def floor(field: Tensor) -> Tensor:
        masks = F.pad(torch.polar(torch.ones_like(phase), phase), pads)
        u = F.pad(field, pads)
        for k in range(g.layers + 1):
            u = torch.fft.ifft2(torch.fft.fft2(u) * h[k])
            if k < g.layers:
                u = u * masks[k]
        u = u[..., before : before + n, before : before + n]
        return u.real.square() + u.imag.square()

    return floor


def d2nn_case(size: str = "full", device: torch.device | str = "cpu", seed: int = 0) -> Case:
    g = D2NNGeometry.of_size(size)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    system = d2nn_system(g).to(device)
    nuisance = system.nominal_nuisance()
    side = g.grid // 2
    x = torch.rand(g.batch, side, side, generator=gen).to(device)
    phase0 = (2 * torch.pi * torch.rand(g.layers, g.grid, g.grid, generator=gen)).to(device)
    masks = system.detector_masks
    with torch.no_grad():
        field = system.encode(x).to(device)

    def detect(out: Tensor) -> Tensor:
        return optics.detect(optics.intensity(out), masks.to(out.real.dtype))

    phase = phase0.clone().requires_grad_(True)

    physnn = Contender(
        "physnn", lambda: system.forward(x, {"phase": phase}, nuisance), clear_grads(phase)
    )
    floor_phase = phase0.clone().requires_grad_(True)
    floor_fn = d2nn_floor(g, floor_phase)
    floor = Contender("floor", lambda: floor_fn(field), clear_grads(floor_phase))

    notes: list[str] = []
    with torch.no_grad():
        reference = system.forward(x, {"phase": phase0}, nuisance)
        floored = optics.detect(floor_fn(field).to(reference.dtype), masks)
        error = relative_difference(reference, floored)
    notes.append(f"d2nn: floor vs physnn detector energies agree to {error:.1e} (relative)")
    contenders = []
    for name, (module, build) in peer_stacks.D2NN_PEERS.items():
        _, missing = peer_stacks.import_peer(module)
        if missing:
            notes.append(missing)
            continue
        try:
            stack, params = build(g, phase0)
            with torch.no_grad():
                error = relative_difference(reference, detect(stack(field)))
        except Exception as err:  # a peer that breaks on this geometry is skipped, not fatal
            notes.append(f"peer {name} skipped: {type(err).__name__}: {err}")
            continue
        notes.append(f"d2nn: {name} vs physnn detector energies differ by {error:.1e} (relative)")
        contenders.append(Contender(name, lambda s=stack: detect(s(field)), clear_grads(*params)))
    return Case("d2nn", physnn, floor, contenders, notes)


CASES: dict[str, Callable[..., Case]] = {
    "d2nn": d2nn_case,
    "crossbar": crossbar_case,
    "crossbar-pcm": crossbar_pcm_case,
    "wave": wave_case,
    "oscillators": oscillators_case,
    "reservoir": reservoir_case,
}
