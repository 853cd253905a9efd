"""The Fourier-plane classifier: its far field against the analytic Fourier transform of a
uniform aperture, power conservation, the camera's placement, and autograd against finite
differences."""

from __future__ import annotations

import math

import pytest
import torch

from physnn.reality import make_reality
from physnn.substrates import SUBSTRATES
from physnn.substrates.fourier.system import FourierNetwork

TINY = dict(SUBSTRATES["fourier"].tiny)


def _zero(system: FourierNetwork) -> dict[str, torch.Tensor]:
    return {"phase": torch.zeros(system.control_specs()["phase"].shape)}


def test_a_uniform_flat_aperture_images_the_analytic_dirichlet_pattern():
    """Zero phase, no aberration, uniform beam: |E(k)|² = D(k_x)² D(k_y)² / (s N)² per unit
    power N², D(k) = sin(π N k) / sin(π k) (the sampled sinc of an N-pixel aperture,
    Goodman §4.4), k = (pixel − C/2) / (s N)."""
    system = FourierNetwork.from_preset("default", beam_waist=None)
    n, s, c = system.config.slm_size, system.config.camera_scale, system.config.camera_size
    image = system.camera_image(torch.zeros(1, 8, 8), _zero(system), system.nominal_nuisance())[0]
    k = (torch.arange(c, dtype=torch.float64) - c / 2) / (s * n)
    dirichlet = torch.where(
        k == 0, torch.tensor(float(n), dtype=torch.float64),
        torch.sin(math.pi * n * k) / torch.sin(math.pi * k),
    )  # fmt: skip
    expected = (dirichlet[:, None] * dirichlet[None, :]).square() / (s * n) ** 2 / n**2
    torch.testing.assert_close(image.double(), expected, rtol=1e-4, atol=1e-7)
    assert float(image.max()) == pytest.approx(1 / s**2, rel=1e-5)  # the zero order's peak


def test_the_camera_holds_all_the_power_and_a_whole_pixel_offset_rolls_the_image():
    """Parseval: a camera of s N pixels spans one period of k-space, so it collects all the
    power; an offset of 3 pixels moves the image by 3 pixels (k-space is periodic)."""
    system = FourierNetwork.from_preset("default")
    gen = torch.Generator().manual_seed(0)
    controls = system.init_controls(gen)
    x = torch.rand(3, 8, 8, generator=gen)
    nominal = system.nominal_nuisance()
    image = system.camera_image(x, controls, nominal)
    torch.testing.assert_close(image.sum((1, 2)), torch.ones(3))
    moved = system.camera_image(
        x, controls, {**nominal, "camera_offset": torch.tensor([3.0, -2.0])}
    )
    torch.testing.assert_close(moved, image.roll((-2, 3), dims=(1, 2)), rtol=1e-3, atol=1e-6)
    y = system(x, controls, nominal)
    torch.testing.assert_close(y.sum(1), torch.ones(3))


def test_a_blaze_steers_the_beam_to_the_predicted_pixel():
    """A phase ramp of m/(s N) cycles per pixel along x puts the spot m camera pixels right of
    the axis (columns grow with k_x); a 90° camera rotation moves it onto the column."""
    system = FourierNetwork.from_preset("default")
    n, s, c = system.config.slm_size, system.config.camera_scale, system.config.camera_size
    ramp = 2 * math.pi * 8 / (s * n) * torch.arange(n, dtype=torch.float32)
    controls = {"phase": torch.remainder(ramp, 2 * math.pi).expand(n, n).clone()}
    image = system.camera_image(torch.zeros(1, 8, 8), controls, system.nominal_nuisance())[0]
    assert divmod(int(image.argmax()), c) == (c // 2, c // 2 + 8)
    turned = {**system.nominal_nuisance(), "camera_rotation": math.pi / 2}
    image = system.camera_image(torch.zeros(1, 8, 8), controls, turned)[0]
    row, col = divmod(int(image.argmax()), c)
    assert col == c // 2 and abs(row - c // 2) == 8


def test_autograd_matches_finite_differences_in_double_precision():
    system = FourierNetwork.from_preset("default", **TINY).double()
    gen = torch.Generator().manual_seed(1)
    phase = system.init_controls(gen)["phase"].double().requires_grad_()
    x = torch.rand(2, 8, 8, generator=gen, dtype=torch.float64)
    nuisance = system.nominal_nuisance()
    focal = torch.tensor(0.01, dtype=torch.float64, requires_grad=True)
    defocus = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    offset = torch.tensor([0.4, -0.2], dtype=torch.float64, requires_grad=True)

    def outputs(phase, focal, defocus, offset):
        values = {**nuisance, "focal_scale": focal, "defocus": defocus, "camera_offset": offset,
                  "phase_scale": 0.05, "phase_curvature": 0.03}  # fmt: skip
        return system(x, {"phase": phase}, values)

    assert torch.autograd.gradcheck(outputs, (phase, focal, defocus, offset), eps=1e-6, atol=1e-6)


def test_the_gap_family_draws_a_different_setup_per_seed():
    system = FourierNetwork.from_preset("default", **TINY)
    reality = make_reality(system, "moderate")
    a = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    b = reality.sample_nuisance(system, torch.Generator().manual_seed(1))
    assert not torch.equal(a["camera_offset"], b["camera_offset"])
    assert a["defocus"] != b["defocus"] and a["phase_levels"] == 256
    none = make_reality(system, "none").sample_nuisance(system, torch.Generator())
    assert float(none["camera_offset"].abs().sum()) == 0 and none["defocus"] == 0
