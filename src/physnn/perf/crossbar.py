"""Benchmark cases ``crossbar`` and ``crossbar-pcm``: one hardware-aware training step of an
analog crossbar layer.

Issue 9's acceptance: a 512 × 512 crossbar, batch 128, noisy forward + backward, against IBM
aihwkit's pure-torch inference tile (``TorchInferenceRPUConfig``; Rasch et al., "Hardware-aware
training for large-scale and diverse deep learning inference workloads using in-memory computing-
based accelerators", Nat. Commun. 14, 5282 (2023)) "with comparable noise settings". "full" is
that size, "small" a 64 → 32 layer with batch 16 for tests. Weights are uniform in
[−0.25, 0.25] (g_max units), inputs uniform in [−1, 1], so that the column currents
(std ≈ 1.9) sit well inside the ADC range.

* physnn: what ``noise-aware`` training does per step (:class:`physnn.methods.insilico.NoiseAware`)
  on a :class:`~physnn.substrates.crossbar.system.Crossbar` with one tile covering the layer,
  8-bit DAC on [−1, 1], 8-bit ADC on [−8, 8], no activation: draw the nuisance afresh, then the
  forward pass with the per-read noise drawn inside it (reparameterized, so that it is
  differentiated too). Its noise model is the case's:

  - ``crossbar`` — the same noise model as aihwkit's torch tile: an additive Gaussian error
    N(0, σ_w²) on every weight (:class:`~physnn.substrates.crossbar.gap.WeightNoise`; aihwkit's
    ``ADD_NORMAL`` modifier) and N(0, σ_y²) on every column current before the ADC
    (:class:`~physnn.substrates.crossbar.gap.OutputNoise`; aihwkit's ``out_noise``);
  - ``crossbar-pcm`` — physnn's PCM statistics instead: programming errors of all 2·m·n devices
    (:class:`~physnn.substrates.crossbar.gap.ProgrammingNoise`, scale 1) and the 1/f read noise
    (:class:`~physnn.substrates.crossbar.gap.ReadNoise`, scale 1); no drift (t = 0). aihwkit's torch
    tile cannot express these (its PCM-shaped modifier ``PCM_NOISE`` is not supported there),
    so it runs its Gaussian noise at the same levels: a comparison of a richer model against a
    simpler one, reported for what the PCM model costs.

* aihwkit: ``AnalogLinear`` (bias-free) with ``TorchInferenceRPUConfig`` in training mode: the
  weight modifier draws weight noise, then ``AnalogMVM`` quantizes the inputs, multiplies, adds
  output noise and quantizes the outputs.
* floor: the bare matmul ``x Wᵀ`` of the same shape (forward and backward to W).

In both cases σ_w and σ_y are computed from physnn's PCM model on the case's weights and inputs
(:func:`matched_noise`), so that the noise has the size a PCM chip gives it.

Mapping of the settings (aihwkit field ← physnn):

=====================================  ====================================================
aihwkit (TorchInferenceRPUConfig)      physnn (CrossbarConfig / PCM reality)
=====================================  ====================================================
forward.inp_bound = 1                  input_range = 1 (DAC full scale, inputs clipped)
forward.inp_res = 1/(2⁸ − 2)           input_bits = 8 (255 levels, zero is one)
forward.out_bound = 8                  output_range = 8 (ADC full scale, g_max × 1)
forward.out_res = 1/(2⁸ − 2)           output_bits = 8
noise/bound management NONE            fixed converter ranges (no per-sample rescaling)
mapping: one 512 × 512 tile, no        tile_size = 512, weights W = (G⁺ − G⁻)/g_max as is
weight scaling, no remap, no clip
forward.out_noise = σ_y                OutputNoise(σ_y); σ_y: RMS over the batch of the PCM
                                       read noise σ of each column current,
                                       √(Σᵢ (σ⁺ᵢ² + σ⁻ᵢ²) Vᵢ²), σ = σ_nG
modifier ADD_NORMAL, std_dev = σ_w,    WeightNoise(σ_w); σ_w: RMS of (G⁺_P − G⁻_P)/g_max − W
assumed_wmax = 1 (absolute)            over one draw of the PCM model's σ_P(g_T)
=====================================  ====================================================

The converters are the same, and that is checked on every run: with the noise off, the two
outputs agree to an ADC step and so do the gradients (:func:`crossbar_agreement`). The notes
report both noise levels and the resulting output deviations of the two contenders.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.perf import peers as peer_env
from physnn.perf.timing import Case, Contender, clear_grads, relative_difference
from physnn.reality.base import Reality
from physnn.substrates.crossbar.gap import OutputNoise, ProgrammingNoise, ReadNoise, WeightNoise
from physnn.substrates.crossbar.system import Crossbar, CrossbarConfig
from physnn.systems.base import NoiseSource

SIZES = ("small", "full")
BITS = 8
INPUT_RANGE = 1.0
OUTPUT_RANGE = 8.0
NOISE_MODELS = ("gaussian", "pcm")
# One hardware-aware training step's PCM reality: fresh programming errors, read noise, no drift.
PCM_REALITY = Reality((ProgrammingNoise(1.0), ReadNoise(1.0)), level="custom")


def gaussian_reality(sigma_w: float, sigma_y: float) -> Reality:
    """aihwkit's noise model: additive Gaussian weight and output noise."""
    return Reality((WeightNoise(sigma_w), OutputNoise(sigma_y)), level="custom")


