"""In-situ gradients of linear reciprocal optics: forward and adjoint fields, interfered.

For outputs z = A · w(φ) of a linear network in which a phase shifter multiplies the field w
at one point by e^{iφ}, and a real loss L(z), the chain rule with g = ∂L/∂Re z + i ∂L/∂Im z
(twice the conjugate Wirtinger derivative ∂L/∂z̄) gives

    dL/dφ = Re(i · w · (Aᵀ ḡ)),

and Aᵀ ḡ is, by reciprocity, the *adjoint field* at that point when the source ḡ is sent
backwards into the output ports (Hughes, Minkov, Shi & Fan, Optica 5, 864 (2018), Eq. 3 and
the measurement scheme of their Fig. 2; Pai et al., Science 380, 398 (2023)). Injecting the
adjoint source with an extra phase i, E_a = i Aᵀ ḡ, the gradient becomes an interference of
intensities that monitors (taps, an IR camera) can read,

    dL/dφ = Re(w · E_a) = ½ (|w + E_a*|² − |w|² − |E_a*|²),

where E_a* is produced by sending the time reversal (phase conjugate) of the adjoint field that
leaves the input ports forwards, alone and together with the original input. Hughes et al.
read |E_a|² in the adjoint pass instead of |E_a*|² in a pass of its own, which is the same in a
lossless mesh but leaves a term (η² − 1)|E_a|² that swamps the gradient once the MZIs lose light.

Fully forward mode (Xue et al., Nature 632, 280 (2024)) produces the same E_a with the error
ḡ sent *forwards* through a mirror image of the network, whose transfer is Aᵀ
(:func:`trace_mirror` for meshes, :func:`propagate_transpose` for free space), and reads
Re(i w E_a) from holographically measured fields (:func:`mesh_field_gradients`).

This module holds the formulas and the traced propagation through MZI meshes
(:mod:`physnn.physics.mesh`) and free space (:mod:`physnn.physics.optics`) that systems use to
simulate the procedure on their hidden (true) physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.physics import mesh, optics


# --------------------------------------------------------------------------------- formulas
def output_cotangent(field: Tensor, output_gradient: Tensor, detection: str) -> Tensor:
    """g = ∂L/∂Re z + i ∂L/∂Im z at the output field z, from ∂L/∂y of the measured outputs.

    ``"intensity"``: y = |z|², g = 2 (∂L/∂y) z — the adjoint source needs the output *field*, so
    the procedure measures it coherently (homodyne against a local oscillator, or holography).
    ``"homodyne"``: y = (Re z, Im z), g = ∂L/∂y_re + i ∂L/∂y_im.
    """
    if detection == "homodyne":
        half = output_gradient.shape[-1] // 2
        return torch.complex(output_gradient[..., :half], output_gradient[..., half:]).to(
            field.dtype
        )
    return 2 * output_gradient.to(field.real.dtype) * field


def noisy_intensity(
    field: Tensor, relative_noise: float, generator: torch.Generator | None
) -> Tensor:
    """A monitor's reading |E|², with Gaussian noise of ``relative_noise`` × the mean reading."""
    reading = optics.intensity(field)
    if not relative_noise or generator is None:
        return reading
    scale = relative_noise * reading.mean(dim=-1, keepdim=True)
    return reading + scale * torch.randn(
        reading.shape, generator=generator, device=reading.device, dtype=reading.dtype
    )


