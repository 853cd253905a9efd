"""Calibrated and learned twins: acquisition, fit, validation, drift refits, checkpoints."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_SYSTEM_OPTIONS, crash_at_estimate, without_timings
from physnn.errors import ConfigError
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods.pat import PhysicsAwareTraining
from physnn.reality import make_reality
from physnn.substrates import SUBSTRATES
from physnn.systems import SYSTEMS
from physnn.train import TrainConfig, train
from physnn.train.checkpoint import load_checkpoint
from physnn.train.setup import build_experiment, prepare_twins
from physnn.twins import make_twin
from physnn.twins.acquisition import relative_error, unflatten_controls

OSCILLATORS = TINY_SYSTEM_OPTIONS["oscillators"]
SMALL_LEARNED = {"settings": 12, "samples_per_setting": 8, "steps": 40, "width": 16, "depth": 1}


def fitted(config: TrainConfig):
    """The experiment of ``config`` with its twins fitted, and the fit's report."""
    exp = build_experiment(config)
    return exp, prepare_twins(exp)


SMALL_CALIBRATION = {"settings": 24, "samples_per_setting": 16, "steps": 200, "lr": 0.2}


def calibration_config(gap_options: dict, seed: int = 0, **twin_options) -> TrainConfig:
    """The tiny D2NN at gap none with ``gap_options``, calibrated with a small fit."""
    return TrainConfig(
        system_options=TINY_SYSTEM_OPTIONS["diffractive"],
        limit_train=128,
        gap="none",
        gap_options=gap_options,
        seed=seed,
        twin="calibrated",
        twin_options={**SMALL_CALIBRATION, **twin_options},
    )


def fitted_shifts(report: dict) -> torch.Tensor:
    """The plane shifts the calibration found, in pixels."""
    return torch.tensor(report["parameters"]["plane_shift"]["values"])


def hidden_shifts(exp) -> torch.Tensor:
    """The device's hidden plane shifts, in pixels (read for the test only)."""
    return exp.device._nuisance["plane_shift"] / exp.system.config.pitch


def test_calibration_recovers_an_injected_lateral_misalignment():
    """Planes shifted by N(0, (0.5 px)²) each, photon noise of 1e6 per input: one start (the
    design) suffices, and the fitted shifts agree with the hidden ones to 0.05 px (a tenth of
    the injected spread)."""
    exp, report = fitted(calibration_config({"lateral": 0.5, "photons": 1e6}, restarts=1))
    true, found = hidden_shifts(exp), fitted_shifts(report)
    assert true.abs().max() > 0.3  # a misalignment worth finding
    assert (found - true).abs().max() < 0.05
    assert max(map(abs, report["parameters"]["plane_dz"]["values"])) < 0.05  # none injected
    assert report["validation_error"] < 0.25 * report["error_before"]
    assert report["queries"] == 24 * 16 and report["writes"] >= 24
    assert exp.device.stats("calibration").queries == report["queries"]
    assert exp.device.stats("train").queries == 0
    block = exp.model.physical_blocks()[0]
    assert torch.equal(exp.device.read_controls()["phase"], block.hardware_controls()["phase"])


def test_a_multi_start_fit_recovers_a_misalignment_a_single_start_misses():
    """Planes shifted by N(0, (1 px)²); in seed 3 by up to 2.4 px, beyond the basin (about a
    pixel wide) around the truth that a fit from the design can slide into. Without the coarse
    scan, the fit from the design alone stalls on a plateau; the best of three starts (each
    fitted briefly, chosen by the error on the fitting data alone, then fitted on and polished)
    recovers every shift to 0.05 px."""
    found = {}
    for restarts in (1, 3):
        config = calibration_config(
            {"lateral": 1.0, "photons": 1e6},
            seed=3,
            restarts=restarts,
            scan_rounds=0,
            scout_steps=100,
        )
        exp, report = fitted(config)
        true = hidden_shifts(exp)
        found[restarts] = ((fitted_shifts(report) - true).abs().max(), report)
    assert true.abs().max() > 2
    assert found[1][0] > 0.5
    assert found[3][0] < 0.05
    starts = found[3][1]["starts"]
    assert starts["errors"][starts["chosen"]] == min(starts["errors"])
    assert found[3][1]["error_after"] < found[1][1]["error_after"] / 5


