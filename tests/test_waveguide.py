"""2-D programmable waveguide: BPM physics against closed forms, the system contract, its gap."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.waveguide.gap
import physnn.substrates.waveguide.system  # noqa: F401  (registers the system)
from physnn.errors import ConfigError
from physnn.physics import bpm
from physnn.reality.levels import LEVELS, make_reality
from physnn.substrates.waveguide.system import INDEX_UNIT, ProgrammableWaveguide

WAVELENGTH, N0 = 1.55e-6, 1.8
K = 2 * math.pi * N0 / WAVELENGTH

TINY = {"width": 128e-6, "length": 1e-3, "grid_x": 64, "steps": 8, "pixels_x": 6,
        "pixels_z": 4, "num_inputs": 9, "input_pitch": 6e-6, "input_waist": 4e-6,
        "num_classes": 4, "detector_width": 8e-6, "detector_pitch": 12e-6,
        "absorber_width": 16e-6}  # fmt: skip


def _grid(nx: int = 1024, dx: float = 0.5e-6) -> torch.Tensor:
    return bpm.transverse_axis(nx, dx, dtype=torch.float64)


def _analytic_gaussian(x: torch.Tensor, w0: float, z: float) -> torch.Tensor:
    """Slab Gaussian beam from w(z), R(z) and the 1-D Gouy phase, written out independently."""
    z_r = K * w0**2 / 2
    w = w0 * math.sqrt(1 + (z / z_r) ** 2)
    inv_r = z / (z**2 + z_r**2)
    gouy = math.atan(z / z_r)
    phase = K * x**2 * inv_r / 2 - gouy / 2
    return math.sqrt(w0 / w) * torch.exp(-(x**2) / w**2) * torch.exp(1j * phase)


# ----------------------------------------------------------------------------- physics
def test_free_gaussian_beam_matches_the_paraxial_solution():
    x, w0, length, steps = _grid(), 4e-6, 300e-6, 12
    start = bpm.gaussian_beam(x, 0.0, w0, WAVELENGTH, N0).to(torch.complex128)
    out = bpm.bpm_propagate(
        start, torch.zeros(steps, x.numel(), dtype=torch.float64), 0.5e-6,
        length / steps, WAVELENGTH, N0,
    )  # fmt: skip
    expected = _analytic_gaussian(x, w0, length)
    assert (out - expected).abs().max() < 1e-9
    # the width w(z) = w0 √(1 + (z/z_R)²) from the second moment ⟨x²⟩ = w²/4
    intensity = out.abs().square()
    width = 2 * torch.sqrt((x**2 * intensity).sum() / intensity.sum())
    z_r = K * w0**2 / 2
    assert width.item() == pytest.approx(w0 * math.sqrt(1 + (length / z_r) ** 2), rel=1e-9)
    # the analytic helper agrees with the explicit formula at any z
    assert (bpm.gaussian_beam(x, 0.0, w0, WAVELENGTH, N0, z=length) - expected).abs().max() < 1e-6


def test_uniform_index_adds_exactly_k0_dn_z():
    x, dn, length, steps = _grid(256, 1e-6), 7e-4, 2e-3, 10
    start = bpm.gaussian_beam(x, 3e-6, 6e-6, WAVELENGTH, N0).to(torch.complex128)
    free = bpm.bpm_propagate(start, torch.zeros(steps, 256, dtype=torch.float64), 1e-6,
                             length / steps, WAVELENGTH, N0)  # fmt: skip
    shifted = bpm.bpm_propagate(start, torch.full((steps, 256), dn, dtype=torch.float64), 1e-6,
                                length / steps, WAVELENGTH, N0)  # fmt: skip
    phase = 2 * math.pi / WAVELENGTH * dn * length
    assert (shifted - free * complex(math.cos(phase), math.sin(phase))).abs().max() < 1e-12


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_power_is_conserved_without_absorption(dtype, tol):
    gen = torch.Generator().manual_seed(0)
    x = bpm.transverse_axis(128, 2e-6, dtype=dtype)
    start = bpm.gaussian_beam(x, torch.tensor([[-20e-6], [0.0], [15e-6]], dtype=dtype), 5e-6,
                              WAVELENGTH, N0)  # fmt: skip
    delta_n = 1e-3 * torch.rand(50, 128, generator=gen, dtype=dtype)
    out = bpm.bpm_propagate(start, delta_n, 2e-6, 80e-6, WAVELENGTH, N0)
    power_in, power_out = start.abs().square().sum(-1), out.abs().square().sum(-1)
    assert torch.allclose(power_out, power_in, rtol=tol, atol=0)


def test_an_index_stripe_guides_light():
    x, steps, length = _grid(256, 1e-6), 80, 4e-3
    stripe = (x.abs() <= 8e-6).double() * 1e-3  # V = k0 a √(2 n0 Δn) ≈ 1.9
    start = bpm.gaussian_beam(x, 0.0, 6e-6, WAVELENGTH, N0).to(torch.complex128)
    core = x.abs() <= 12e-6

    def fraction_in_core(delta_n):
        out = bpm.bpm_propagate(start, delta_n.expand(steps, -1), 1e-6, length / steps,
                                WAVELENGTH, N0)  # fmt: skip
        intensity = out.abs().square()
        return (intensity[core].sum() / intensity.sum()).item()

    assert fraction_in_core(stripe) > 0.8  # what the mismatched launch does not radiate
    assert fraction_in_core(torch.zeros_like(stripe)) < 0.15


def test_absorbing_boundary_removes_light_that_reaches_the_edges():
    nx, dx = 128, 2e-6
    x = bpm.transverse_axis(nx, dx, dtype=torch.float64)
    tilt = torch.exp(1j * K * 0.05 * x)  # 50 mrad: reaches the edge within a few mm
    start = bpm.gaussian_beam(x, 0.0, 8e-6, WAVELENGTH, N0) * tilt
    absorber = bpm.absorbing_boundary(nx, 20, 2e-3).double()
    index = torch.complex(torch.zeros(60, nx, dtype=torch.float64), absorber.expand(60, -1))
    out = bpm.bpm_propagate(start, index, dx, 100e-6, WAVELENGTH, N0)
    assert out.abs().square().sum() < 0.05 * start.abs().square().sum()
    assert bpm.absorbing_boundary(nx, 0, 2e-3).abs().sum() == 0


def test_checkpointing_gives_the_same_values_and_gradients():
    gen = torch.Generator().manual_seed(1)
    x = bpm.transverse_axis(64, 2e-6)
    start = bpm.gaussian_beam(x, 0.0, 5e-6, WAVELENGTH, N0)
    base = 1e-3 * torch.rand(13, 64, generator=gen)
    results = []
    for every in (0, 4):
        delta_n = base.clone().requires_grad_()
        out = bpm.bpm_propagate(start, delta_n, 2e-6, 50e-6, WAVELENGTH, N0,
                                checkpoint_steps=every)  # fmt: skip
        (out.abs().square() * torch.linspace(0, 1, 64)).sum().backward()
        results.append((out.detach(), delta_n.grad))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert torch.allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)


def test_diffraction_propagator_is_cached_and_unitary():
    a = bpm.diffraction_propagator(64, 1e-6, 10e-6, WAVELENGTH, N0)
    assert a is bpm.diffraction_propagator(64, 1e-6, 10e-6, WAVELENGTH, N0)
    assert torch.allclose(a.abs(), torch.ones(64))


# ----------------------------------------------------------------------------- the system
@pytest.fixture
def tiny() -> ProgrammableWaveguide:
    return ProgrammableWaveguide.from_preset("default", **TINY)


def test_shapes_bounds_and_unit_power(tiny):
    spec = tiny.control_specs()["delta_n"]
    assert spec.shape == (4, 6) and (spec.low, spec.high) == (0.0, 1e-3 / INDEX_UNIT)
    controls = tiny.init_controls(torch.Generator().manual_seed(0))
    for sample in (torch.rand(5, 8, 8), torch.rand(5, 28, 28), torch.rand(5, 12)):
        out = tiny(sample, controls, tiny.nominal_nuisance())
        assert out.shape == (5, 4) and (out >= 0).all() and (out.sum(-1) <= 1 + 1e-5).all()
    field = tiny.encode(torch.rand(3, 12))
    assert torch.allclose(field.abs().square().sum(-1), torch.ones(3), atol=1e-5)
    assert tiny.output_kind == "intensity" and tiny.num_outputs == 4


def test_written_index_is_the_design_and_responds_to_nuisance(tiny):
    full = {"delta_n": torch.full((4, 6), 1.0)}
    half = {"delta_n": torch.full((4, 6), 0.5)}
    nominal = tiny.nominal_nuisance()
    grid = tiny.written_index(full, nominal)
    inner = grid[:, tiny.config.absorber_samples : -tiny.config.absorber_samples]
    assert torch.allclose(inner, torch.full_like(inner, 1e-3))
    assert grid[:, : tiny.config.absorber_samples].abs().max() == 0
    saturated = {**nominal, "index_saturation": 1.0, "index_scale": 0.9}
    # g(u) = (1 + a) u / (1 + a u): g(1) = 1, g(1/2) = 2/3, times the scale
    assert tiny.written_index(full, saturated).max().item() == pytest.approx(0.9e-3, rel=1e-6)
    assert tiny.written_index(half, saturated).max().item() == pytest.approx(0.6e-3, rel=1e-6)
    blurred = tiny.written_index(full, {**nominal, "blur_length": 4e-6})
    assert blurred.sum().item() == pytest.approx(grid.sum().item(), rel=1e-3)  # mass kept
    assert (blurred - grid).abs().max() > 1e-4  # edges softened


def test_gradcheck_in_controls_and_nuisance(tiny):
    system = tiny.double()
    x = torch.rand(2, 3, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    controls = torch.rand(4, 6, generator=gen, dtype=torch.float64) * 0.8 + 0.1
    error = 1e-5 * torch.randn(4, 6, generator=gen, dtype=torch.float64)

    def physics(theta, err_1e3, shift_um, tilt_mrad, blur_um, scale):
        nuisance = {"index_error": 1e-3 * err_1e3, "input_shift": 1e-6 * shift_um,
                    "input_tilt": 1e-3 * tilt_mrad, "blur_length": 1e-6 * blur_um,
                    "index_scale": scale, "index_saturation": 0.3}  # fmt: skip
        return system(x, {"delta_n": theta}, nuisance)

    scalars = torch.tensor([1.0, 1.0, 3.0, 1.05], dtype=torch.float64)  # µm, mrad, µm, 1
    inputs = (controls, 1e3 * error, *scalars.unbind())
    inputs = tuple(t.clone().requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(physics, inputs, eps=1e-6, atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"grid_x": 0}, "grid_x must be positive"),
        ({"delta_n_max": 0.5}, "paraxial"),
        ({"input_waist": 1e-6}, "under-sampled"),
        ({"num_inputs": 200}, "inputs"),
        ({"num_classes": 40}, "detectors"),
        ({"pixels_x": 500}, "pixels_x"),
        ({"pixels_z": 100}, "pixels_z"),
        ({"index_levels": 1}, "index_levels"),
        ({"upsampling": "cubic"}, "upsampling"),
        ({"absorber_width": -1e-6}, "absorber_width"),
    ],
)
def test_bad_configurations_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        ProgrammableWaveguide.from_preset("default", **options)


def test_presets_build_and_quantized_controls_snap():
    for preset in ProgrammableWaveguide.presets:
        system = ProgrammableWaveguide.from_preset(preset)
        assert system.num_outputs == 10
    spec = ProgrammableWaveguide.from_preset("default", index_levels=5).control_specs()["delta_n"]
    assert torch.allclose(spec.project(torch.tensor([0.1, 0.3, 0.9])), torch.tensor([0, 0.25, 1.0]))


# ----------------------------------------------------------------------------- reality gap
def test_gap_levels_build_and_perturb(tiny):
    assert make_reality(tiny, "none").perturbations == ()
    nominal = tiny.nominal_nuisance()
    for level in LEVELS[1:]:
        reality = make_reality(tiny, level)
        assert {p.name for p in reality.perturbations} >= {
            "index-writing-error", "writing-blur", "index-scale-miscalibration",
            "writing-nonlinearity", "input-misalignment", "detector-noise", "monitor-noise",
        }  # fmt: skip
        drawn = reality.sample_nuisance(tiny, torch.Generator().manual_seed(0))
        assert drawn["index_error"].shape == (4, 6)
        changed = [k for k in nominal if not _same(drawn[k], nominal[k])]
        assert set(changed) == set(nominal)
    only_blur = make_reality(tiny, "moderate", {k: 0 for k in ("index_error", "scale_error",
                             "saturation", "input_shift", "input_tilt", "photons",
                                                "monitor_noise")})  # fmt: skip
    assert [p.name for p in only_blur.perturbations] == ["writing-blur"]


def test_moderate_gap_changes_the_forward_map(tiny):
    controls = tiny.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(8, 8, 8)
    nuisance = make_reality(tiny, "moderate").sample_nuisance(
        tiny, torch.Generator().manual_seed(0)
    )
    nominal_out = tiny(x, controls, tiny.nominal_nuisance())
    device_out = tiny(x, controls, nuisance)
    assert (device_out - nominal_out).abs().max() > 0.05 * nominal_out.abs().max()


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return bool(torch.equal(torch.as_tensor(a), torch.as_tensor(b)))
