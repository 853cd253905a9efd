"""Physical gradient procedures of MZI meshes: in-situ backpropagation and fully forward mode.

For outputs z = A · w(φ) and a phase shifter that multiplies the field w at one point by e^{iφ},
dL/dφ = Re(i · w · E_a) with the error field E_a = A_postᵀ ḡ at that point
(:mod:`physnn.physics.adjoint`). The procedures differ in how E_a is produced and read:

* ``"adjoint"`` (Hughes, Minkov, Shi & Fan, Optica 5, 864 (2018); Pai et al., Science 380, 398
  (2023)): ḡ is sent *backwards* through the mesh itself (reciprocity gives Aᵀ); the product is
  read from three intensity measurements at the monitors, with the phase conjugate of the adjoint
  field sent forwards alone and together with the input.
* ``"adjoint-pump-probe"``: the same, the error kept optical through the saturable absorbers
  between layers (Guo, Barrett, Wang & Lvovsky, Photon. Res. 9, B71 (2021)).
* ``"ffm"`` (fully forward mode, Xue et al., Nature 632, 280 (2024)): ḡ is sent *forwards*
  through the mirror image of the mesh, a second mesh laid out with the columns, and the elements
  of every MZI, in reverse order (Tᵀ = √η diag(e^{iφ}, 1) B(ε₁) diag(e^{iθ}, 1) B(ε₂)) and
  programmed with the same phases, whose transfer matrix is Uᵀ; the forward and error fields
  are measured holographically at every phase shifter. It equals the adjoint when the mirror's
  couplers are the original's; a separately fabricated copy has couplers of its own (nuisance
  ``mirror_coupler_error``, drawn by the reality gap with the original's σ), and the reading
  becomes approximate.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.physics import adjoint, mesh
from physnn.systems.base import Controls, NoiseSource, Nuisance

Monitors = tuple[float, torch.Generator | None]


class MeshInSitu:
    """The in-situ procedures of :class:`physnn.substrates.mzi.system.MZIMesh` (a mixin)."""

    def check_procedure(self, procedure: str) -> None:
        super().check_procedure(procedure)  # type: ignore[misc]
        if self.config.architecture != "unitary":
            raise ConfigError(
                "the in-situ gradient procedures need unitary MZI layers (the attenuators of "
                "'svd' layers have no interference readout); set architecture='unitary'"
            )
        if procedure == "adjoint-pump-probe" and self.config.nonlinearity != "saturable-absorber":
            raise ConfigError(
                "the pump-probe approximation (Guo et al. 2021) sends the error back through "
                f"saturable absorbers; this mesh's nonlinearity is {self.config.nonlinearity!r}: "
                "set -S nonlinearity=saturable-absorber, or use the plain adjoint"
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
        """dL/dφ = Re(i · w · E_a) at every phase shifter (see the module docstring).

        Passes per sample: one forward pass (photodiodes and the monitors at every phase
        shifter); one coherent (homodyne) measurement of the output field and of the fields
        between layers, unless the outputs are homodyne already and there is one layer; then per
        layer, from the last, the error passes: three for ``"adjoint"`` (the adjoint pass, its
        phase conjugate alone and with the forward light), one for ``"ffm"`` (the error through
        the mirrored mesh, its fields imaged holographically). Activations between layers are
        differentiated digitally at the measured fields (``"adjoint-pump-probe"``: by the
        absorbers' pumped transmission, and no coherent measurement between layers; fully
        forward mode cannot do that, since the mirror's absorbers are not pumped by the forward
        light). The readings are gradients with respect to the *real* phases: heater gain
        errors and crosstalk are unknown to the procedures and not undone; insertion loss scales
        each adjoint reading by the transmission up to its shifter.
        """
        self.check_procedure(procedure)
        c, pump_probe = self.config, procedure == "adjoint-pump-probe"
        meshes = self._mesh_physics(controls, nuisance)
        field, forward, outputs = self._trace_layers(x, meshes)
        ports = field[:, : c.detected_modes]
        measured = (
            torch.cat([ports.real, ports.imag], -1)
            if c.detection == "homodyne"
            else ports.abs() ** 2
        )
        g = torch.zeros_like(field)
        g[:, : c.detected_modes] = adjoint.output_cotangent(ports, output_gradient, c.detection)
        monitors = (
            float(nuisance.get("monitor_noise", 0.0)),
            None if noise is None else noise.generator,
        )
        coherent = int(c.detection == "intensity" or (c.num_layers > 1 and not pump_probe))
        if procedure == "ffm":
            mirrors = self._mirrors(meshes, nuisance)
            grads = self._ffm_passes(mirrors, forward, outputs, g, monitors)
            return measured, grads, 1 + coherent + c.num_layers
        grads = self._adjoint_passes(meshes, forward, outputs, g, monitors, pump_probe)
        return measured, grads, 1 + coherent + 3 * c.num_layers

    def _trace_layers(
        self, x: Tensor, meshes: list[adjoint.MeshPhysics]
    ) -> tuple[Tensor, list[adjoint.MeshFields], list[Tensor]]:
        """The forward pass: the output field, each mesh's fields after its phase shifters (the
        monitors) and each layer's output field before the activation."""
        field = self.encode(x.to(meshes[0].theta.device)).to(_complex(meshes[0].theta.dtype))
        forward, outputs = [], []
        for layer, physics in enumerate(meshes):
            field, fields = adjoint.trace_mesh(field, physics)
            forward.append(fields)
            outputs.append(field)
            if layer < self.config.num_layers - 1:
                field = self.activation(field)
        return field, forward, outputs

    def _adjoint_passes(
        self,
        meshes: list[adjoint.MeshPhysics],
        forward: list[adjoint.MeshFields],
        outputs: list[Tensor],
        g: Tensor,
        monitors: Monitors,
        pump_probe: bool,
    ) -> Controls:
        """The phase gradients of every layer, from the last, by its adjoint pass and phase
        conjugate from the output cotangent ``g``; the monitors read with relative noise from
        the generator of ``monitors``. Returns each control stacked over layers, (L, 1, …)."""
        grads: list[dict[str, Tensor]] = []
        for layer in reversed(range(self.config.num_layers)):
            leaving = adjoint.trace_mesh_transpose(1j * g.conj(), meshes[layer])
            _, reversed_fields = adjoint.trace_mesh(leaving.conj(), meshes[layer])
            grads.append(adjoint.mesh_phase_gradients(forward[layer], reversed_fields, *monitors))
            g = (-1j * leaving).conj()  # ∂L/∂Re + i ∂L/∂Im at the layer's inputs: M^H g
            if layer > 0 and pump_probe:
                g = self.probe_transmission(outputs[layer - 1]) * g
            elif layer > 0:
                g = self._activation_cotangent(outputs[layer - 1], g)
        return _stacked(grads)

    def _ffm_passes(
        self,
        mirrors: list[adjoint.MeshPhysics],
        forward: list[adjoint.MeshFields],
        outputs: list[Tensor],
        g: Tensor,
        monitors: Monitors,
    ) -> Controls:
        """Fully forward mode, from the last layer: the error ḡ sent forwards through the
        layer's mirrored mesh, the fields at its phase shifters multiplied with the forward
        monitors' fields; the error leaving the mirror, conjugated, is the cotangent at the
        layer's inputs (exact for an exact mirror), carried through the activation digitally."""
        grads: list[dict[str, Tensor]] = []
        for layer in reversed(range(self.config.num_layers)):
            leaving, error = adjoint.trace_mirror(g.conj(), mirrors[layer])
            grads.append(adjoint.mesh_field_gradients(forward[layer], error, *monitors))
            g = leaving.conj()
            if layer > 0:
                g = self._activation_cotangent(outputs[layer - 1], g)
        return _stacked(grads)

    def _mesh_physics(self, controls: Controls, nuisance: Nuisance) -> list[adjoint.MeshPhysics]:
        """The real phases, coupler errors and MZI transmissions of each layer's mesh."""
        m, shape = self.layout.num_mzis, self.control_specs()["theta"].shape
        phase = self.heater_phases(controls, nuisance)
        errors = nuisance.get("coupler_error")
        if errors is None:
            errors = torch.zeros((*shape, 2), dtype=phase.dtype, device=phase.device)
        loss = torch.as_tensor(nuisance.get("mzi_loss_db", 0.0), dtype=phase.dtype)
        transmission = mesh.db_to_amplitude(loss.to(phase.device)).expand(shape)
        return [
            adjoint.MeshPhysics(
                self.layout,
                phase[layer, 0, :m],
                phase[layer, 0, m : 2 * m],
                phase[layer, 0, 2 * m :],
                errors[layer, 0].to(phase),
                transmission[layer, 0],
            )
            for layer in range(self.config.num_layers)
        ]

    def _mirrors(
        self, meshes: list[adjoint.MeshPhysics], nuisance: Nuisance
    ) -> list[adjoint.MeshPhysics]:
        """The mirrored copies: the same real phases and losses, the mirror's own couplers
        (``mirror_coupler_error``; None: the original's, a perfect mirror image)."""
        errors = nuisance.get("mirror_coupler_error")
        if errors is None:
            return meshes
        return [
            dataclasses.replace(physics, coupler_error=errors[layer, 0].to(physics.theta))
            for layer, physics in enumerate(meshes)
        ]

    def _activation_cotangent(self, field: Tensor, cotangent: Tensor) -> Tensor:
        """Digital back-propagation of g through the activation at the measured field."""
        with torch.enable_grad():
            field = field.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.activation(field), field, cotangent)
        return grad


def _stacked(grads: list[dict[str, Tensor]]) -> Controls:
    """Per-layer gradients collected from the last layer → each control stacked, (L, 1, …)."""
    grads = grads[::-1]
    return {name: torch.stack([grad[name] for grad in grads])[:, None] for name in grads[0]}


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64