def test_the_coarse_scan_brings_a_plane_two_pixels_off_into_the_basin_of_the_fit():
    """One plane 2 px off in x and 1.5 px in y, the others aligned: the gradient fit from the
    design stalls (the basin is about a pixel wide); the coarse scan moves that plane onto the
    grid point nearest the truth, and the same fit from there recovers it to 0.05 px."""
    found = {}
    for rounds in (0, 2):
        exp = build_experiment(calibration_config({"photons": 1e6}, restarts=1, scan_rounds=rounds))
        pitch = exp.system.config.pitch
        true = torch.zeros_like(exp.system.nominal_nuisance()["plane_shift"])
        true[1] = torch.tensor([2.0, -1.5])
        exp.device._nuisance["plane_shift"] = true * pitch
        report = prepare_twins(exp)
        found[rounds] = ((fitted_shifts(report) - true).abs().max(), report)
    assert found[0][0] > 0.5
    assert found[2][0] < 0.05
    scan = found[2][1]["scan"]
    assert scan["moves"] >= 2 and scan["error_after"] < scan["error_before"]
    assert found[0][1]["scan"]["rounds"] == 0


def test_learned_twin_generalizes_to_held_out_control_settings():
    """Without any physics, the surrogate predicts control settings it never saw with an rms
    error below 0.3 of the outputs' spread (it explains > 90 % of their variance), and at
    least four times better than the device's own noise-free outputs at the operating point
    would: it has learned how the controls act, which is what PAT takes from it."""
    options = {"settings": 320, "samples_per_setting": 3, "steps": 500, "width": 64, "depth": 2,
               "lr": 3e-3}  # fmt: skip
    config = TrainConfig(
        system="oscillators", system_options=OSCILLATORS, gap="moderate", twin="learned",
        twin_options=options,
    )  # fmt: skip
    exp, report = fitted(config)
    twin = exp.model.physical_blocks()[0].twin
    data = twin.acquired()
    held_out = data.held_out()
    operating_point = unflatten_controls(data.controls[0], twin.specs)
    unmoved = exp.device.oracle_forward(held_out.inputs, operating_point)
    ignoring_controls = relative_error(unmoved, held_out.outputs, twin.output_scale)
    assert report["validation_error"] < 0.3
    assert report["validation_error"] < ignoring_controls / 4
    assert report["network"] == "90 → 64 → 64 → 9 (+ affine shortcut)"


class DriftingDevice(SimulatedDevice):
    """A simulated oscillator chain whose frequencies all rise by 3 % after ``after`` training
    queries (a temperature step in the lab)."""

    def __init__(self, config: TrainConfig, after: int) -> None:
        system = SYSTEMS[config.system].from_preset(config.preset, **config.system_options)
        super().__init__(system, make_reality(system, config.gap), seed=config.seed)
        self.after = after

    def _measure(self, x: torch.Tensor) -> torch.Tensor:
        if self.stats("train").queries >= self.after:
            self._nuisance = {**self._nuisance, "frequency_drift": 0.03}
        return super()._measure(x)


def test_a_drifting_device_triggers_a_refit_that_follows_it(tmp_path):
    """The twin calibrates the chain's common frequency offset; when the device drifts by 3 %
    in the second epoch, PAT's measurements show it, and one refit brings the twin back."""
    options = {"parameters": ["frequency_drift"], "settings": 8, "samples_per_setting": 8,
               "steps": 20, "lr": 1.0, "refit_window": 4, "refit_steps": 15,
               "restarts": 1}  # fmt: skip
    config = TrainConfig(
        system="oscillators", system_options=OSCILLATORS, gap="mild", method="pat",
        limit_train=128, batch_size=16, epochs=2, twin="calibrated", twin_options=options,
    )  # fmt: skip
    steady = train(
        config, tmp_path / "steady", progress=False, device=DriftingDevice(config, 10**9)
    )
    assert [row["twin_refits"] for row in steady["history"]] == [0, 0]

    drifting = train(config, tmp_path / "drift", progress=False, device=DriftingDevice(config, 128))
    assert [row["twin_refits"] for row in drifting["history"]] == [0, 1]
    validation = drifting["twin_fit"]["validation_error"]
    assert drifting["history"][-1]["twin_error"] < 2 * validation  # the refit caught up


