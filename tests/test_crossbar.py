"""PCM crossbar: the ideal crossbar is the matmul, converters quantize, drift follows the power
law, programming/drift/read noise match the PCM model's σ formulas within sampling error,
drift compensation, gradients, configuration errors, gap levels and presets."""

from __future__ import annotations

import math

import pytest
import torch

from physnn.errors import ConfigError
from physnn.physics import crossbar as pcm
from physnn.reality import make_reality
from physnn.substrates.crossbar.gap import DAY, HOUR, YEAR
from physnn.substrates.crossbar.system import Crossbar
from physnn.systems.base import NoiseSource

IDEAL = {"input_bits": None, "output_bits": None, "activation": "none"}


def constant_weight(system: Crossbar, value: float) -> dict[str, torch.Tensor]:
    shape = system.control_specs()["weight"].shape
    return {"weight": torch.full(shape, value, dtype=torch.float64)}


def device_readout(system: Crossbar, controls, nuisance, noise=None) -> torch.Tensor:
    """Every device read alone: one-hot inputs give W_eff transposed, (n, m) → (m, n)."""
    eye = torch.eye(system.config.num_inputs, dtype=torch.float64)
    return system(eye, controls, nuisance, noise).T


def test_ideal_crossbar_equals_the_matmul_across_tiles():
    system = Crossbar.from_preset("default", num_inputs=20, num_outputs=9, tile_size=7, **IDEAL)
    gen = torch.Generator().manual_seed(0)
    weight = 2 * torch.rand(9, 20, generator=gen, dtype=torch.float64) - 1
    x = (2 * torch.rand(6, 20, generator=gen) - 1).double()
    y = system(x, {"weight": weight}, system.nominal_nuisance())
    assert torch.allclose(y, x @ weight.T, atol=1e-12)


def test_converters_put_inputs_and_outputs_on_their_levels():
    system = Crossbar.from_preset("default", num_inputs=16, num_outputs=8, tile_size=8,
                                  input_bits=4, output_bits=5, activation="none")  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    x = 1.5 * torch.rand(5, 16, generator=gen) - 0.25
    dac = system.encode(x)
    step_in = 2.0 / (2**4 - 2)
    assert torch.allclose(dac / step_in, (dac / step_in).round(), atol=1e-5)
    assert dac.max() <= 1.0 and dac.min() >= -1.0
    controls = system.init_controls(gen)
    y = system(x, controls, system.nominal_nuisance())
    step_out = 2 * 8.0 / (2**5 - 2)  # the sum of two tiles' codes is a multiple of one code
    assert torch.allclose(y / step_out, (y / step_out).round(), atol=1e-4)
    exact = dac @ controls["weight"].T
    assert (y - exact).abs().max() <= step_out + 1e-5  # two tiles, half a code each


def test_drift_follows_the_power_law_with_the_state_dependent_exponent():
    system = Crossbar.from_preset("default", num_inputs=8, num_outputs=4,
                                  drift_compensation=False, **IDEAL)  # fmt: skip
    gen = torch.Generator().manual_seed(2)
    weight = (0.05 + 0.95 * torch.rand(4, 8, generator=gen, dtype=torch.float64)) * torch.sign(
        torch.randn(4, 8, generator=gen, dtype=torch.float64)
    )
    nuisance = {**system.nominal_nuisance(), "drift_noise": torch.zeros(2, 4, 8)}
    nu = pcm.drift_exponent_mean(weight.abs())  # with ε = 0, ν = μ_ν(g_T)
    for t in (1.0, HOUR, DAY, YEAR):
        g = device_readout(system, {"weight": weight}, {**nuisance, "inference_time": t})
        slope = torch.log(g / weight) / math.log((t + pcm.T0) / pcm.T0)
        assert torch.allclose(slope, -nu, atol=1e-10)
    assert float(pcm.drift_exponent_mean(torch.tensor(0.1))) == pytest.approx(
        0.0244 + 0.0155 * math.log(10)
    )
    lower_clip = float(pcm.drift_exponent_mean(torch.tensor(0.9)))
    assert lower_clip == pytest.approx(0.049)


