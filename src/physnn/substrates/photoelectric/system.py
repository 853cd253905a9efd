"""Photoelectric (homodyne) optical MLP — Hamerly et al., PRX 9, 021032 (2019).

Each layer is an optical matrix-vector multiplier: the activations x (N values) and the weight
row W_i of every output neuron are encoded in coherent optical amplitudes; a balanced homodyne
detector per output integrates the charge of their product over the N time slots, so its
calibrated reading is the dot product (W x)_i (:mod:`physnn.physics.photoelectric`). The readings
are amplified, digitized, passed through an electronic nonlinearity and re-encoded as the next
layer's input:

    y^(l) = ADC( (W^(l) x^(l) + noise) / √N_l ),        x^(l+1) = ReLU(y^(l)),

where N_l is the layer's input count: the gain 1/√N keeps readings of order one whatever the
layer size (a sum of N terms of random sign grows as √N). The ADC clips to ±``adc_full_scale``.
The output is the last layer's homodyne reading, one per class (``output_kind`` "real": a
digital Linear readout follows).

Noise is internal: every homodyne reading has shot noise set by the photon budget n per MAC,

    Var[y_i] = ‖x‖² ‖W_i‖² / (N² n η) · (1 + r² / (N n η)),

(η detection efficiency, r read noise in electrons; the standard quantum limit of Hamerly et al.
2019). The device draws it exactly (two Poisson counts per output) from its ``NoiseSource``;
noise-aware training uses the reparameterized Gaussian; the twin (``noise=None``) sees the mean.
``photons_per_mac`` None means a noiseless design.

Single-photon neurons (``neuron="single-photon"``; Ma et al., Nat. Commun. 16, 359 (2025)): a
hidden neuron is a single-photon detector behind a coherent N-to-1 combiner. With ν photons per
MAC at full scale, it receives λ_i = ν η (W x)_i² / N = ν η y_i² photons on average (the
combiner passes |Σ_j a_j|² / N of N coherent beams of ν W_ij² x_j² photons each), and it clicks
with P = 1 − exp(−λ_i): the activation is the click (0/1) on the device, P for the twin, and a
straight-through sample with the gradient of P for noise-aware (physics-aware stochastic)
training. The last layer stays homodyne, as in Ma et al., whose output layer is not
photon-starved.

Nuisance (design values in :meth:`PhotoelectricMLP.nominal_nuisance`): photon budget, read
noise, detection efficiency, the modulators' sinusoidal response and per-weight gain/offset
errors, crosstalk between neighbouring output channels, the imbalance of each balanced detector
pair (finite common-mode rejection: a bias ε_i ‖x‖ ‖W_i‖ / 2), ADC bits. Chen et al., Nat.
Photon. 17, 723 (2023) implement the same scheme with coherent VCSEL arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.physics import photoelectric as pe
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import as_vector

NEURONS = ("relu", "single-photon")


@dataclass(frozen=True)
class PhotoelectricConfig:
    """Layer sizes, neuron type and photon budgets (photons per multiply-accumulate)."""

    input_size: int = 64  # N of the first layer; samples are resampled to it (as_vector)
    hidden_sizes: tuple[int, ...] = (32,)
    num_classes: int = 10  # outputs of the last optical layer
    neuron: str = "relu"  # "relu" (electronic) or "single-photon" (stochastic detector)
    photons_per_mac: float | None = None  # design photon budget of homodyne layers; None: noiseless
    spd_photons_per_mac: float = 1.0  # ν of single-photon neurons (photons per MAC at full scale)
    adc_full_scale: float = 4.0  # the readout ADC spans ±adc_full_scale (in reading units)

    def __post_init__(self) -> None:
        if not isinstance(self.hidden_sizes, list | tuple):
            raise ValueError(
                f"hidden_sizes must be a list of layer sizes, got {self.hidden_sizes!r}"
            )
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        for name, value in (("input_size", self.input_size), ("num_classes", self.num_classes)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        for size in self.hidden_sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"hidden_sizes must be positive integers, got {self.hidden_sizes}")
        if self.neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {', '.join(NEURONS)}, got {self.neuron!r}")
        if self.photons_per_mac is not None and not self.photons_per_mac > 0:
            raise ValueError(
                f"photons_per_mac must be positive or None, got {self.photons_per_mac}"
            )
        if not self.adc_full_scale > 0:
            raise ValueError(f"adc_full_scale must be positive, got {self.adc_full_scale}")
        if not self.spd_photons_per_mac > 0:
            raise ValueError(
                f"spd_photons_per_mac must be positive, got {self.spd_photons_per_mac}"
            )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.input_size, *self.hidden_sizes, self.num_classes)


class PhotoelectricMLP(System):
    """Multi-layer homodyne optical MLP with shot noise inside every layer."""

    name = "photoelectric"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # electronic ReLU / single-photon detection between the layers
        reciprocal=True,  # Wᵀ δ in the same hardware by swapping input and weight (Hamerly §V)
        gradient_procedures=("adjoint",),  # Wᵀ δ and δ xᵀ read by the homodyne detectors
        intermediate_measurements=True,  # every layer's homodyne charge is read out
        description="homodyne photoelectric MLP at the shot-noise limit (Hamerly et al. 2019)",
    )
    config_class = PhotoelectricConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 64-32-10 on the 8×8 digits: a 15-epoch training takes seconds on 2 CPU cores.
        "default": {},
        # Hamerly et al. 2019, Fig. 4: the fully connected MNIST network 784-100-100-10 with ReLU,
        # run at 1 photon per MAC, where its accuracy starts to drop (their standard quantum
        # limit). Full size: it trains on a CPU.
        "hamerly2019": {"input_size": 784, "hidden_sizes": (100, 100), "photons_per_mac": 1.0},
        # Ma et al. 2025: 784-400-10 with a single-photon-detector hidden layer and a readout
        # layer that is not photon-starved (here 10 photons per MAC).
        "ma2025": {
            "input_size": 784,
            "hidden_sizes": (400,),
            "neuron": "single-photon",
            "spd_photons_per_mac": 1.0,
            "photons_per_mac": 10.0,
        },
    }

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        sizes = self.config.layer_sizes
        return {
            f"weight_{layer}": ControlSpec((fan_out, fan_in), -1.0, 1.0, unit="field amplitude")
            for layer, (fan_in, fan_out) in enumerate(pairwise(sizes))
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "photons_per_mac": self.config.photons_per_mac,  # homodyne budget; None: noiseless
            "read_noise": 0.0,  # integrator read noise, electrons rms per reading
            "detection_efficiency": 1.0,  # η: fraction of the photons detected
            "modulator_drive": 0.0,  # β of the sin(βW)/β modulator response, rad (0: linear)
            "weight_gain_error": None,  # relative gain error of every weight, flat
            "weight_offset_error": None,  # additive offset of every weight, flat
            "crosstalk": 0.0,  # amplitude coupling between neighbouring output channels
            "detector_imbalance": None,  # ε of every balanced pair (all layers' outputs), flat
            "adc_bits": None,  # bits of the readout ADC (None: continuous)
        }

    @property
    def num_outputs(self) -> int:
        return self.config.num_classes

    # ----------------------------------------------------------------------------- physics
    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        weights = self.realized_weights(controls, nuisance)
        imbalances = _split(nuisance.get("detector_imbalance"), self.config.layer_sizes[1:])
        h = as_vector(x, self.config.input_size).to(weights[-1])
        for weight, imbalance in zip(weights[:-1], imbalances[:-1], strict=True):
            if self.config.neuron == "single-photon":
                h = self.single_photon_layer(h, weight, nuisance, noise)
            else:
                h = torch.relu(self.homodyne_layer(h, weight, imbalance, nuisance, noise))
        return self.homodyne_layer(h, weights[-1], imbalances[-1], nuisance, noise)

    def realized_weights(self, controls: Controls, nuisance: Nuisance) -> list[Tensor]:
        """Weight amplitudes as the modulators realize them, with crosstalk: one per layer."""
        names = list(self.control_specs())
        sizes = [controls[name].numel() for name in names]
        gains = _split(nuisance.get("weight_gain_error"), sizes)
        offsets = _split(nuisance.get("weight_offset_error"), sizes)
        coupling = nuisance.get("crosstalk", 0.0)
        out = []
        for name, gain, offset in zip(names, gains, offsets, strict=True):
            weight = controls[name]
            shape = weight.shape
            weight = pe.encode_weights(
                weight,
                nuisance.get("modulator_drive", 0.0),
                None if gain is None else gain.reshape(shape).to(weight),
                None if offset is None else offset.reshape(shape).to(weight),
            )
            if torch.is_tensor(coupling) or coupling:
                weight = pe.neighbour_crosstalk(weight, coupling)
            out.append(weight)
        return out

    def homodyne_layer(
        self,
        x: Tensor,
        weight: Tensor,
        imbalance: Tensor | None,
        nuisance: Nuisance,
        noise: NoiseSource | None,
    ) -> Tensor:
        """Amplified, digitized homodyne readings (W x + shot/read noise) / √N: (B, M)."""
        photons = self.photon_budget(nuisance, noise)
        if imbalance is not None:
            imbalance = imbalance.to(x)
        if noise is None or photons is None:
            y = pe.homodyne_mean(x, weight, imbalance)
        else:
            y = pe.homodyne_dot(
                x,
                weight,
                photons,
                nuisance.get("read_noise", 0.0),
                noise.generator,
                imbalance=imbalance,
                differentiable=noise.differentiable,
            )
        y = y / x.shape[-1] ** 0.5
        bits = nuisance.get("adc_bits")
        return y if bits is None else pe.adc(y, int(bits), self.config.adc_full_scale)

    def photon_budget(self, nuisance: Nuisance, noise: NoiseSource | None) -> float | Tensor | None:
        """Detected photons per MAC of a homodyne reading (n η); None for a noiseless one."""
        photons = nuisance.get("photons_per_mac")
        if noise is None or photons is None or not (torch.is_tensor(photons) or photons > 0):
            return None
        return photons * nuisance.get("detection_efficiency", 1.0)

    def single_photon_layer(
        self, x: Tensor, weight: Tensor, nuisance: Nuisance, noise: NoiseSource | None
    ) -> Tensor:
        """Clicks of single-photon neurons (device), or their probabilities (twin): (B, M)."""
        y = pe.homodyne_mean(x, weight) / x.shape[-1] ** 0.5
        efficiency = nuisance.get("detection_efficiency", 1.0)
        mean_photons = self.config.spd_photons_per_mac * efficiency * y.square()
        if noise is None:
            return pe.click_probability(mean_photons)
        return pe.single_photon_click(
            mean_photons, noise.generator, differentiable=noise.differentiable
        )

    # ----------------------------------------------------------------------------- in situ
    def check_procedure(self, procedure: str) -> None:
        super().check_procedure(procedure)
        if self.config.neuron == "single-photon":
            raise ConfigError(
                "the adjoint procedure backpropagates through the homodyne readings of every "
                "layer, and single-photon neurons report clicks instead: set neuron='relu'"
            )

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """Backpropagation in the same hardware (Hamerly et al., PRX 9, 021032 (2019), Sec. V).

        From the last layer, with δ = ∂L/∂y at the layer's readings y = ADC(W x / √N): δ is
        zeroed where the reading sits at the ADC's full scale (clipped), scaled by the gain
        1/√N, the weight gradient δ xᵀ summed over the batch is read as an optical outer
        product, and the error of the layer below, Wᵀ δ, by the same detectors with the
        encodings of error and weights swapped, times the ReLU derivative of the *measured*
        readings (:func:`~physnn.physics.photoelectric.backpropagated_error`,
        :func:`~physnn.physics.photoelectric.weight_gradient`). Every product has the shot
        noise of the photon budget n η (and the read noise): unbiased, exact without a budget.

        Passes per sample: the forward pass (every layer's readings), L − 1 transposed products
        and L outer products (one time slot each): 2 L. The readings are gradients with respect
        to the realized weight amplitudes: the modulators' sinusoidal response and gain errors,
        and the channel crosstalk, are not undone; the detector imbalance of the forward pass
        is not in the backward readings; offsets are exact. The ADC's rounding passes δ
        unchanged (as the twin's straight-through estimator does).
        """
        self.check_procedure(procedure)
        weights = self.realized_weights(controls, nuisance)
        inputs, readings = self._forward_readings(x, weights, nuisance, noise)
        photons, read_noise = self.photon_budget(nuisance, noise), nuisance.get("read_noise", 0.0)
        generator = None if noise is None else noise.generator
        names, grads = list(self.control_specs()), {}
        delta = output_gradient.to(readings[-1])
        for layer in reversed(range(len(weights))):
            gain = inputs[layer].shape[-1] ** -0.5
            delta = delta * self._adc_slope(readings[layer], nuisance) * gain
            grads[names[layer]] = pe.weight_gradient(
                delta, inputs[layer], photons, read_noise, generator
            )
            if layer > 0:
                error = pe.backpropagated_error(
                    delta, weights[layer], photons, read_noise, generator
                )
                delta = error * (readings[layer - 1] > 0)
        return readings[-1], grads, 2 * len(weights)

    def _forward_readings(
        self, x: Tensor, weights: list[Tensor], nuisance: Nuisance, noise: NoiseSource | None
    ) -> tuple[list[Tensor], list[Tensor]]:
        """The forward pass of ReLU layers: every layer's input and homodyne readings."""
        imbalances = _split(nuisance.get("detector_imbalance"), self.config.layer_sizes[1:])
        h = as_vector(x, self.config.input_size).to(weights[-1])
        inputs, readings = [], []
        for weight, imbalance in zip(weights, imbalances, strict=True):
            if readings:
                h = torch.relu(readings[-1])
            inputs.append(h)
            readings.append(self.homodyne_layer(h, weight, imbalance, nuisance, noise))
        return inputs, readings

    def _adc_slope(self, readings: Tensor, nuisance: Nuisance) -> Tensor | float:
        """1 where the ADC passes a change of the reading, 0 where it clips (a reading at full
        scale): what the procedure knows from the readings alone."""
        if nuisance.get("adc_bits") is None:
            return 1.0
        return (readings.abs() < self.config.adc_full_scale).to(readings.dtype)


def _split(flat: Tensor | None, sizes: Sequence[int]) -> list[Tensor | None]:
    """A flat per-weight or per-output nuisance tensor → one piece per layer (None: absent)."""
    if flat is None:
        return [None] * len(sizes)
    if flat.numel() != sum(sizes):
        raise ValueError(f"per-weight nuisance has {flat.numel()} values, expected {sum(sizes)}")
    return list(torch.split(flat.reshape(-1), sizes))
