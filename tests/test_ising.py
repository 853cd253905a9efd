"""The Ising machine: Boltzmann sampling, EP on the sampler and on the mean-field twin, gap levels,
presets and bad configs."""

from __future__ import annotations

import itertools

import pytest
import torch

import physnn.methods.equilibrium  # registers ep
import physnn.substrates.ising.gap
import physnn.substrates.ising.system  # noqa: F401  (registers the system)
from conftest import tiny_run
from physnn.errors import ConfigError, IncompatibleError
from physnn.hardware import SimulatedDevice
from physnn.physics import ising
from physnn.reality import make_reality
from physnn.substrates.ising.system import IsingMachine
from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource
from physnn.train import TrainConfig
from physnn.train.gradcheck import gradcheck

# one fixed input, two hidden spins and one output spin: 3 free spins, 8 configurations
THREE = {"num_inputs": 2, "hidden_sizes": (2,), "num_outputs": 1, "temperature": 1.0}


def three_spins(**options) -> tuple[IsingMachine, dict, torch.Tensor]:
    system = IsingMachine.from_preset("default", **{**THREE, **options})
    gen = torch.Generator().manual_seed(3)
    controls = {k: 0.8 * torch.randn(v.shape, generator=gen).double()
                for k, v in system.control_specs().items()}  # fmt: skip
    x = torch.tensor([[0.9, 0.2]], dtype=torch.float64)
    return system, controls, x


def exact_boltzmann(system, controls, x, force=None):
    """Probabilities of all 8 configurations of (σ_1, σ_2, σ_out) and their spins (enumeration)."""
    weights, fields = system.parameters_of(controls, system.nominal_nuisance())
    configs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=3)), dtype=torch.float64)
    u = system.inputs(x, torch.float64).expand(8, -1)
    states = [u, configs[:, :2], configs[:, 2:]]
    e = ising.energy(states, weights, fields)
    if force is not None:
        e = e - configs[:, 2] * force
    p = torch.softmax(-e / system.config.temperature, dim=0)
    return p, states


def exact_local(p, states):
    """Boltzmann averages of −σ_k σ_{k−1}ᵀ and −σ_k."""
    return {
        "weight_1": -torch.einsum("c,ci,cj->ij", p, states[1], states[0]),
        "field_1": -(p[:, None] * states[1]).sum(0),
        "weight_2": -torch.einsum("c,ci,cj->ij", p, states[2], states[1]),
        "field_2": -(p[:, None] * states[2]).sum(0),
    }


def flat(grads: dict) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_the_sampler_reaches_the_boltzmann_distribution_of_three_spins():
    system, controls, x = three_spins(samples=20000, sweeps=30)
    p, _ = exact_boltzmann(system, controls, x)
    noise = NoiseSource(torch.Generator().manual_seed(0))
    spins = system.anneal(x, controls, system.nominal_nuisance(), noise)
    configs = torch.cat([spins[1][0], spins[2][0]], dim=1)  # (reads, 3)
    index = ((configs > 0).long() * torch.tensor([4, 2, 1])).sum(1)
    freq = torch.bincount(index, minlength=8).double() / 20000
    sigma = (p * (1 - p) / 20000).sqrt()
    assert ((freq - p).abs() < 4 * sigma + 1e-3).all(), (freq, p)
    assert p.max() < 0.9  # a genuinely mixed distribution, not a single ground state


def test_ep_on_the_sampler_estimates_the_gradient_of_the_exact_boltzmann_mean():
    """Exact: at β → 0 the EP contrast of Boltzmann averages is the gradient of ⟨σ_out⟩
    (fluctuation–response); checked by enumeration. The sampler's EP estimate at β = 0.5 then
    agrees with it up to sampling error and the O(β²) bias."""
    system, controls, x = three_spins(samples=40000, sweeps=30)
    leaf = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    p, states = exact_boltzmann(system, leaf, x)
    (p * states[2][:, 0]).sum().backward()
    true = flat({k: v.grad for k, v in leaf.items()})
    beta = 1e-4  # exact EP by enumeration: nudge −β ∂C/∂σ_out with C = σ_out
    plus = exact_local(*exact_boltzmann(system, controls, x, force=-beta))
    minus = exact_local(*exact_boltzmann(system, controls, x, force=beta))
    exact_ep = flat({k: (plus[k] - minus[k]) / (2 * beta) for k in plus})
    assert cosine(exact_ep, true) > 0.9999
    beta = 0.5
    noise = NoiseSource(torch.Generator().manual_seed(1))
    nominal = system.nominal_nuisance()
    force = torch.full((1, 1), beta, dtype=torch.float64)
    plus = system.relax(x, controls, nominal, nudge=-force, noise=noise).local
    minus = system.relax(x, controls, nominal, nudge=force, noise=noise).local
    sampled = flat({k: (plus[k] - minus[k]) / (2 * beta) for k in plus})
    assert cosine(sampled, true) > 0.99


