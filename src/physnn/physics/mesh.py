"""Meshes of Mach-Zehnder interferometers (MZIs): programmable linear optics on N waveguide modes.

One MZI on the neighbouring modes (m, m + 1) is two directional couplers with an internal phase
shifter θ between them and an external phase shifter φ on its upper input arm:

    T(θ, φ) = B(ε₂) · diag(e^{iθ}, 1) · B(ε₁) · diag(e^{iφ}, 1),

    B(ε) = [[cos(π/4 + ε),  i sin(π/4 + ε)],
            [i sin(π/4 + ε), cos(π/4 + ε)]],

a coupler with power splitting ratio sin²(π/4 + ε) (ε = 0: 50:50). For ideal couplers

    T(θ, φ) = i e^{iθ/2} [[e^{iφ} sin(θ/2),  cos(θ/2)],
                          [e^{iφ} cos(θ/2), −sin(θ/2)]],

so θ = π is the bar state and θ = 0 the cross state (Clements et al., Optica 3, 1460 (2016),
Eq. 1). An insertion loss of L dB scales the whole 2×2 block by 10^{−L/20}.

A *mesh* arranges MZIs in columns; the MZIs of one column act on disjoint mode pairs, so a column
is a diagonal plus a "partner" term, ``out[n] = d[n] · a[n] + o[n] · a[partner(n)]``, evaluated as
one vectorised op over the batch and all pairs; only the columns are looped over. After the last
column an output phase screen diag(e^{iψ}) completes the transfer matrix

    U = diag(e^{iψ}) · C_{K−1} ··· C_1 · C_0.

Layouts: the rectangular Clements mesh (N columns, N(N−1)/2 MZIs, column k on pairs starting at
modes ≡ k mod 2) and the triangular Reck mesh (Reck et al., PRL 73, 58 (1994); 2N − 3 columns).
Both are universal: :func:`clements_decompose` and :func:`reck_decompose` return the phases that
realize a given unitary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

TWO_PI = 2 * math.pi


# --------------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class MeshLayout:
    """Where the MZIs sit: ``columns[k]`` holds the top modes of the MZIs of column k.

    MZIs are numbered column by column, top to bottom; per-MZI tensors (θ, φ, errors) follow
    that order.
    """

    num_modes: int
    columns: tuple[tuple[int, ...], ...]

    @property
    def num_mzis(self) -> int:
        return sum(len(column) for column in self.columns)

    @property
    def num_columns(self) -> int:
        return len(self.columns)

    @cached_property
    def mzi_column(self) -> Tensor:
        """(M,) column of each MZI."""
        return torch.tensor([k for k, col in enumerate(self.columns) for _ in col])

    @cached_property
    def mzi_top(self) -> Tensor:
        """(M,) upper mode of each MZI."""
        return torch.tensor([m for col in self.columns for m in col])

    @cached_property
    def gather_indices(self) -> tuple[Tensor, Tensor, Tensor]:
        """(K, N) indices that turn a column into ``d · a + o · a[partner]``.

        Returns ``diag`` and ``off``, flat indices into the per-MZI 2×2 blocks with an identity
        block appended (index M, for modes that no MZI of the column touches), and ``partner``.
        """
        n, m = self.num_modes, self.num_mzis
        mzi = torch.full((self.num_columns, n), m)
        row = torch.zeros((self.num_columns, n), dtype=torch.long)
        partner = torch.arange(n).repeat(self.num_columns, 1)
        index = 0
        for k, column in enumerate(self.columns):
            for top in column:
                mzi[k, top : top + 2] = index
                row[k, top + 1] = 1
                partner[k, top], partner[k, top + 1] = top + 1, top
                index += 1
        unpaired = mzi == m
        diag = mzi * 4 + row * 3  # element (row, row) of the 2×2 block
        off = mzi * 4 + row * 2 + (1 - row)  # element (row, 1 − row)
        off = torch.where(unpaired, m * 4 + 1, off)  # the identity block's zero entry
        return diag, off, partner

    @cached_property
    def has_lower_neighbour(self) -> Tensor:
        """(M,) whether MZI j + 1 sits right below MZI j in the same column."""
        column = self.mzi_column
        same = column[1:] == column[:-1]
        return torch.cat([same, torch.zeros(1, dtype=torch.bool)])


def clements_layout(num_modes: int) -> MeshLayout:
    """Rectangular mesh: N columns, column k on the pairs (m, m + 1) with m ≡ k (mod 2)."""
    _check_modes(num_modes)
    columns = tuple(tuple(range(k % 2, num_modes - 1, 2)) for k in range(num_modes))
    return MeshLayout(num_modes, columns)


def reck_layout(num_modes: int) -> MeshLayout:
    """Triangular mesh of Reck et al. (1994), its MZIs placed in the earliest free column."""
    _check_modes(num_modes)
    return _place_in_columns(num_modes, _reck_order(num_modes))


def mesh_layout(kind: str, num_modes: int) -> MeshLayout:
    """``"clements"`` or ``"reck"``."""
    builders = {"clements": clements_layout, "reck": reck_layout}
    if kind not in builders:
        raise ValueError(f"unknown mesh layout {kind!r}; choose one of: {', '.join(builders)}")
    return builders[kind](num_modes)


def _check_modes(num_modes: int) -> None:
    if num_modes < 2:
        raise ValueError(f"a mesh needs at least 2 modes, got {num_modes}")


def _reck_order(num_modes: int) -> list[int]:
    """Top modes of the Reck MZIs in the order they act on the light (input side first)."""
    return [col for row in range(num_modes - 1, 0, -1) for col in range(row)]


def _place_in_columns(num_modes: int, tops: list[int]) -> MeshLayout:
    """Put each MZI (in the order the light meets them) into the earliest column it fits."""
    depth = [0] * num_modes
    columns: list[list[int]] = []
    for top in tops:
        k = max(depth[top], depth[top + 1])
        if k == len(columns):
            columns.append([])
        columns[k].append(top)
        depth[top] = depth[top + 1] = k + 1
    return MeshLayout(num_modes, tuple(tuple(sorted(c)) for c in columns))


# --------------------------------------------------------------------------------- physics
def coupler(error: Tensor) -> Tensor:
    """Directional coupler B(ε), (..., 2, 2): splitting ratio sin²(π/4 + ε), lossless."""
    angle = math.pi / 4 + error
    c = torch.cos(angle).to(_complex(error.dtype))
    s = 1j * torch.sin(angle).to(_complex(error.dtype))
    return torch.stack([torch.stack([c, s], -1), torch.stack([s, c], -1)], -2)


def mzi_transfer(
    theta: Tensor,
    phi: Tensor,
    coupler_error: Tensor | None = None,
    loss_db: Tensor | float = 0.0,
) -> Tensor:
    """MZI transfer matrices (..., 2, 2): T = √η · B(ε₂) diag(e^{iθ}, 1) B(ε₁) diag(e^{iφ}, 1).

    ``coupler_error`` (..., 2) holds (ε₁, ε₂) in rad (None: ideal 50:50 couplers); ``loss_db``
    the insertion loss of each MZI, η = 10^{−L/10}.
    """
    if coupler_error is None:
        coupler_error = torch.zeros((*theta.shape, 2), dtype=theta.dtype, device=theta.device)
    ctype = _complex(theta.dtype)
    one = torch.ones_like(theta)
    inner = torch.diag_embed(torch.stack([torch.polar(one, theta), one.to(ctype)], -1))
    outer = torch.diag_embed(torch.stack([torch.polar(one, phi), one.to(ctype)], -1))
    first, second = coupler(coupler_error[..., 0]), coupler(coupler_error[..., 1])
    transfer = second @ inner @ first @ outer
    loss = torch.as_tensor(loss_db, dtype=theta.dtype, device=theta.device)
    return transfer * db_to_amplitude(loss)[..., None, None]


def db_to_amplitude(loss_db: Tensor) -> Tensor:
    """Field transmission 10^{−L/20} of a loss of L dB."""
    return torch.pow(10.0, -loss_db / 20)


def apply_mesh(field: Tensor, layout: MeshLayout, transfer: Tensor, screen: Tensor) -> Tensor:
    """Propagate fields through a mesh, column by column.

    ``field`` (*meshes, B, N) complex; ``transfer`` (*meshes, M, 2, 2) from :func:`mzi_transfer`;
    ``screen`` (*meshes, N) output phases ψ in rad. Returns diag(e^{iψ}) C_{K−1} ··· C_0 · field
    for every field (row) of the batch.
    """
    diag_index, off_index, partner = (t.to(field.device) for t in layout.gather_indices)
    identity = torch.eye(2, dtype=transfer.dtype, device=transfer.device)
    blocks = torch.cat([transfer, identity.expand(*transfer.shape[:-3], 1, 2, 2)], dim=-3)
    flat = blocks.flatten(-3)
    diag, off = flat[..., diag_index], flat[..., off_index]  # (*meshes, K, N)
    for k in range(layout.num_columns):
        column = slice(k, k + 1)  # keeps a broadcast dim over the batch
        field = diag[..., column, :] * field + off[..., column, :] * field[..., partner[k]]
    return field * torch.polar(torch.ones_like(screen), screen).unsqueeze(-2)


def mesh_matrix(layout: MeshLayout, transfer: Tensor, screen: Tensor) -> Tensor:
    """Transfer matrices U (*meshes, N, N) of meshes (output field = U · input field)."""
    n = layout.num_modes
    eye = torch.eye(n, dtype=transfer.dtype, device=transfer.device)
    rows = apply_mesh(eye.expand(*transfer.shape[:-3], n, n), layout, transfer, screen)
    return rows.mT  # row j of ``rows`` is U applied to the basis vector e_j, i.e. column j of U


def thermal_crosstalk(phase: Tensor, has_lower_neighbour: Tensor, fraction: float) -> Tensor:
    """Heater crosstalk within a column: φ_j + κ (φ_{j−1} + φ_{j+1}) over existing neighbours.

    A heater's temperature rise, and so its phase, is proportional to its electrical power;
    a fraction κ of each heater's phase appears on the heaters next to it (Milanizadeh et al.,
    J. Lightwave Technol. 37, 1325 (2019)). ``has_lower_neighbour`` (…, P) marks which element
    j + 1 is a neighbour of element j.
    """
    lower = has_lower_neighbour.to(phase.dtype)
    upper = lower.roll(1, dims=-1)  # element j − 1 is a neighbour of j iff j is below j − 1
    leak = lower * phase.roll(-1, dims=-1) + upper * phase.roll(1, dims=-1)
    return phase + fraction * leak


# --------------------------------------------------------------------------------- activation
def electro_optic_activation(
    field: Tensor, gain: float, bias: float, tap: float, mean_power: float
) -> Tensor:
    """Photodiode-driven phase modulator (Williamson et al., IEEE JSTQE 26, 7700412 (2020)).

    A fraction α (``tap``) of each mode's power is detected and drives a phase modulator on the
    rest of the light, inside an interferometer biased at φ_b:

        f(z) = i √(1 − α) · exp(−i Δφ / 2) · cos(Δφ / 2) · z,   Δφ = φ_b + g · |z|² / P̄,

    with g the phase swing (rad) for a mode carrying the mean mode power P̄ (``mean_power``).
    """
    delta = bias + gain * field.abs().square() / mean_power
    # cos(Δφ/2) changes sign: torch.polar's gradient assumes a non-negative modulus
    response = torch.cos(delta / 2) * torch.polar(torch.ones_like(delta), -delta / 2)
    return 1j * math.sqrt(1 - tap) * response * field


def saturable_absorber(field: Tensor, depth: float, saturation: float, mean_power: float) -> Tensor:
    """Thin saturable absorber: z ↦ z · t(|z|²), see :func:`saturable_transmission`; the
    nonlinearity that Shen et al. (Nat. Photon. 11, 441 (2017)) proposed between layers."""
    return field * saturable_transmission(field, depth, saturation, mean_power)


def saturable_transmission(
    field: Tensor, depth: float, saturation: float, mean_power: float
) -> Tensor:
    """Amplitude transmission t = exp(−(α₀/2) / (1 + |z|² / P_sat)) of a thin saturable absorber
    bleached by the field z: α₀ is the small-signal optical depth, P_sat = ``saturation`` · P̄
    the saturation power.

    It is also what a weak probe sees while the field z pumps the absorber: in the pump-probe
    scheme of Guo, Barrett, Wang & Lvovsky (Photon. Res. 9, B71 (2021)) the backward-travelling
    error is multiplied by t instead of by the activation's derivative
    t · (1 + α₀ s / (1 + s)²), s = |z|² / P_sat, for real fields: the term from the intensity
    dependence of the absorption is missed, which scales each mode's gradient by a factor in
    [1 / (1 + α₀/4), 1] and never flips its sign.
    """
    power = field.abs().square() / (saturation * mean_power)
    return torch.exp(-0.5 * depth / (1 + power))


# --------------------------------------------------------------------------------- decompositions
def haar_unitary(num_modes: int, generator: torch.Generator) -> Tensor:
    """A Haar-random unitary (complex128): QR of a complex Gaussian matrix, phases fixed.

    Mezzadri, Notices AMS 54, 592 (2007). Decomposed onto a mesh it gives the "Haar
    initialization" of the phases that keeps deep meshes trainable (Pai et al., Phys. Rev.
    Applied 11, 064044 (2019)); uniformly random θ concentrate the mesh near a banded matrix.
    """
    shape = (2, num_modes, num_modes)
    parts = torch.randn(shape, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(torch.complex(parts[0], parts[1]) / math.sqrt(2))
    diagonal = torch.diagonal(r)
    return q * (diagonal / diagonal.abs())


def decompose(kind: str, unitary: Tensor) -> dict[str, Tensor]:
    """Phases that realize ``unitary`` on the ``"clements"`` or ``"reck"`` layout."""
    decompositions = {"clements": clements_decompose, "reck": reck_decompose}
    if kind not in decompositions:
        raise ValueError(
            f"unknown mesh layout {kind!r}; choose one of: {', '.join(decompositions)}"
        )
    return decompositions[kind](unitary)


def clements_decompose(unitary: Tensor) -> dict[str, Tensor]:
    """Phases of :func:`clements_layout` that realize ``unitary`` (Clements et al. 2016).

    Alternately nulls the lower-left elements by MZIs acting on columns from the right and on
    rows from the left, then moves the left MZIs through the remaining diagonal phase matrix
    with T(θ, φ)⁻¹ D = D' T(θ, δ₁ − δ₂). Returns float64 ``theta`` and ``phi`` (M,) and
    ``screen`` (N,) in [0, 2π). The nulling is sequential by nature (each step changes U).
    """
    u = _as_unitary(unitary)
    n = u.shape[0]
    right: list[tuple[int, float, float]] = []
    left: list[tuple[int, float, float]] = []
    for i in range(1, n):
        if i % 2:
            for j in range(i):
                right.append(_null_from_right(u, n - 1 - j, i - 1 - j))
        else:
            for j in range(1, i + 1):
                left.append(_null_from_left(u, n + j - i - 1, j - 1))
    delta = np.angle(np.diag(u)).copy()
    moved = []
    for top, theta, phi in reversed(left):  # L_k⁻¹ first: it stands right next to D
        d_top, d_bottom = delta[top], delta[top + 1]
        moved.append((top, theta, d_top - d_bottom))
        delta[top] = math.pi - theta - phi + d_bottom
        delta[top + 1] = math.pi - theta + d_bottom
    return _assign(clements_layout(n), right + moved, delta)


def reck_decompose(unitary: Tensor) -> dict[str, Tensor]:
    """Phases of :func:`reck_layout` that realize ``unitary`` (Reck et al. 1994).

    Nulls row N − 1, then N − 2, … from the left by MZIs acting on columns from the right, so
    U · T₁⁻¹ ··· T_M⁻¹ = D and U = D · T_M ··· T₁.
    """
    u = _as_unitary(unitary)
    n = u.shape[0]
    sequence = [_null_from_right(u, row, col) for row in range(n - 1, 0, -1) for col in range(row)]
    return _assign(reck_layout(n), sequence, np.angle(np.diag(u)))


def _as_unitary(unitary: Tensor) -> np.ndarray:
    u = np.array(torch.as_tensor(unitary).detach().cpu().numpy(), dtype=np.complex128)
    if u.ndim != 2 or u.shape[0] != u.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {u.shape}")
    if not np.allclose(u.conj().T @ u, np.eye(u.shape[0]), atol=1e-8):
        raise ValueError("the matrix to decompose is not unitary (to 1e-8)")
    return u


def _mzi(theta: float, phi: float) -> np.ndarray:
    s, c = math.sin(theta / 2), math.cos(theta / 2)
    e = np.exp(1j * phi)
    return 1j * np.exp(1j * theta / 2) * np.array([[e * s, c], [e * c, -s]])


def _null_from_right(u: np.ndarray, row: int, col: int) -> tuple[int, float, float]:
    """U ← U · T⁻¹ on columns (col, col + 1), choosing T so that U[row, col] becomes 0."""
    a, b = u[row, col], u[row, col + 1]
    theta = 2 * math.atan2(abs(b), abs(a))
    phi = float(np.angle(a) - np.angle(b) - math.pi)
    u[:, col : col + 2] = u[:, col : col + 2] @ _mzi(theta, phi).conj().T
    return col, theta, phi


def _null_from_left(u: np.ndarray, row: int, col: int) -> tuple[int, float, float]:
    """U ← T · U on rows (row − 1, row), choosing T so that U[row, col] becomes 0."""
    a, b = u[row - 1, col], u[row, col]
    theta = 2 * math.atan2(abs(a), abs(b))
    phi = float(np.angle(b) - np.angle(a))
    u[row - 1 : row + 1, :] = _mzi(theta, phi) @ u[row - 1 : row + 1, :]
    return row - 1, theta, phi


def _assign(
    layout: MeshLayout, sequence: list[tuple[int, float, float]], screen: np.ndarray
) -> dict[str, Tensor]:
    """Place MZIs given in light order on the layout: the k-th on mode m takes m's k-th slot."""
    slots: dict[int, list[int]] = {}
    for index, top in enumerate(layout.mzi_top.tolist()):
        slots.setdefault(top, []).append(index)
    theta = np.zeros(layout.num_mzis)
    phi = np.zeros(layout.num_mzis)
    for top, t, p in sequence:
        index = slots[top].pop(0)
        theta[index], phi[index] = t, p
    return {
        "theta": torch.from_numpy(np.mod(theta, TWO_PI)),
        "phi": torch.from_numpy(np.mod(phi, TWO_PI)),
        "screen": torch.from_numpy(np.mod(screen, TWO_PI)),
    }


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64
