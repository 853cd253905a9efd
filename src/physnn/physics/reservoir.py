"""Reservoir computing physics: a time-multiplexed delay loop and an echo state network.

**Delay reservoir** (Appeltant et al., Nat. Commun. 2, 468 (2011); Larger et al., Opt. Express
20, 3241 (2012)). One nonlinear node f with a delay loop of length τ = N θ holds N virtual nodes
x_i, i = 1 … N, spaced by θ (in units of the node's response time). During input step n the
sample-and-held input u(n) is multiplied by a fixed mask m ∈ {±1}^N. Each virtual node is driven
by its own value one loop earlier,

    z_i(n) = α x_{i−k}(n − 1) + γ m_i u(n) + φ,

(k = 0 for a loop synchronous with the input clock, τ = N θ; k = 1 for τ = (N + 1) θ, indices
cyclic), and the node's first-order low-pass response (ε ẋ = −x + f(z)) integrated over one node
interval θ couples every virtual node to its predecessor:

    x_i(n) = e^{−θ} x_{i−1}(n) + (1 − e^{−θ}) f(z_i(n)),        x_0(n) ≡ x_N(n − 1).

Because z(n) depends only on the previous loop, this recursion over i is a linear first-order
filter of f(z(n)); unrolled it is the lower-triangular map

    x(n) = L f(z(n)) + c x_N(n − 1),   L_ij = (1 − e^{−θ}) e^{−(i−j)θ} (j ≤ i),   c_i = e^{−iθ},

which is exact and vectorized over the N nodes. Nonlinearities: ``sin2`` f(z) = sin²(z), the
intensity transfer of a Mach–Zehnder modulator (Larger 2012, with φ its bias phase), and
``mackey-glass`` f(z) = z / (1 + |z|^p) (Appeltant 2011; ≈ z for small |z|, the linear limit).

**Echo state network** (Jaeger, GMD Report 148 (2001)): leaky tanh units,

    x(n) = (1 − a) x(n − 1) + a tanh(α W x(n − 1) + γ w_in u(n) + φ),

with W sparse random, scaled to spectral radius ρ, and leak rate a.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import torch
from torch import Tensor

from physnn.threads import intra_op_threads

NONLINEARITIES = ("sin2", "mackey-glass")


def input_mask(nodes: int, generator: torch.Generator) -> Tensor:
    """A random binary mask m ∈ {±1}^N (Appeltant 2011)."""
    bits = torch.randint(0, 2, (nodes,), generator=generator)
    return (2 * bits - 1).to(torch.float32)


def node_response(z: Tensor, nonlinearity: str, exponent: float = 1.0) -> Tensor:
    """The nonlinear node f(z): sin²(z) or the Mackey–Glass term z / (1 + |z|^p)."""
    if nonlinearity == "sin2":
        return torch.sin(z).square()
    if nonlinearity == "mackey-glass":
        return z / (1 + z.abs().pow(exponent))
    raise ValueError(
        f"nonlinearity must be one of {', '.join(NONLINEARITIES)}, got {nonlinearity!r}"
    )


def ring_coupling(nodes: int, theta: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """L_ij = (1 − e^{−θ}) e^{−(i−j)θ} for j ≤ i: the low-pass response of the node unrolled over
    one loop (the inertia that couples each virtual node to its predecessors)."""
    i = torch.arange(nodes, dtype=torch.float64)
    lag = i[:, None] - i[None, :]
    weights = (1 - math.exp(-theta)) * torch.exp(-theta * lag.clamp_min(0))
    return torch.where(lag >= 0, weights, torch.zeros_like(weights)).to(dtype)


def carry_over(nodes: int, theta: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """c_i = e^{−iθ}, i = 1 … N: how much of the last node of the previous loop each node keeps."""
    return torch.exp(-theta * torch.arange(1, nodes + 1, dtype=torch.float64)).to(dtype)


def delay_loop(
    u: Tensor,
    mask: Tensor,
    feedback: Tensor,
    input_scaling: Tensor,
    bias: Tensor,
    theta: float,
    nonlinearity: str,
    exponent: float = 1.0,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
    initial: Tensor | None = None,
    shift: int = 0,
) -> Tensor:
    """States of the delay reservoir for inputs ``u`` (B, T): returns (B, T, N).

    ``shift`` k desynchronizes the loop from the input clock, τ = (N + k) θ: node i is then fed
    back the state of node i − k one loop earlier (cyclically), which couples the virtual nodes
    into a ring (Appeltant 2011; Paquot et al., Sci. Rep. 2, 287 (2012)). ``noise_std`` adds
    N(0, σ²) to every node at every step (loop noise), drawn from ``generator``; ``initial``
    (B, N) is x(0), zero by default.
    """
    batch, steps = u.shape
    nodes = mask.shape[-1]
    coupling = ring_coupling(nodes, theta, u.dtype).to(u.device)
    carry = carry_over(nodes, theta, u.dtype).to(u.device)
    x = u.new_zeros(batch, nodes) if initial is None else initial
    states = []
    for n in range(steps):
        z = feedback * torch.roll(x, shift, dims=1) + input_scaling * mask * u[:, n, None] + bias
        x = node_response(z, nonlinearity, exponent) @ coupling.T + carry * x[:, -1:]
        if noise_std > 0:
            x = x + noise_std * torch.randn(x.shape, generator=generator, device=x.device)
        states.append(x)
    return torch.stack(states, dim=1)


def sparse_recurrent_matrix(
    nodes: int, density: float, spectral_radius: float, generator: torch.Generator
) -> Tensor:
    """W with a fraction ``density`` of N(0, 1) entries, rescaled to the spectral radius ρ."""
    values = torch.randn(nodes, nodes, generator=generator, dtype=torch.float64)
    keep = torch.rand(nodes, nodes, generator=generator, dtype=torch.float64) < density
    w = values * keep
    radius = torch.linalg.eigvals(w).abs().max()
    if radius == 0:
        raise ValueError(f"density {density} leaves the {nodes}-node recurrent matrix empty")
    return (w * (spectral_radius / radius)).to(torch.float32)


@contextlib.contextmanager
def serial_threads(device: torch.device) -> Iterator[None]:
    """One intra-op thread on CPU for the duration (restored afterwards).

    A recurrence over vectors of a few thousand numbers is a chain of microsecond-sized ops;
    their fork/join across threads costs more than it saves, and on a loaded machine, where a
    thread waits for a descheduled sibling, far more (measured: 10-50× slower per step with two
    threads on two busy cores). Elsewhere (CUDA) it changes nothing.
    """
    with intra_op_threads(1) if device.type == "cpu" else contextlib.nullcontext():
        yield


def echo_state_network(
    u: Tensor,
    w_in: Tensor,
    w: Tensor,
    feedback: Tensor,
    input_scaling: Tensor,
    bias: Tensor,
    leak: float,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
    initial: Tensor | None = None,
) -> Tensor:
    """States of the leaky-tanh echo state network for inputs ``u`` (B, T): returns (B, T, N).

    Without autograd (readout-only training, inference) the states are computed in place:
    the input drive γ w_in u(n) + φ of all steps is formed at once in the output buffer and each
    step overwrites its slot, x(n) = lerp(x(n − 1), tanh(α W x(n − 1) + drive(n)), a). A single
    sequence on CPU then runs with one intra-op thread (:func:`serial_threads`) and, when W is
    sparse, with a CSR matrix–vector product (the cost of the N² dense product is the bulk of a
    step otherwise). Both paths agree to rounding.
    """
    tracked = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad
        for t in (u, w_in, w, feedback, input_scaling, bias, initial)
    )
    if not tracked:
        return _echo_state_network_inplace(
            u, w_in, w, feedback, input_scaling, bias, leak, noise_std, generator, initial
        )
    batch, steps = u.shape
    x = u.new_zeros(batch, w.shape[0]) if initial is None else initial
    states = []
    for n in range(steps):
        drive = feedback * (x @ w.T) + input_scaling * w_in * u[:, n, None] + bias
        x = (1 - leak) * x + leak * torch.tanh(drive)
        if noise_std > 0:
            x = x + noise_std * torch.randn(x.shape, generator=generator, device=x.device)
        states.append(x)
    return torch.stack(states, dim=1)


SPARSE_DENSITY = 0.25  # below this fraction of non-zeros a CSR product beats the dense one (CPU)


def csr_if_sparse(matrix: Tensor) -> Tensor:
    """``matrix`` in CSR form with int32 indices (faster than int64 on CPU) when fewer than
    :data:`SPARSE_DENSITY` of its entries are non-zero; otherwise unchanged."""
    if matrix.count_nonzero() >= SPARSE_DENSITY * matrix.numel():
        return matrix
    with warnings.catch_warnings():  # "sparse CSR support is in beta": not the user's concern
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
        csr = matrix.to_sparse_csr()
        return torch.sparse_csr_tensor(
            csr.crow_indices().int(),
            csr.col_indices().int(),
            csr.values(),
            csr.shape,
            check_invariants=False,  # valid by construction
        )


def _echo_state_network_inplace(
    u: Tensor,
    w_in: Tensor,
    w: Tensor,
    feedback: Tensor,
    input_scaling: Tensor,
    bias: Tensor,
    leak: float,
    noise_std: float,
    generator: torch.Generator | None,
    initial: Tensor | None,
) -> Tensor:
    """:func:`echo_state_network` without autograd, writing each state into its output slot."""
    batch, steps = u.shape
    nodes = w.shape[0]
    # (B, T, N), one allocation: the drive γ w_in u(n) + φ, then the states
    states = torch.addcmul(bias, u[:, :, None], input_scaling * w_in)
    x = u.new_zeros(batch, nodes) if initial is None else initial.expand(batch, nodes)
    recurrent = feedback * w  # α W

    def add_noise(slot: Tensor) -> None:
        slot += noise_std * torch.randn(slot.shape, generator=generator, device=slot.device)

    if batch == 1 and u.device.type == "cpu":  # one sequence: matrix–vector products
        recurrent, x = csr_if_sparse(recurrent), x[0]
        with serial_threads(u.device):
            for slot in states[0].unbind(0):
                torch.lerp(x, torch.addmv(slot, recurrent, x).tanh_(), leak, out=slot)
                if noise_std > 0:
                    add_noise(slot)
                x = slot
        return states
    for n in range(steps):
        slot = states[:, n]
        torch.lerp(x, torch.addmm(slot, x, recurrent.T).tanh_(), leak, out=slot)
        if noise_std > 0:
            add_noise(slot)
        x = slot
    return states
