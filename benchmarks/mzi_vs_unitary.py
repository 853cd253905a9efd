"""A 16×16 Clements MZI mesh vs. a digital complex unitary layer on a 2-D toy task.

    python benchmarks/mzi_vs_unitary.py [--task spirals|circles] [--seeds 0 1 2 3 4] [--steps 1500]

Both models see the same input field (a 2-D point → 16 features in [0, 1] → the mesh preset's
coherent amplitude encoding), apply a 16×16 unitary, detect the 16 port powers |z|² and classify
them with a trainable linear readout. The mesh is parameterized by its phases (θ, φ, ψ, Haar
initialization), the digital layer by U = exp(A − A†) with A a free complex matrix. Both are
trained with Adam by backpropagation, full batch, from the same seed; the script prints both test
accuracies per seed and the mean difference over seeds (the acceptance criterion: within 1 point;
with 1000 test points one seed's accuracy has a sampling error of about 0.5 points).
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
from torch import Tensor, nn

from physnn.substrates.mzi.system import MZIMesh

MODES = 16


def toy_task(name: str, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Points in [−1, 1]² and binary labels: two interleaved spirals or two noisy circles."""
    label = torch.randint(0, 2, (count,), generator=generator)
    t = torch.rand(count, generator=generator)
    if name == "spirals":
        angle = 3 * math.pi * t + math.pi * label
        radius = 0.15 + 0.8 * t
    else:
        angle = 2 * math.pi * t
        radius = 0.35 + 0.45 * label
    points = radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return points + 0.03 * torch.randn(points.shape, generator=generator), label


def features(points: Tensor, generator: torch.Generator) -> Tensor:
    """16 random Fourier features (1 + sin(w·p + b)) / 2 ∈ [0, 1] of each point."""
    w = 3.0 * torch.randn(2, MODES, generator=generator)
    b = 2 * math.pi * torch.rand(MODES, generator=generator)
    return (1 + torch.sin(points @ w + b)) / 2


class MeshModel(nn.Module):
    """The MZI system's 16×16 Clements preset with a linear readout of the 16 port powers."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.system = MZIMesh.from_preset("clements16", num_classes=2)
        controls = self.system.init_controls(generator)
        self.controls = nn.ParameterDict({k: nn.Parameter(v) for k, v in controls.items()})
        self.readout = nn.Linear(MODES, 2)

    def forward(self, x: Tensor) -> Tensor:
        powers = self.system(x, dict(self.controls), self.system.nominal_nuisance())
        return self.readout(powers)


class UnitaryModel(nn.Module):
    """Digital baseline: the same encoding, U = exp(A − A†), |z|² and a linear readout."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.encoder = MZIMesh.from_preset("clements16", num_classes=2)
        parts = torch.randn(2, MODES, MODES, generator=generator)
        self.generator_matrix = nn.Parameter(torch.complex(parts[0], parts[1]))
        self.readout = nn.Linear(MODES, 2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.generator_matrix
        unitary = torch.linalg.matrix_exp(a - a.conj().mT)
        field = self.encoder.encode(x) @ unitary.mT
        return self.readout(field.abs().square())


def fit(model: nn.Module, data: tuple[Tensor, ...], steps: int, lr: float) -> float:
    """Full-batch Adam on the training set; returns the test accuracy."""
    x_train, y_train, x_test, y_test = data
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        return (model(x_test).argmax(dim=1) == y_test).float().mean().item()


def compare(task: str, seed: int, samples: int, steps: int, lr: float) -> tuple[float, float]:
    """Test accuracies (mesh, digital unitary) for one seed of the task and of both models."""
    generator = torch.Generator().manual_seed(seed)
    encoding = torch.Generator().manual_seed(seed + 1)
    w_state = encoding.get_state()
    points_train, y_train = toy_task(task, samples, generator)
    points_test, y_test = toy_task(task, samples, generator)
    x_train = features(points_train, encoding)
    encoding.set_state(w_state)  # the same random features for the test points
    x_test = features(points_test, encoding)
    data = (x_train, y_train, x_test, y_test)
    torch.manual_seed(seed)
    mesh_accuracy = fit(MeshModel(generator), data, steps, lr)
    torch.manual_seed(seed)
    unitary_accuracy = fit(UnitaryModel(generator), data, steps, lr)
    return mesh_accuracy, unitary_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("spirals", "circles"), default="spirals")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--samples", type=int, default=1000, help="training and test points each")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()

    print(f"task {args.task}, {args.steps} full-batch Adam steps; test accuracy, %")
    columns = ("seed", "16×16 Clements mesh", "digital exp(A−A†)", "difference")
    widths = (4, 20, 18, 10)
    print("  ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)))
    differences = []
    for seed in args.seeds:
        mesh, unitary = compare(args.task, seed, args.samples, args.steps, args.lr)
        differences.append(100 * (mesh - unitary))
        print(f"{seed:>4}  {100 * mesh:>20.1f}  {100 * unitary:>18.1f}  {differences[-1]:>+10.1f}")
    mean = statistics.mean(differences)
    spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
    print(f"mean difference (mesh − digital): {mean:+.2f} ± {spread:.2f} points")


if __name__ == "__main__":
    main()