def test_ep_on_the_mean_field_twin_is_its_autograd_gradient_as_beta_goes_to_zero():
    system = IsingMachine.from_preset(
        "default", num_inputs=6, hidden_sizes=(5,), num_outputs=3, mean_field_steps=200
    )
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    controls = {k: v + 0.1 * torch.randn(v.shape, generator=gen).double()
                for k, v in controls.items()}  # fmt: skip
    x = torch.rand(4, 6, generator=gen, dtype=torch.float64)
    g = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    leaf = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    (system(x, leaf, system.nominal_nuisance()) * g).sum().div(4).backward()
    true = flat({k: v.grad for k, v in leaf.items()})
    nominal, beta = system.nominal_nuisance(), 1e-4
    plus = system.relax(x, controls, nominal, nudge=-beta * g).local
    minus = system.relax(x, controls, nominal, nudge=beta * g).local
    ep = flat({k: (plus[k] - minus[k]) / (2 * beta) for k in plus})
    assert cosine(ep, true) > 0.999
    assert torch.allclose(ep, true, rtol=1e-3, atol=1e-6)


def test_mean_field_sweeps_never_increase_the_mean_field_free_energy():
    system, controls, x = three_spins(num_inputs=6, hidden_sizes=(5, 4), num_outputs=3)
    weights, fields = system.parameters_of(controls, system.nominal_nuisance())
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    states = [system.inputs(x, torch.float64)] + [torch.zeros(4, n, dtype=torch.float64)
                                                   for n in (5, 4, 3)]  # fmt: skip
    free = [ising.binary_entropy_free_energy(states, weights, fields, 1.0)]
    for _ in range(40):
        states = ising.mean_field_sweep(states, weights, fields, 1.0)
        free.append(ising.binary_entropy_free_energy(states, weights, fields, 1.0))
    steps = torch.stack(free)
    assert (steps[1:] <= steps[:-1] + 1e-12).all()
    fixed = ising.mean_field_sweep(states, weights, fields, 1.0)
    assert max((a - b).abs().max() for a, b in zip(fixed, states, strict=True)) < 1e-8


def test_without_hidden_spins_the_mean_field_twin_is_the_sampler_mean():
    system = IsingMachine.from_preset(
        "default", num_inputs=4, hidden_sizes=(), num_outputs=3, samples=20000
    )
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(2, 4)
    noise = NoiseSource(torch.Generator().manual_seed(0))
    sampled = system(x, controls, system.nominal_nuisance(), noise)
    assert torch.allclose(sampled, system(x, controls, system.nominal_nuisance()), atol=0.03)


def test_nudge_and_clamp_act_on_the_output_spins():
    system = IsingMachine.from_preset("default", num_inputs=4, hidden_sizes=(6,), num_outputs=2)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x, nominal = torch.rand(8, 4), system.nominal_nuisance()
    force = torch.tensor([[2.0, -2.0]]).expand(8, 2)
    noise = NoiseSource(torch.Generator().manual_seed(0))
    free = system.relax(x, controls, nominal, noise=noise).outputs
    nudged = system.relax(x, controls, nominal, nudge=force, noise=noise).outputs
    assert ((nudged - free) * force).sum() > 0
    target = torch.tensor([[1.0, -1.0]]).expand(8, 2)
    held = system.relax(x, controls, nominal, clamp=target, noise=noise)
    assert torch.equal(held.outputs, target)
    assert torch.allclose(held.local["field_2"], -target.mean(0))
    assert set(held.local) == set(system.control_specs())


