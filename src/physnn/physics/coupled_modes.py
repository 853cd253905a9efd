"""Coupled-mode theory and input-output theory of N linearly coupled resonators.

Mode amplitudes ``a_j`` (resonators, cavity modes, LC circuits) evolve under a Hermitian
coupling matrix ``H`` (diagonal: detunings Δ_j of the modes from a reference frequency;
off-diagonal: coupling rates J_jk), lose energy at rate ``κ_j`` into the probe waveguide of
mode j and at rate ``γ_j`` into everything else (intrinsic loss), and are driven through their
waveguides (Gardiner & Collett, PRA 31, 3761 (1985); Clerk et al., RMP 82, 1155 (2010)):

    da/dt = −i H a − ½ (K + Γ) a − √K a_in,        a_out = a_in + √K a,

with ``K = diag(κ)`` and ``Γ = diag(γ)``. For a monochromatic probe ``a_in ∝ e^{−iωt}`` (ω measured
from the same reference as the detunings) the steady state is ``a = −i G √K a_in`` with the
Green's function ``G(ω) = (ω − H + i (K + Γ)/2)⁻¹``, hence the scattering matrix

    S(ω) = 1 − i √K G(ω) √K,            a_out = S(ω) a_in.

This is the form of Wanjura & Marquardt, Nat. Phys. 20, 1434 (2024), eqs. (1)–(3), whose
dynamical matrix ``H − i(K + Γ)/2`` includes the decay: the imaginary part of its diagonal is
``−(κ + γ)/2`` (loss widens the resonances; it must never enter with the opposite sign, which
would describe gain). Rates and frequencies share one unit (we use κ of the probed modes).

Properties used by the tests: for real symmetric ``H`` (no magnetic or non-reciprocal element)
``S = Sᵀ`` (reciprocity); for ``γ = 0`` and every mode probed, S is unitary (energy
conservation); with loss its singular values are ≤ 1 (passivity). A single mode gives the
Lorentzian reflection ``S = 1 − iκ / (ω − Δ + i(κ + γ)/2)``, ``|S|² = ((ω−Δ)² + ((κ−γ)/2)²) /
((ω−Δ)² + ((κ+γ)/2)²)``: a dip that reaches zero at critical coupling κ = γ.

In-situ gradients (:func:`reflection_gradients`): dG = G dH G and, by reciprocity (G = Gᵀ), the
derivative of a reflection S_ℓℓ with respect to any detuning or coupling is a product of the
mode amplitudes driven from port ℓ, ∂S_ℓℓ/∂H_mn = i a_m⁽ℓ⁾ a_n⁽ℓ⁾ — what Wanjura & Marquardt
(2024) mean by gradients "directly measured in scattering experiments": weak taps (or auxiliary
ports, S_mℓ = √κ_m a_m⁽ℓ⁾) read the amplitudes while the forward probe runs.
"""

from __future__ import annotations

import torch
from torch import Tensor


def coupling_hamiltonian(detuning: Tensor, coupling: Tensor) -> Tensor:
    """``H = diag(Δ) + J`` from detunings (..., N) and a symmetric coupling matrix (..., N, N).

    The coupling matrix must have a zero diagonal; batch dimensions broadcast.
    """
    return torch.diag_embed(detuning) + coupling


def symmetric_coupling(values: Tensor, rows: Tensor, cols: Tensor, num_modes: int) -> Tensor:
    """A real symmetric coupling matrix (..., N, N) with ``J[rows, cols] = J[cols, rows] = values``.

    ``values`` has shape (..., E) for E coupled pairs (``rows[e] ≠ cols[e]``).
    """
    upper = values.new_zeros((*values.shape[:-1], num_modes, num_modes))
    upper[..., rows, cols] = values
    return upper + upper.transpose(-2, -1)