def interference(
    forward: Tensor,
    time_reversed: Tensor,
    relative_noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Re(E_f · E_tr*) read from three intensity measurements (Hughes et al. 2018, Fig. 2):

    ½ (|E_f + E_tr|² − |E_f|² − |E_tr|²), with E_tr the field of the phase-conjugated adjoint
    sent forwards. In a lossless network E_tr = E_a* and this is Re(E_f · E_a) exactly; with
    loss, E_tr ≈ η E_a* (η < 1 the power transmission up to the shifter) and the reading is
    scaled, not corrupted, because |E_tr|² is measured rather than taken as |E_a|².
    """
    readings = [
        noisy_intensity(f, relative_noise, generator)
        for f in (forward + time_reversed, forward, time_reversed)
    ]
    return (readings[0] - readings[1] - readings[2]) / 2


def holographic_product(
    forward: Tensor,
    adjoint: Tensor,
    relative_noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E_f · E_a from holographically measured complex fields (Zhou et al., Photon. Res. 8, 940
    (2020) measure the forward and backward fields at every layer by phase-shifting holography),
    each field with complex Gaussian noise of ``relative_noise`` × its rms."""
    if relative_noise and generator is not None:
        forward, adjoint = (_noisy_field(f, relative_noise, generator) for f in (forward, adjoint))
    return forward * adjoint


def _noisy_field(field: Tensor, relative_noise: float, generator: torch.Generator) -> Tensor:
    rms = optics.intensity(field).flatten(1).mean(dim=1).sqrt().view(-1, *[1] * (field.dim() - 1))
    real = torch.randn(field.shape, generator=generator, device=field.device, dtype=rms.dtype)
    imag = torch.randn(field.shape, generator=generator, device=field.device, dtype=rms.dtype)
    return field + relative_noise * rms * torch.complex(real, imag) / math.sqrt(2)


# --------------------------------------------------------------------------------- MZI meshes
@dataclass
class MeshFields:
    """Fields at every phase shifter of a mesh, (B, M) for θ and φ, (B, N) for the screen ψ."""

    theta: Tensor
    phi: Tensor
    screen: Tensor


@dataclass(frozen=True)
class MeshPhysics:
    """One mesh as built: heater phases, coupler errors (M, 2) and MZI field transmissions."""

    layout: mesh.MeshLayout
    theta: Tensor
    phi: Tensor
    screen: Tensor
    coupler_error: Tensor
    transmission: Tensor  # (M,) √η, field amplitude after the MZI's insertion loss

    def columns(self) -> list[tuple[Tensor, slice]]:
        """Top modes and MZI index range of each column, in the order light meets them."""
        out, start = [], 0
        for column in self.layout.columns:
            tops = torch.tensor(column, dtype=torch.long, device=self.theta.device)
            out.append((tops, slice(start, start + len(column))))
            start += len(column)
        return out

    def couplers(self, which: int, mzis: slice) -> Tensor:
        return mesh.coupler(self.coupler_error[mzis, which])


def _mix(coupler: Tensor, upper: Tensor, lower: Tensor) -> tuple[Tensor, Tensor]:
    """(upper, lower) ← B · (upper, lower) for a batch of 2×2 blocks B (M, 2, 2)."""
    return (
        coupler[:, 0, 0] * upper + coupler[:, 0, 1] * lower,
        coupler[:, 1, 0] * upper + coupler[:, 1, 1] * lower,
    )


def trace_mesh(field: Tensor, physics: MeshPhysics) -> tuple[Tensor, MeshFields]:
    """Propagate (B, N) fields forward through a mesh, recording the field right after each
    phase shifter: T = √η · B(ε₂) diag(e^{iθ}, 1) B(ε₁) diag(e^{iφ}, 1), then diag(e^{iψ})."""
    phi_f, theta_f = [], []
    for tops, mzis in physics.columns():
        upper = field[:, tops] * torch.polar(torch.ones_like(physics.phi[mzis]), physics.phi[mzis])
        phi_f.append(upper)
        upper, lower = _mix(physics.couplers(0, mzis), upper, field[:, tops + 1])
        upper = upper * torch.polar(torch.ones_like(physics.theta[mzis]), physics.theta[mzis])
        theta_f.append(upper)
        upper, lower = _mix(physics.couplers(1, mzis), upper, lower)
        field = _scatter(field, tops, physics.transmission[mzis] * upper)
        field = _scatter(field, tops + 1, physics.transmission[mzis] * lower)
    field = field * torch.polar(torch.ones_like(physics.screen), physics.screen)
    return field, MeshFields(torch.cat(theta_f, -1), torch.cat(phi_f, -1), field)


def trace_mesh_transpose(adjoint: Tensor, physics: MeshPhysics) -> Tensor:
    """Send (B, N) fields backwards from the output ports through a mesh: the transpose Uᵀ
    (reciprocity). Returns the field that leaves the input ports."""
    return trace_mirror(adjoint, physics)[0]


def trace_mirror(field: Tensor, physics: MeshPhysics) -> tuple[Tensor, MeshFields]:
    """Propagate (B, N) fields forwards through the *mirror image* of a mesh, the mesh whose
    transfer matrix is Uᵀ: the screen first, then the columns in reverse order, each MZI's
    elements in reverse order, Tᵀ = √η · diag(e^{iφ}, 1) B(ε₁) diag(e^{iθ}, 1) B(ε₂) (couplers
    are symmetric, B = Bᵀ). By reciprocity this is also the field sent backwards through the
    mesh itself. Returns the field leaving the mirror (the original's input side) and, at
    every phase shifter, the field that arrives there before passing it: the error field
    E_a = A_postᵀ ḡ that meets the forward monitor's field w in dL/dφ = Re(i w E_a)."""
    screen_f = field
    field = field * torch.polar(torch.ones_like(physics.screen), physics.screen)
    phi_f, theta_f = [], []
    for tops, mzis in reversed(physics.columns()):
        upper = physics.transmission[mzis] * field[:, tops]
        lower = physics.transmission[mzis] * field[:, tops + 1]
        upper, lower = _mix(physics.couplers(1, mzis).mT, upper, lower)
        theta_f.append(upper)
        upper = upper * torch.polar(torch.ones_like(physics.theta[mzis]), physics.theta[mzis])
        upper, lower = _mix(physics.couplers(0, mzis).mT, upper, lower)
        phi_f.append(upper)
        upper = upper * torch.polar(torch.ones_like(physics.phi[mzis]), physics.phi[mzis])
        field = _scatter(_scatter(field, tops, upper), tops + 1, lower)
    fields = MeshFields(torch.cat(theta_f[::-1], -1), torch.cat(phi_f[::-1], -1), screen_f)
    return field, fields


def _scatter(field: Tensor, modes: Tensor, values: Tensor) -> Tensor:
    out = field.clone()
    out[:, modes] = values
    return out


def mesh_phase_gradients(
    forward: MeshFields,
    time_reversed: MeshFields,
    relative_noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """dL/dθ, dL/dφ, dL/dψ (batch sums) from the interference at every phase shifter; the
    time-reversed fields come from the adjoint source i·ḡ (E_tr = E_a* = −i (Aᵀ ḡ)*)."""
    return {
        name: interference(
            getattr(forward, name), getattr(time_reversed, name), relative_noise, generator
        ).sum(0)
        for name in ("theta", "phi", "screen")
    }


def mesh_field_gradients(
    forward: MeshFields,
    error: MeshFields,
    relative_noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """dL/dθ, dL/dφ, dL/dψ = Re(i · w · E_a) (batch sums) from the forward fields w and the
    error fields E_a at every phase shifter, both measured holographically (fully forward mode:
    E_a comes from the error sent forwards through the mirrored mesh, :func:`trace_mirror`)."""
    return {
        name: (
            1j
            * holographic_product(
                getattr(forward, name), getattr(error, name), relative_noise, generator
            )
        ).real.sum(0)
        for name in ("theta", "phi", "screen")
    }


# --------------------------------------------------------------------------------- free space
def propagate_transpose(
    field: Tensor,
    dx: float,
    wavelength: float,
    z: float,
    *,
    padding: float = 2.0,
    band_limit: bool = True,
    extra_phase: Tensor | None = None,
) -> Tensor:
    """Light sent backwards through the same gap: the transpose of :func:`optics.propagate`.

    With P = crop · F⁻¹ H F · pad and F, F⁻¹ symmetric, Pᵀ = crop · F H F⁻¹ · pad. For an
    aligned gap H(f) = H(−f) and Pᵀ = P (the spatial symmetry fully forward mode relies on);
    a lateral displacement makes H(f) ≠ H(−f) and the two differ.
    """
    n = field.shape[-1]
    n_pad = max(n, round(padding * n))
    before = (n_pad - n) // 2
    padded = F.pad(field, (before, n_pad - n - before) * 2) if n_pad > n else field
    h = optics.transfer_function(
        n_pad, dx, wavelength, z, band_limit=band_limit, device=field.device, dtype=field.dtype
    )
    if extra_phase is not None:
        h = h * extra_phase.to(field.dtype)
    out = torch.fft.fft2(torch.fft.ifft2(padded) * h)
    return out[..., before : before + n, before : before + n] if n_pad > n else out
