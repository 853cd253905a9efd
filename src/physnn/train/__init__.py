"""Training: configuration, experiment set-up, the loop, checkpoints, update transforms."""

from physnn.train.config import TrainConfig
from physnn.train.loop import accuracy, evaluate, train
from physnn.train.setup import Experiment, build_experiment

__all__ = ["Experiment", "TrainConfig", "accuracy", "build_experiment", "evaluate", "train"]
