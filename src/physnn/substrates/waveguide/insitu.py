"""Physical gradient procedures of the programmable waveguide: adjoint and fully forward mode.

The paraxial slab (Onodera et al., arXiv:2402.17750 (2024)) is linear and reciprocal, and its
split-step propagator A has the transpose Aᵀ = the same propagation through the index rows in
reverse order (:mod:`physnn.physics.adjoint_bpm`). From the output field z, measured
holographically, the error source is ḡ = 2 (Σ_c (∂L/∂y_c) W_c(x)) z̄(x) (the detector windows
W_c), launched by a coherent field shaper at the output edge; then

* ``"adjoint"``: ḡ travels *backwards* through the same programmed index (reciprocity), exact;
* ``"ffm"`` (fully forward mode, Xue et al., Nature 632, 280 (2024)): the slab is not
  mirror-symmetric along z, but it is programmable: the pattern mirrored along z is written
  (pixel rows in reverse order) and ḡ is launched *forwards* from the input edge. Exact when
  the written index of the mirrored command is the mirror image of the written index, which
  the writing law keeps (the global scale, the saturating response and the symmetric blur act
  on each pixel or symmetrically) but the static writing error ε(x, z) does not: it stays where
  it is on the chip. Each pass costs two rewrites of the pattern (mirror, restore).

The field in every simulation cell is imaged holographically for both passes (an assumption
of this model: light scattered out of the slab imaged from above against a reference), and

    dL/dΔn(x, z) = Re(i k₀ dz N E_f E_a)

at the grid. The chain to the controls goes through the *nominal* writing law, which is what a
lab knows (Δn = Δn_cmd · 10⁻³ per pixel, upsampled onto the grid): exact at gap ``none``; with
the gap drawn, the true chain differs by the scale s and the response's slope g_a'(u) > 0 per
pixel (a positive factor, never a sign flip) and by the blur, which the reading does not undo.
"""

from __future__ import annotations

import torch
from torch import Tensor

from physnn.physics import adjoint, adjoint_bpm, bpm
from physnn.systems.base import Controls, NoiseSource, Nuisance


class WaveguideInSitu:
    """The in-situ procedures of :class:`~physnn.substrates.waveguide.system.
    ProgrammableWaveguide` (a mixin)."""

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """The detector powers and dL/dΔn_cmd of every programmable pixel (see the module
        docstring). Two passes per sample: the forward pass (detectors, the output field and
        the field in the slab imaged holographically) and the error pass."""
        self.check_procedure(procedure)
        index = self._complex_index(controls, nuisance)
        field = self.encode(x, nuisance.get("input_shift", 0.0), nuisance.get("input_tilt", 0.0))
        out, forward = self._sheets(field, index)
        measured = bpm.window_power(out, self.detector_windows)
        weight = output_gradient.to(measured) @ self.detector_windows.to(measured)
        source = adjoint.output_cotangent(out, weight, "intensity").conj()
        if procedure == "adjoint":  # backwards through the same index
            _, error = self._sheets(source, index.flip(-2))
        else:  # forwards through the pattern written mirrored along z
            mirrored = {"delta_n": controls["delta_n"].flip(0)}
            _, error = self._sheets(source, self._complex_index(mirrored, nuisance))
        c = self.config
        grid = adjoint_bpm.index_gradient(
            forward,
            error.flip(-2),
            index,
            c.wavelength,
            c.dz,
            float(nuisance.get("monitor_noise", 0.0)),
            None if noise is None else noise.generator,
        )
        return measured, {"delta_n": self._nominal_chain(controls, grid)}, 2

    def _complex_index(self, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The written index with the absorbing layers' extinction as its imaginary part."""
        delta_n = self.written_index(controls, nuisance)
        return torch.complex(delta_n, self.extinction.to(delta_n).expand_as(delta_n))

    def _sheets(self, field: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        c = self.config
        return adjoint_bpm.sheet_fields(field, index, c.dx, c.dz, c.wavelength, c.effective_index)

    def _nominal_chain(self, controls: Controls, grid_gradient: Tensor) -> Tensor:
        """dL/dΔn_cmd per pixel: the grid gradient carried back (digitally) through the
        nominal writing law, the linear pixel-to-grid map the lab programs with."""
        with torch.enable_grad():
            pixels = controls["delta_n"].detach().requires_grad_(True)
            grid = self.written_index({"delta_n": pixels}, self.nominal_nuisance())
            (grad,) = torch.autograd.grad(grid, pixels, grid_gradient.to(grid))
        return grad