def test_pat_with_a_learned_twin_resumes_with_the_same_twin(tmp_path, monkeypatch):
    """A crash in epoch 2 and a resume give the uninterrupted run's result and twin, bit for
    bit: the fitted twin lives in the checkpoint, and is never among the trained parameters."""
    config = TrainConfig(
        system="oscillators", system_options=OSCILLATORS, method="pat", limit_train=64,
        batch_size=16, epochs=2, twin="learned", twin_options=SMALL_LEARNED,
    )  # fmt: skip
    reference = train(config, tmp_path / "ref", progress=False)
    crash_at_estimate(monkeypatch, PhysicsAwareTraining, config, tmp_path / "run", 6)
    resumed = train(config, tmp_path / "run", resume=True, progress=False)
    for result in (reference, resumed):
        del result["twin_fit"]["seconds"]
    assert without_timings(resumed) == without_timings(reference)
    assert reference["calibration_queries"] == 12 * 8
    assert {"twin_error", "twin_refits"} <= set(reference["history"][-1])

    ref, run = (
        load_checkpoint(p / "checkpoint.pt")["model"] for p in (tmp_path / "ref", tmp_path / "run")
    )
    twin_keys = [k for k in ref if ".twin." in k]
    assert any(k.endswith("weight_0") for k in twin_keys)
    assert all(torch.equal(ref[k], run[k]) for k in twin_keys)

    exp = build_experiment(config)
    twin_tensors = {
        id(t) for t in exp.model.physical_blocks()[0].twin.state_dict(keep_vars=True).values()
    }
    assert not twin_tensors & {id(p) for p in exp.estimator.optimized_parameters(exp.model)}


def test_stacked_blocks_are_fitted_on_the_inputs_they_receive():
    config = TrainConfig(
        system="oscillators", system_options=OSCILLATORS, model="stack:2", twin="learned",
        twin_options=SMALL_LEARNED,
    )  # fmt: skip
    exp, report = fitted(config)
    first, second = (b.twin.acquired().inputs for b in exp.model.physical_blocks())
    assert first.shape[1:] == (8, 8)  # the digits
    assert second.shape[1:] == (9,)  # the first block's rescaled measurements
    assert second.max() <= 1 + 1e-6
    assert len(report["blocks"]) == 2


@pytest.mark.parametrize(
    ("system", "entry"),
    [(name, entry) for name, record in SUBSTRATES.items() for entry in record.calibratable],
)
def test_every_calibratable_entry_has_a_gradient_at_the_design(system, entry):
    physics = SYSTEMS[system].from_preset("default", **TINY_SYSTEM_OPTIONS[system])
    twin = make_twin("calibrated", physics, {"parameters": [entry]})
    offset = twin.offsets()[entry].clone().requires_grad_()
    controls = physics.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(1))
    physics(x, controls, twin.nuisance({entry: offset})).square().sum().backward()
    assert offset.grad is not None and offset.grad.abs().sum() > 0


def test_options_and_unsupported_combinations_fail_clearly(tmp_path):
    physics = SYSTEMS["oscillators"].from_preset("default", **OSCILLATORS)
    with pytest.raises(ConfigError, match="nominal, calibrated, learned"):
        make_twin("neural", physics, {})
    with pytest.raises(ConfigError, match=r"valid: .*samples_per_setting"):
        make_twin("learned", physics, {"sample": 4})
    with pytest.raises(ConfigError, match="validation must be a fraction"):
        make_twin("learned", physics, {"validation": 1.5})
    with pytest.raises(ConfigError, match="restarts must be a positive integer"):
        make_twin("calibrated", physics, {"restarts": 0})
    with pytest.raises(ConfigError, match="scout_steps must be a positive integer no larger"):
        make_twin("calibrated", physics, {"steps": 10, "scout_steps": 20})
    with pytest.raises(ConfigError, match="can fit frequency_error, coupling_error"):
        make_twin("calibrated", physics, {"parameters": ["plane_shift"]})
    crossbar = SYSTEMS["crossbar"].from_preset("default", **TINY_SYSTEM_OPTIONS["crossbar"])
    with pytest.raises(ConfigError, match="supports diffractive, fourier, mzi, oscillators, shg"):
        make_twin("calibrated", crossbar, {})
    hybrid = TrainConfig(
        system="oscillators", system_options=OSCILLATORS, model="hybrid:9", limit_train=32,
        epochs=1, twin="learned", twin_options=SMALL_LEARNED,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="use model pnn, stack:K or post"):
        train(hybrid, tmp_path, progress=False)