def test_presets_and_their_shapes():
    assert set(IsingMachine.presets) == {"default", "laydevant2024", "small"}
    assert SYSTEMS["ising"].from_preset("small").config.sizes == (64, 8, 10)  # 18 free spins
    paper = SYSTEMS["ising"].from_preset("laydevant2024")
    assert paper.control_specs()["weight_1"].shape == (120, 784)
    default = SYSTEMS["ising"].from_preset("default")
    controls = default.init_controls(torch.Generator().manual_seed(1))
    assert default(torch.rand(3, 8, 8), controls, {}).shape == (3, 10)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"hidden_sizes": (0,)}, "layer sizes"),
        ({"sweeps": 0}, "sweeps"),
        ({"samples": 0}, "samples"),
        ({"temperature": 20.0}, "temperature"),
        ({"field_bound": 0.0}, "field_bound"),
        ({"num_outputs": 2.5}, "num_outputs"),
        ({"reads": 3}, "unknown option"),
    ],
)
def test_bad_configs_raise_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        IsingMachine.from_preset("default", **options)


def test_gap_levels_grow_and_knobs_at_zero_are_the_perfect_device():
    system = IsingMachine.from_preset("default", num_inputs=16, hidden_sizes=(8,), num_outputs=6)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(64, 16, generator=torch.Generator().manual_seed(1))
    clean = system.exact_forward(x, controls, system.nominal_nuisance())  # the oracle
    errors = []
    for level in ("mild", "moderate", "severe"):
        device = SimulatedDevice(system, make_reality(system, level), seed=0)
        device.write(controls)
        errors.append(float((device.oracle_forward(x, controls) - clean).abs().mean()))
        assert device._nuisance["temperature_scale"] > 1.0
        assert device._nuisance["precision_bits"] in (8, 6, 4)
    assert errors[0] < errors[1] < errors[2]
    zero = {"missing_couplers": 0, "precision_bits": 0, "control_error": 0, "temperature_error": 0}
    assert make_reality(system, "severe", zero).perturbations == ()
    assert make_reality(system, "none").perturbations == ()
    with pytest.raises(ConfigError, match="gap option"):
        make_reality(system, "mild", {"control_error": -1.0})


def test_quantize_rounds_to_the_levels_of_the_range():
    value = torch.tensor([-3.0, -0.4, 0.1, 0.9])
    q = ising.quantize(value, 1.0, 2)  # levels −1, −1/3, 1/3, 1
    assert torch.allclose(q, torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))


def test_enumeration_gives_one_spin_in_a_field_and_two_coupled_spins_analytically():
    """⟨s⟩ = tanh(a/T) for one spin in the field a = W u + h; for two spins with local fields
    a, b coupled by J, ⟨s_2⟩ = [e^{J/T} sinh((a+b)/T) − e^{−J/T} sinh((a−b)/T)] / (the same with
    cosh)."""
    t, u = 0.7, torch.tensor([[0.4], [-0.9]], dtype=torch.float64)
    w, h = torch.tensor([[1.3]], dtype=torch.float64), torch.tensor([0.25], dtype=torch.float64)
    (one,) = ising.boltzmann_means(u, [w], [h], t)
    torch.testing.assert_close(one, torch.tanh((u @ w.T + h) / t))
    j, h2 = torch.tensor([[-0.8]], dtype=torch.float64), torch.tensor([0.6], dtype=torch.float64)
    first, second = ising.boltzmann_means(u, [w, j], [h, h2], t)
    a, b, jj = (u @ w.T + h) / t, h2 / t, j / t
    odd = torch.exp(jj) * torch.sinh(a + b) - torch.exp(-jj) * torch.sinh(a - b)
    even = torch.exp(jj) * torch.cosh(a + b) + torch.exp(-jj) * torch.cosh(a - b)
    torch.testing.assert_close(second, odd / even)
    odd_first = torch.exp(jj) * torch.sinh(a + b) + torch.exp(-jj) * torch.sinh(a - b)
    torch.testing.assert_close(first, odd_first / even)