@dataclass(frozen=True)
class CrossbarGeometry:
    inputs: int
    outputs: int
    batch: int
    weight_scale: float = 0.25  # weights uniform in [−weight_scale, weight_scale]

    @classmethod
    def of_size(cls, size: str) -> CrossbarGeometry:
        if size == "full":
            return cls(inputs=512, outputs=512, batch=128)
        return cls(inputs=64, outputs=32, batch=16)

    @property
    def tile(self) -> int:
        """One tile holds the whole layer (aihwkit's default mapping: up to 512 × 512)."""
        return max(self.inputs, self.outputs)


def crossbar_system(g: CrossbarGeometry) -> Crossbar:
    config = CrossbarConfig(
        num_inputs=g.inputs,
        num_outputs=g.outputs,
        tile_size=g.tile,
        input_bits=BITS,
        output_bits=BITS,
        input_range=INPUT_RANGE,
        output_range=OUTPUT_RANGE,
        activation="none",
    )
    return Crossbar(config)


def noisy_step(
    system: Crossbar,
    cpu_generator: torch.Generator,
    noise: NoiseSource,
    reality: Reality = PCM_REALITY,
) -> Callable[[Tensor, Tensor], Tensor]:
    """(x, W) → the outputs of one noise-aware training step: fresh nuisance, noisy forward."""

    def step(x: Tensor, weight: Tensor) -> Tensor:
        nuisance = reality.sample_nuisance(system, cpu_generator)
        return system.forward(x, {"weight": weight}, nuisance, noise)

    return step


def matched_noise(
    system: Crossbar, x: Tensor, weight: Tensor, generator: torch.Generator
) -> tuple[float, float]:
    """(σ_w, σ_y): the RMS weight error of one programming draw and the RMS read-noise σ of the
    column currents, both from physnn's PCM model on these weights and inputs."""
    nuisance = PCM_REALITY.sample_nuisance(system, generator)
    with torch.no_grad():
        pairs = system.conductances(weight, nuisance)
        sigma_w = (pairs.weight(pairs.programmed) - weight).square().mean().sqrt()
        volts = system.encode(x).to(weight)[:, None, :]  # (B, K = 1, n)
        variance = system.read_noise_variance(pairs, nuisance)  # (m, K = 1, n)
        sigma_y = torch.einsum("bkt,mkt->bkm", volts.square(), variance).mean().sqrt()
    return float(sigma_w), float(sigma_y)


def aihwkit_layer(
    g: CrossbarGeometry, weight: Tensor, sigma_w: float, sigma_y: float
) -> torch.nn.Module:
    """aihwkit ``AnalogLinear`` with the torch tile configured as in the module docstring."""
    configs = importlib.import_module("aihwkit.simulator.configs")
    enums = importlib.import_module("aihwkit.simulator.parameters.enums")
    nn = importlib.import_module("aihwkit.nn")
    config = configs.TorchInferenceRPUConfig()
    f = config.forward
    f.inp_bound, f.out_bound = INPUT_RANGE, OUTPUT_RANGE
    f.inp_res = f.out_res = 1 / (2**BITS - 2)
    f.inp_noise, f.out_noise = 0.0, sigma_y
    f.noise_management = enums.NoiseManagementType.NONE
    f.bound_management = enums.BoundManagementType.NONE
    config.mapping.max_input_size = config.mapping.max_output_size = g.tile
    config.mapping.weight_scaling_omega = 0.0
    config.mapping.digital_bias = False
    if sigma_w > 0:
        config.modifier.type = enums.WeightModifierType.ADD_NORMAL
        config.modifier.std_dev = sigma_w
        config.modifier.rel_to_actual_wmax = False
        config.modifier.assumed_wmax = 1.0
    layer = nn.AnalogLinear(g.inputs, g.outputs, bias=False, rpu_config=config)
    layer.set_weights(weight.detach().cpu())
    layer.train()
    return layer.to(weight.device)


def aihwkit_weight(layer: torch.nn.Module) -> Tensor:
    """The tile's weight parameter (the one the training step differentiates)."""
    (tile,) = list(layer.analog_tiles())
    return tile.tile.weight