@pytest.mark.parametrize("g_target", [0.1, 0.6])
def test_drift_exponents_match_the_models_mean_and_spread(g_target):
    system = Crossbar.from_preset("default", num_inputs=100, num_outputs=100,
                                  drift_compensation=False, **IDEAL)  # fmt: skip
    reality = make_reality(system, "none", {"inference_time": YEAR})
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(3))
    g = device_readout(system, constant_weight(system, g_target), nuisance)
    nu = -torch.log(g / g_target) / math.log((YEAR + pcm.T0) / pcm.T0)
    log_g = math.log(g_target)
    mu = min(max(-0.0155 * log_g + 0.0244, 0.049), 0.1)
    sigma = min(max(-0.0125 * log_g - 0.0059, 0.008), 0.045)
    n = nu.numel()
    assert nu.mean().item() == pytest.approx(mu, abs=4 * sigma / math.sqrt(n))
    assert nu.std().item() == pytest.approx(sigma, rel=4 / math.sqrt(2 * n))


@pytest.mark.parametrize("g_target", [0.3, 0.8])
def test_programming_noise_matches_sigma_p_including_the_reset_partner(g_target):
    system = Crossbar.from_preset("default", num_inputs=100, num_outputs=200, **IDEAL)
    reality = make_reality(system, "none", {"programming_noise": 1.0})
    assert not reality.noisy  # programming noise is static: one draw per device
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(4))
    w = device_readout(system, constant_weight(system, g_target), nuisance)
    sigma_p = (-1.1731 * g_target**2 + 1.9650 * g_target + 0.2635) / 25.0
    sigma_0 = 0.2635 / 25.0  # the G⁻ device, targeted at 0 and clipped at 0 (half-normal)
    mean = g_target - sigma_0 / math.sqrt(2 * math.pi)
    std = math.sqrt(sigma_p**2 + sigma_0**2 * (0.5 - 1 / (2 * math.pi)))
    n = w.numel()
    assert w.mean().item() == pytest.approx(mean, abs=4 * std / math.sqrt(n))
    assert w.std().item() == pytest.approx(std, rel=4 / math.sqrt(2 * n))


@pytest.mark.parametrize("time", [0.0, DAY])
def test_read_noise_matches_the_integrated_one_over_f_noise(time):
    n, batch, g_target = 16, 20_000, 0.4
    system = Crossbar.from_preset("default", num_inputs=n, num_outputs=1, **IDEAL)
    nuisance = {**system.nominal_nuisance(), "read_noise_scale": 1.0, "inference_time": time}
    x = torch.ones(batch, n, dtype=torch.float64)
    controls = constant_weight(system, g_target)
    y = system(x, controls, nuisance, NoiseSource(torch.Generator().manual_seed(5)))[:, 0]
    q_s = min(0.0088 / g_target**0.65, 0.2)
    sigma = g_target * q_s * math.sqrt(math.log((time + 20.0 + 250e-9) / (2 * 250e-9)))
    expected = math.sqrt(n) * sigma  # n independent devices at input 1 (the G⁻ devices hold 0)
    assert y.mean().item() == pytest.approx(n * g_target, abs=4 * expected / math.sqrt(batch))
    assert y.std().item() == pytest.approx(expected, rel=4 / math.sqrt(2 * batch))
    noiseless = system(x[:3], controls, nuisance)  # no noise source (the twin): the mean
    assert torch.allclose(noiseless, torch.full_like(noiseless, n * g_target), atol=1e-12)


def test_gaussian_weight_and_output_noise_add_their_variances():
    """aihwkit's model: y_j = Σ_i (W_ji + σ_w ε_ji) x_i + σ_y η_j, so over weight draws and reads
    Var y_j = σ_w² Σ_i x_i² + σ_y²; the weight draw is a nuisance, the output noise per read."""
    n, draws, sigma_w, sigma_y = 16, 4000, 0.05, 0.3
    system = Crossbar.from_preset("default", num_inputs=n, num_outputs=1, **IDEAL)
    reality = make_reality(system, "none", {"weight_noise": sigma_w, "output_noise": sigma_y})
    gen, noise = torch.Generator().manual_seed(6), NoiseSource(torch.Generator().manual_seed(7))
    x = torch.full((1, n), 0.5, dtype=torch.float64)
    controls = constant_weight(system, 0.2)
    y = torch.cat([system(x, controls, reality.sample_nuisance(system, gen), noise)[:, 0]
                   for _ in range(draws)])  # fmt: skip
    expected = math.sqrt(sigma_w**2 * n * 0.25 + sigma_y**2)
    assert y.mean().item() == pytest.approx(n * 0.2 * 0.5, abs=4 * expected / math.sqrt(draws))
    assert y.std().item() == pytest.approx(expected, rel=4 / math.sqrt(2 * draws))
    clean = system(x, controls, system.nominal_nuisance(), noise)
    torch.testing.assert_close(clean, x @ controls["weight"].T)  # both knobs at zero: none


