"""What setup builds for a method besides the model: the optical DFA projector, the assumed noise
models of noise-aware training, and the oracle for diagnostics (:class:`Auxiliaries`).

Method modules know only the device contract and the model; whatever needs a substrate, a reality
gap or a simulated device's hidden physics is built here and handed over explicitly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from physnn.hardware.device import Device
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods.base import Auxiliaries, Projector
from physnn.nets.pnn import PhysicalBlock
from physnn.reality import Reality, make_reality
from physnn.seeds import derived_seed
from physnn.systems import SYSTEMS, System

CAMERA_FULL_SCALE = 12.0
"""Projector camera saturation, in units of the mean speckle intensity of a fully lit input.

Speckle intensities are exponentially distributed and no shot has a mean above 1, so at most
e⁻¹² ≈ 6e-6 of the readings clip (a clipped pixel breaks the differential measurement); the
price is an ADC step of 12/(2^bits − 1)."""


def camera_reality(system: System, gap: str) -> Reality:
    """The projector's camera shot/read noise and ADC quantization at a gap level.

    The static perturbations of the scattering gap (medium drift, SLM phase errors) are left out:
    they only replace one fixed random matrix by another, which DFA does not need to know.
    """
    if gap == "none":
        return Reality((), level="none")
    return make_reality(system, gap, {"decorrelation": 0.0, "slm_phase_error": 0.0})


class ScatteringProjector:
    """``B e`` measured by an optical random projection (the ``scattering`` substrate), for the
    optical direct feedback alignment (``dfa`` with ``projector="scattering"``).

    The OPU has 2C SLM macropixels (C = number of classes): C carry the signal amplitudes
    ``u ∈ [0, 1]^C``, C are a constant reference of amplitude 1 whose phase the SLM sets to 0 or
    π; the camera has one pixel per feedback unit. With the medium ``B = [B_s B_r]`` and the
    reference field ``ρ = B_r 1``, the two shots differ by

        |B_s u + ρ|² − |B_s u − ρ|² = 4 Re(conj(ρ) ⊙ B_s u) = 4 M u,

    a linear projection by the fixed random real matrix ``M = Re(diag(conj ρ) B_s)`` (the
    in-phase half of :func:`physnn.physics.scattering.holographic_projection`). A signed error
    row e is sent as ``u = (1 + e/s)/2`` with ``s = max|e|``; one more input, ``u = 1``, measured
    in the same two shots, removes the offset: ``M e = s (2 M u − M 1)``. A batch of N errors
    costs 2(N + 1) queries and at most one phase write; camera noise and quantization act on
    every shot.
    """

    def __init__(
        self, num_classes: int, width: int, gap: str, seed: int, torch_device: torch.device
    ) -> None:
        system = SYSTEMS["scattering"].from_preset(
            "default",
            num_inputs=2 * num_classes,
            num_pixels=width,
            medium_seed=derived_seed(seed, "dfa-medium"),
            camera_full_scale=CAMERA_FULL_SCALE,
        )
        self.num_classes = num_classes
        self.device = SimulatedDevice(
            system,
            camera_reality(system, gap),
            derived_seed(seed, "dfa-projector"),
            torch_device=torch_device,
        )
        spec = self.device.specs["phase"]
        signal = torch.zeros(num_classes, device=torch_device)
        self.reference_phase = {
            sign: spec.project(torch.cat([signal, signal + (0.0 if sign > 0 else math.pi)]))
            for sign in (1, -1)
        }

    def project(self, error: Tensor) -> Tensor:
        """``M e`` for every row of ``error`` (N, C) → (N, width)."""
        scale = error.abs().amax(dim=1, keepdim=True)
        shifted = (1 + error / scale.clamp_min(torch.finfo(error.dtype).tiny)) / 2
        signal = torch.cat([shifted, torch.ones_like(shifted[:1])])
        fringes = self.interfere(signal) / 4
        return scale * (2 * fringes[:-1] - fringes[-1:])

    def interfere(self, signal: Tensor) -> Tensor:
        """``|B_s u + ρ|² − |B_s u − ρ|²`` for every row u of ``signal``, from two shots each."""
        amplitudes = torch.cat([signal, torch.ones_like(signal)], dim=1)
        current = self.device.read_controls()["phase"]
        # Start with the reference phase the SLM already holds: one write per batch, not two.
        signs = (-1, 1) if torch.equal(current, self.reference_phase[-1]) else (1, -1)
        shots = {}
        for sign in signs:
            self.device.write({"phase": self.reference_phase[sign]})
            shots[sign] = self.device.query(amplitudes)
        return (shots[1] - shots[-1]).to(signal.dtype)


def oracle(block: PhysicalBlock, x: Tensor) -> Tensor:
    """The oracle executor: the block's output from its simulated device's hidden true physics,
    noise-free and differentiable at the realized controls (diagnostics only; no query counted)."""
    device = block.require_device()
    assert isinstance(device, SimulatedDevice)
    return device.oracle_forward(x, block.realized_controls())


def build_auxiliaries(device: Device, seed: int, torch_device: torch.device) -> Auxiliaries:
    """Everything a method may be handed for a run of ``seed`` on ``torch_device`` whose
    physical blocks run on ``device``: the projector factory (the projector's medium and camera
    noise are derived from ``seed``), the noise models, and the oracle when ``device`` is
    simulated (a device server, a lab instrument or a record hides its physics)."""

    def make_projector(signals: int, width: int, gap: str) -> Projector:
        return ScatteringProjector(signals, width, gap, seed, torch_device)

    simulated = isinstance(device, SimulatedDevice)
    return Auxiliaries(
        make_projector=make_projector,
        noise_model=make_reality,
        oracle=oracle if simulated else None,
    )
