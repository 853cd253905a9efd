"""Hamiltonian echo backpropagation: the gradient read from a time-reversed echo.

López-Pastor & Marquardt, "Self-learning machines based on Hamiltonian echo backpropagation",
Phys. Rev. X 13, 031020 (2023). For a time-reversible Hamiltonian device (the undamped
oscillator chain; the linear wave RNN in a lossless box): evolve forward for T from the
input-dependent initial state, inject the error signal as a small momentum kick δp = −ε ∂L/∂q on
the measured coordinates, time-reverse (flip the momenta), evolve for T again and flip back. To
first order in ε the echo's deviation from the initial state and the change of the integrated
local quantities ∂H/∂θ along it are the gradient (:mod:`physnn.physics.echo`; for the wave RNN,
where the kicks are sources at the probes, :mod:`physnn.physics.wave_adjoint`):

    ∂L/∂q(0) = −δp(0) / ε,        dL/dθ = −(1/ε) ∫₀ᵀ [∂H/∂θ(echo) − ∂H/∂θ(reference)] dt.

One step: the device measures y (a query), the digital blocks run on y with autograd (exact
readout gradient and g = ∂L/∂y), then the device runs the echo procedure for g
(``Device.measure_gradient(x, g, "echo")``: forward, and echoes with kicks ±ε — three passes per
sample, so four per sample with the query; on hardware with real-time feedback the query and
the procedure's forward pass could be one). The kick size is the system option ``echo_kick``.
No twin is used: the gradient is the true device's.
"""

from __future__ import annotations

from physnn.methods.base import METHODS, Requirements
from physnn.methods.insitu import PhysicalGradient


@METHODS.register("echo")
class HamiltonianEcho(PhysicalGradient):
    name = "echo"
    summary = "Hamiltonian echo backprop: error kick, time reversal, gradient read from the echo"
    reference = "López-Pastor & Marquardt, Phys. Rev. X 13, 031020 (2023)"
    requirements = Requirements(device_forward=True, gradient_procedure="echo")
    procedure = "echo"