def test_global_drift_compensation_undoes_a_uniform_drift():
    system = Crossbar.from_preset("default", num_inputs=12, num_outputs=5, tile_size=8, **IDEAL)
    gen = torch.Generator().manual_seed(6)
    weight = 0.5 * torch.sign(torch.randn(5, 12, generator=gen, dtype=torch.float64))
    nuisance = {**system.nominal_nuisance(), "drift_noise": torch.zeros(2, 5, 12),
                "inference_time": YEAR}  # fmt: skip
    x = torch.rand(4, 12, generator=gen).double()
    y = system(x, {"weight": weight}, nuisance)
    assert torch.allclose(y, x @ weight.T, atol=1e-12)  # every |W| equal: one ν, undone exactly
    raw = Crossbar.from_preset("default", num_inputs=12, num_outputs=5, tile_size=8,
                               drift_compensation=False, **IDEAL)  # fmt: skip
    factor = ((YEAR + pcm.T0) / pcm.T0) ** -pcm.drift_exponent_mean(torch.tensor(0.5)).item()
    assert torch.allclose(raw(x, {"weight": weight}, nuisance), factor * x @ weight.T, atol=1e-12)


def test_forward_gradients_match_finite_differences():
    system = Crossbar.from_preset("default", num_inputs=5, num_outputs=3, tile_size=3, **IDEAL)
    gen = torch.Generator().manual_seed(7)
    magnitude = 0.2 + 0.7 * torch.rand(3, 5, generator=gen, dtype=torch.float64)
    sign = torch.sign(torch.randn(3, 5, generator=gen, dtype=torch.float64))
    weight = (magnitude * sign).requires_grad_()
    draws = torch.randn(2, 2, 3, 5, generator=gen)
    nuisance = {**system.nominal_nuisance(), "programming_noise": draws[0],
                "programming_noise_scale": 1.0, "drift_noise": draws[1],
                "inference_time": DAY, "read_noise_scale": 1.0}  # fmt: skip
    x = torch.rand(4, 5, generator=gen)

    def forward(weight):
        noise = NoiseSource(torch.Generator().manual_seed(8), differentiable=True)
        return system(x, {"weight": weight}, nuisance, noise)

    assert torch.autograd.gradcheck(forward, (weight,))


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ConfigError, match="tile_size must be positive"):
        Crossbar.from_preset("default", tile_size=0)
    with pytest.raises(ConfigError, match="input_bits must be between 2 and 24"):
        Crossbar.from_preset("default", input_bits=1)
    with pytest.raises(ConfigError, match="output_range must be positive"):
        Crossbar.from_preset("default", output_range=0.0)
    with pytest.raises(ConfigError, match="activation must be one of none, relu"):
        Crossbar.from_preset("default", activation="tanh")


def test_presets_build_and_the_paper_preset_tiles_a_784_input_layer():
    gen = torch.Generator().manual_seed(9)
    for preset in Crossbar.presets:
        system = Crossbar.from_preset(preset)
        controls = system.init_controls(gen)
        y = system(torch.rand(2, 28, 28, generator=gen), controls, system.nominal_nuisance())
        assert y.shape == (2, system.num_outputs) and (y >= 0).all()
    paper = Crossbar.from_preset("legallo2023").config
    assert (paper.tile_size, paper.input_bits, paper.output_bits) == (256, 8, 8)
    assert pcm.split_rows(torch.zeros(256, 784), paper.tile_size).shape == (256, 4, 256)


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_levels_build_and_change_the_output(level):
    system = Crossbar.from_preset("default")
    reality = make_reality(system, level)
    assert {p.name for p in reality.perturbations} == {
        "pcm-programming-noise", "pcm-drift", "pcm-read-noise"}  # fmt: skip
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(10))
    controls = system.init_controls(torch.Generator().manual_seed(11))
    x = torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(12))
    noise = NoiseSource(torch.Generator().manual_seed(13))
    nominal = system(x, controls, system.nominal_nuisance())
    assert not torch.allclose(system(x, controls, nuisance, noise), nominal, atol=1e-3)