def mode_amplitudes(
    hamiltonian: Tensor,
    kappa: Tensor,
    gamma: Tensor,
    omega: float | Tensor = 0.0,
    ports: Tensor | None = None,
) -> Tensor:
    """Steady-state mode amplitudes ``a = −i G(ω) √K e_ℓ`` for a unit probe at each port ℓ.

    ``hamiltonian``: (..., N, N) Hermitian (real symmetric for a reciprocal system);
    ``kappa``, ``gamma``: external and intrinsic decay rates, (N,) or (..., N), ≥ 0;
    ``ports``: indices of the P probed modes (default: all N).
    Returns (..., N, P) complex: column ℓ is the field of every mode while port ℓ is driven.
    One batched ``torch.linalg.solve`` for the P probe columns.
    """
    double = hamiltonian.dtype in (torch.float64, torch.complex128)
    dtype = torch.complex128 if double else torch.complex64
    h = hamiltonian.to(dtype)
    n = h.shape[-1]
    eye = torch.eye(n, dtype=dtype, device=h.device)
    damping = torch.diag_embed((kappa + gamma).to(dtype) / 2)
    dynamical = omega * eye - h + 1j * damping
    if ports is None:
        ports = torch.arange(n, device=h.device)
    sqrt_kappa_ports = kappa.to(dtype).sqrt()[..., ports]
    drive = eye[:, ports] * sqrt_kappa_ports[..., None, :]  # √K acting on the probe columns
    return -1j * torch.linalg.solve(dynamical, drive.expand(*dynamical.shape[:-1], -1))


def scattering_matrix(
    hamiltonian: Tensor,
    kappa: Tensor,
    gamma: Tensor,
    omega: float | Tensor = 0.0,
    ports: Tensor | None = None,
) -> Tensor:
    """``S(ω) = 1 − i √K (ω − H + i(K + Γ)/2)⁻¹ √K`` restricted to the probed ``ports``:
    ``S_kℓ = δ_kℓ + √κ_k a_k`` with the amplitudes a of :func:`mode_amplitudes` (input-output
    relation a_out = a_in + √K a). Returns (..., P, P) complex."""
    amplitudes = mode_amplitudes(hamiltonian, kappa, gamma, omega, ports)
    if ports is None:
        ports = torch.arange(hamiltonian.shape[-1], device=amplitudes.device)
    sqrt_kappa_ports = kappa.to(amplitudes.dtype).sqrt()[..., ports]
    eye = torch.eye(len(ports), dtype=amplitudes.dtype, device=amplitudes.device)
    return eye + sqrt_kappa_ports[..., :, None] * amplitudes[..., ports, :]


def reflection(s_matrix: Tensor) -> Tensor:
    """The reflection coefficients ``S_jj`` of every probed port (..., P)."""
    return torch.diagonal(s_matrix, dim1=-2, dim2=-1)


def reflection_gradients(
    amplitudes: Tensor, cotangent: Tensor, rows: Tensor, cols: Tensor
) -> tuple[Tensor, Tensor]:
    """∂L/∂Δ_m and ∂L/∂J_e from the mode amplitudes measured while each port is probed.

    With G = (ω − H + i(K + Γ)/2)⁻¹, dG = G dH G, so dS_ℓℓ = −i κ_ℓ (G dH G)_ℓℓ. For a real
    symmetric H, G = Gᵀ (reciprocity): G_mℓ = G_ℓm = i a_m⁽ℓ⁾ / √κ_ℓ is the amplitude of mode m
    driven from port ℓ, and

        ∂S_ℓℓ/∂Δ_m = i (a_m⁽ℓ⁾)²,        ∂S_ℓℓ/∂J_mn = 2 i a_m⁽ℓ⁾ a_n⁽ℓ⁾,

    the forward field squared (the adjoint field equals the forward one). With the cotangent
    c_ℓ = ∂L/∂Re S_ℓℓ + i ∂L/∂Im S_ℓℓ, ∂L/∂p = Σ_ℓ Re(c̄_ℓ ∂S_ℓℓ/∂p).
    ``amplitudes``: (B, N, P); ``cotangent``: (B, P); ``rows``, ``cols``: the E coupled pairs.
    Returns the batch sums, (N,) and (E,).
    """
    weighted = 1j * cotangent.conj()[:, None, :] * amplitudes  # (B, N, P)
    detuning = (weighted * amplitudes).real.sum(dim=(0, 2))
    coupling = 2 * (weighted[:, rows] * amplitudes[:, cols]).real.sum(dim=(0, 2))
    return detuning, coupling


def noisy_amplitudes(amplitudes: Tensor, noise: float, generator: torch.Generator | None) -> Tensor:
    """Amplitudes as homodyne taps read them: complex Gaussian noise of ``noise`` rms per
    quadrature, in units of the probe amplitude (1/(2√n̄) for a probe of n̄ photons)."""
    if not noise or generator is None:
        return amplitudes
    parts = torch.randn(
        (*amplitudes.shape, 2), generator=generator, dtype=amplitudes.real.dtype
    ).to(amplitudes.device)
    return amplitudes + noise * torch.view_as_complex(parts)