def small_network(**options) -> tuple[IsingMachine, dict, torch.Tensor]:
    """4 inputs → 5 hidden → 3 output spins (8 free): Glorot couplings, fields σ = 0.3."""
    system = IsingMachine.from_preset(
        "default", num_inputs=4, hidden_sizes=(5,), num_outputs=3, **options
    )
    gen = torch.Generator().manual_seed(5)
    controls = {k: v.double() + 0.3 * torch.randn(v.shape, generator=gen).double()
                for k, v in system.init_controls(gen).items()}  # fmt: skip
    return system, controls, torch.rand(3, 4, generator=gen, dtype=torch.float64)


def test_the_enumerated_reference_differentiates_like_its_finite_differences():
    system, controls, x = small_network()
    nominal = system.nominal_nuisance()
    names = sorted(controls)

    def outputs(*values: torch.Tensor) -> torch.Tensor:
        return system.exact_forward(x, dict(zip(names, values, strict=True)), nominal)

    leaves = tuple(controls[k].clone().requires_grad_(True) for k in names)
    assert torch.autograd.gradcheck(outputs, leaves, eps=1e-6, atol=1e-7, fast_mode=True)


def test_the_enumerated_reference_is_the_long_gibbs_average():
    reads = 8000
    system, controls, x = small_network(samples=reads, sweeps=30)
    exact = system.exact_forward(x, controls, system.nominal_nuisance())
    noise = NoiseSource(torch.Generator().manual_seed(0))
    sampled = system(x, controls, system.nominal_nuisance(), noise)
    sigma = ((1 - exact**2) / reads).sqrt()  # standard error of the mean of independent reads
    assert ((sampled - exact).abs() < 4 * sigma).all(), (sampled, exact)
    mean_field = system(x, controls, system.nominal_nuisance())
    assert (mean_field - exact).abs().max() > 10 * sigma.max()  # the twin is not the reference


def test_ep_on_the_sampler_agrees_with_the_exact_gradient_of_the_enumerated_outputs():
    system, controls, x = small_network(samples=2000, sweeps=30)
    nominal = system.nominal_nuisance()
    g = torch.randn(3, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    leaf = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    (system.exact_forward(x, leaf, nominal) * g).sum().backward()
    true = flat({k: v.grad for k, v in leaf.items()})
    beta, noise = 0.2, NoiseSource(torch.Generator().manual_seed(1))
    plus = system.relax(x, controls, nominal, nudge=-beta * g, noise=noise).local
    minus = system.relax(x, controls, nominal, nudge=beta * g, noise=noise).local
    sampled = flat({k: x.shape[0] * (plus[k] - minus[k]) / (2 * beta) for k in plus})
    assert cosine(sampled, true) > 0.99
    assert float((sampled - true).norm() / true.norm()) < 0.15


def test_the_exact_reference_refuses_more_than_twenty_free_spins():
    system = IsingMachine.from_preset("default")  # 32 hidden + 10 output spins
    controls = system.init_controls(torch.Generator().manual_seed(0))
    with pytest.raises(IncompatibleError, match="N ≤ 20, but this configuration has 42"):
        system.exact_forward(torch.rand(2, 8, 8), controls, system.nominal_nuisance())


@pytest.mark.parametrize(("hidden", "exact"), [((), True), ((6,), False)])
def test_gradcheck_on_ising_compares_with_the_enumerated_outputs(hidden, exact):
    """Without hidden spins the mean-field twin is the Boltzmann mean, so backprop through it is
    the exact gradient; with interacting hidden spins it is not, and gradcheck says so."""
    options = {"num_inputs": 16, "hidden_sizes": hidden, "num_outputs": 6}
    report = gradcheck(
        TrainConfig(
            method="backprop", gap="none", **{**tiny_run("ising"), "system_options": options}
        ),
        batches=1,
    )
    assert (report["cosine"] > 0.99999) is exact, report["cosine"]
    assert report["reference"] == IsingMachine.exact_reference


def test_the_sampler_refuses_complex_nudges():
    system, controls, x = three_spins()
    noise = NoiseSource(torch.Generator().manual_seed(0))
    with pytest.raises(IncompatibleError, match="complex nudge"):
        system.relax(x, controls, {}, nudge=torch.ones(1, 1, dtype=torch.complex128), noise=noise)