def test_a_knob_at_zero_switches_its_perturbation_off():
    system = Crossbar.from_preset("default", **IDEAL)
    controls = system.init_controls(torch.Generator().manual_seed(14))
    x = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(15))
    nominal = system(x, controls, system.nominal_nuisance())
    off = {"programming_noise": 0.0, "inference_time": 0.0, "read_noise": 0.0}
    for knob in off:
        reality = make_reality(system, "moderate", {**off, knob: 1.0 if knob != "inference_time"
                                                    else DAY})  # fmt: skip
        assert len(reality.perturbations) == 1
        nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(16))
        noise = NoiseSource(torch.Generator().manual_seed(17))
        assert not torch.allclose(system(x, controls, nuisance, noise), nominal, atol=1e-4)
    everything_off = make_reality(system, "moderate", off)
    nuisance = everything_off.sample_nuisance(system, torch.Generator().manual_seed(18))
    noise = NoiseSource(torch.Generator().manual_seed(19))
    assert torch.equal(system(x, controls, nuisance, noise), nominal)


# ----------------------------------------------------------------------- pulsed RRAM updates
def fire(weight: float, pulses: int, *, gamma: float, up: float = 1.0, down: float = 1.0,
         cycle: float = 0.0, n: int = 1, step: float = 0.01) -> torch.Tensor:  # fmt: skip
    w = torch.full((n,), weight, dtype=torch.float64)
    return pcm.apply_pulses(w, torch.full((n,), float(pulses), dtype=torch.float64), step,
                            torch.full_like(w, up), torch.full_like(w, down), gamma, cycle,
                            torch.Generator().manual_seed(30))  # fmt: skip


def test_linear_pulses_move_the_weight_by_whole_steps_until_the_bound():
    assert float(fire(0.1, 7, gamma=0.0)) == pytest.approx(0.17, abs=1e-12)
    assert float(fire(0.1, -7, gamma=0.0)) == pytest.approx(0.03, abs=1e-12)
    assert float(fire(0.95, 20, gamma=0.0)) == 1.0  # saturates at w_max


def test_soft_bounds_pulses_follow_the_geometric_closed_form():
    # γ = 1: Δw = s (1 − w) per up pulse, so 1 − w_n = (1 − w_0)(1 − s)^n; likewise down.
    s, w0, n = 0.01, -0.3, 150
    assert float(fire(w0, n, gamma=1.0, step=s)) == pytest.approx(1 - (1 - w0) * (1 - s) ** n)
    assert float(fire(w0, -n, gamma=1.0, step=s)) == pytest.approx(-1 + (1 + w0) * (1 - s) ** n)


def test_asymmetric_steps_drift_up_and_down_cycles_by_the_asymmetry():
    # γ = 0, a = 0.2: n pulses up (1 + a) then n down (1 − a) leave 2 a n s.
    a, n, s = 0.2, 10, 0.01
    up_then = fire(0.0, n, gamma=0.0, up=1 + a, down=1 - a)
    back = pcm.apply_pulses(up_then, torch.tensor([-float(n)], dtype=torch.float64), s,
                            torch.tensor([1 + a]), torch.tensor([1 - a]), 0.0, 0.0,
                            torch.Generator())  # fmt: skip
    assert float(back) == pytest.approx(2 * a * n * s)


def test_cycle_to_cycle_noise_grows_as_the_square_root_of_the_pulse_count():
    n, s, sigma = 25, 0.001, 0.3
    w = fire(0.0, n, gamma=0.0, cycle=sigma, n=20000, step=s)
    assert float(w.mean()) == pytest.approx(n * s, rel=0.01)
    assert float(w.std()) == pytest.approx(s * sigma * math.sqrt(n), rel=0.03)