def crossbar_agreement(system: Crossbar, x: Tensor, weight: Tensor) -> tuple[float, float]:
    """With the noise off: (max |physnn − aihwkit| output difference in ADC steps, relative max
    difference of the gradients of the output sum to the weights)."""
    g = CrossbarGeometry(system.config.num_inputs, system.config.num_outputs, x.shape[0])
    w_physnn = weight.detach().clone().requires_grad_(True)
    y_physnn = system.forward(x, {"weight": w_physnn}, system.nominal_nuisance())
    y_physnn.sum().backward()
    layer = aihwkit_layer(g, weight, 0.0, 0.0)
    y_peer = layer(x)
    y_peer.sum().backward()
    grad_peer = aihwkit_weight(layer).grad
    step = 2 * OUTPUT_RANGE / (2**BITS - 2)
    steps = float((y_physnn - y_peer).detach().abs().max() / step)
    grad_error = relative_difference(grad_peer, w_physnn.grad)
    return steps, grad_error


def crossbar_case(
    size: str = "full", device: torch.device | str = "cpu", seed: int = 0, noise: str = "gaussian"
) -> Case:
    """The case with physnn on the noise model ``noise`` ("gaussian": aihwkit's, "pcm")."""
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")
    g = CrossbarGeometry.of_size(size)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    system = crossbar_system(g).to(device)
    x = (2 * torch.rand(g.batch, g.inputs, generator=gen) - 1).to(device)
    weight0 = (g.weight_scale * (2 * torch.rand(g.outputs, g.inputs, generator=gen) - 1)).to(device)

    sigma_w, sigma_y = matched_noise(system, x, weight0, torch.Generator().manual_seed(seed + 3))
    reality = PCM_REALITY if noise == "pcm" else gaussian_reality(sigma_w, sigma_y)
    read_noise = NoiseSource(torch.Generator(device=device).manual_seed(seed + 1), True)
    step = noisy_step(system, torch.Generator().manual_seed(seed + 2), read_noise, reality)
    weight = weight0.clone().requires_grad_(True)
    physnn = Contender("physnn", lambda: step(x, weight), clear_grads(weight))
    floor_weight = weight0.clone().requires_grad_(True)
    floor = Contender("floor", lambda: x @ floor_weight.T, clear_grads(floor_weight))

    name = "crossbar" if noise == "gaussian" else "crossbar-pcm"
    model = "additive Gaussian (aihwkit's model)" if noise == "gaussian" else "PCM statistics"
    notes = [
        f"{name}: {g.inputs}→{g.outputs}, batch {g.batch}, 8-bit DAC/ADC; physnn noise model: "
        f"{model}; levels from physnn's PCM model: weight σ_w = {sigma_w:.2e} g_max, "
        f"output σ_y = {sigma_y:.2e} (ADC step {2 * OUTPUT_RANGE / (2**BITS - 2):.2e})"
    ]
    contenders = []
    _, missing = peer_env.import_peer("aihwkit.nn")
    if missing:
        notes.append(missing)
    else:
        try:
            contenders.append(_aihwkit_contender(system, g, x, weight0, (sigma_w, sigma_y),
                                                 step, notes))  # fmt: skip
        except Exception as err:  # a peer that breaks here is skipped, not fatal
            notes.append(f"peer aihwkit skipped: {type(err).__name__}: {err}")
    return Case(name, physnn, floor, contenders, notes)


def crossbar_pcm_case(
    size: str = "full", device: torch.device | str = "cpu", seed: int = 0
) -> Case:
    """physnn's PCM statistics against aihwkit's Gaussian noise at the same levels."""
    return crossbar_case(size, device, seed, noise="pcm")


def _aihwkit_contender(
    system: Crossbar,
    g: CrossbarGeometry,
    x: Tensor,
    weight0: Tensor,
    sigmas: tuple[float, float],
    step: Callable[[Tensor, Tensor], Tensor],
    notes: list[str],
) -> Contender:
    steps, grad_error = crossbar_agreement(system, x, weight0)
    notes.append(
        f"crossbar: noise off, aihwkit vs physnn outputs differ by ≤ {steps:.0f} ADC step(s), "
        f"weight gradients by {grad_error:.1e} (relative)"
    )
    layer = aihwkit_layer(g, weight0, *sigmas)
    with torch.no_grad():
        clean = system.forward(x, {"weight": weight0}, system.nominal_nuisance())
        noisy = {"physnn": step(x, weight0), "aihwkit": layer(x)}
    rms = {k: float((v - clean).square().mean().sqrt()) for k, v in noisy.items()}
    notes.append(
        "crossbar: RMS output deviation of one noisy step from the noise-free result, physnn "
        f"{rms['physnn']:.3f}, aihwkit {rms['aihwkit']:.3f}"
    )
    return Contender("aihwkit", lambda: layer(x), clear_grads(aihwkit_weight(layer)))