def test_a_device_with_pulsed_updates_holds_what_its_pulses_made():
    from physnn.hardware.simulated import SimulatedDevice

    system = Crossbar.from_preset("default", **IDEAL)
    knobs = {"pulse_step": 0.01, "update_nonlinearity": 1.0, "update_asymmetry": 0.1,
             "device_variation": 0.3, "cycle_variation": 0.3}  # fmt: skip
    reality = make_reality(system, "none", knobs)
    assert [p.name for p in reality.perturbations] == ["rram-pulsed-updates"]
    device = SimulatedDevice(system, reality, seed=3)
    target = system.init_controls(torch.Generator().manual_seed(31))
    device.write(target)
    assert torch.equal(device.read_controls()["weight"], target["weight"])  # what was asked
    eye = torch.eye(system.config.num_inputs)
    held = device.query(eye).T
    error = (held - target["weight"]).abs()
    assert 0.005 < float(error.mean()) < 0.5  # what the pulses made differs from the request
    state = device.state_dict()
    device.write({"weight": target["weight"] * 0.5})
    device.load_state_dict(state)  # resume restores the held state and the write noise
    assert torch.equal(device.query(eye).T, held)
    exact = SimulatedDevice(system, make_reality(system, "none"), seed=3)
    exact.write(target)
    assert torch.allclose(exact.query(eye).T, target["weight"], atol=1e-6)


def test_pulsed_updates_reject_an_asymmetry_beyond_one():
    system = Crossbar.from_preset("default")
    with pytest.raises(ConfigError, match="update_asymmetry must be in"):
        make_reality(system, "none", {"pulse_step": 0.01, "update_asymmetry": 1.5})


def _gap_nuisance(system: Crossbar, seed: int) -> dict:
    """The nuisance of a device with programming noise and an additive weight error drawn."""
    reality = make_reality(system, "none", {"programming_noise": 1.0, "weight_noise": 0.05})
    return reality.sample_nuisance(system, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("gap", [False, True])
def test_the_transposed_read_is_the_held_weight_transposed_across_tiles(gap):
    system = Crossbar.from_preset("default", num_inputs=20, num_outputs=9, tile_size=7, **IDEAL)
    gen = torch.Generator().manual_seed(40)
    controls = {"weight": 2 * torch.rand(9, 20, generator=gen, dtype=torch.float64) - 1}
    nuisance = _gap_nuisance(system, 41) if gap else system.nominal_nuisance()
    errors = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    held = device_readout(system, controls, nuisance)  # read forward, one row at a time
    torch.testing.assert_close(
        system.transposed_read(errors, controls, nuisance), errors @ held, rtol=1e-12, atol=1e-12
    )


def test_the_transposed_read_through_converters_is_close_to_the_exact_one():
    system = Crossbar.from_preset("default", num_inputs=20, num_outputs=9, tile_size=7,
                                  activation="none")  # fmt: skip
    gen = torch.Generator().manual_seed(42)
    weight = 2 * torch.rand(9, 20, generator=gen, dtype=torch.float64) - 1
    errors = torch.randn(5, 9, generator=gen, dtype=torch.float64)
    read = system.transposed_read(errors, {"weight": weight}, system.nominal_nuisance())
    exact = errors @ weight
    assert float((read - exact).norm() / exact.norm()) < 0.05  # 8-bit converters: 0.029


@pytest.mark.parametrize("gap", [False, True])
def test_the_outer_product_procedure_is_the_exact_weight_gradient(gap):
    # 8-bit converters (rounding passes straight through) and ReLU, over three row tiles; with
    # the additive weight error drawn it stays exact (programming noise is left out: its σ_P
    # depends on W, which the procedure cannot see).
    system = Crossbar.from_preset("default", num_inputs=20, num_outputs=9, tile_size=7)
    gen = torch.Generator().manual_seed(43)
    weight = (2 * torch.rand(9, 20, generator=gen, dtype=torch.float64) - 1).requires_grad_()
    nuisance = system.nominal_nuisance()
    if gap:
        reality = make_reality(system, "none", {"weight_noise": 0.05})
        nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(44))
    x = 2 * torch.rand(6, 20, generator=gen) - 1
    g = torch.randn(6, 9, generator=gen, dtype=torch.float64)
    y, grads, passes = system.measured_gradient("outer-product", x, {"weight": weight},
                                                nuisance, g)  # fmt: skip
    (exact,) = torch.autograd.grad((g * system(x, {"weight": weight}, nuisance)).sum(), weight)
    assert passes == 1 and bool((y > 0).any()) and bool((y == 0).any())
    torch.testing.assert_close(grads["weight"], exact, rtol=1e-5, atol=1e-12)
    assert float((grads["weight"] - exact).norm() / exact.norm()) < 1e-12
