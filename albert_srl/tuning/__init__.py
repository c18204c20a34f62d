"""Hyperparameter search with Optuna: ``tune`` runs a study of ``albert-srl train`` trials over a search
space read from YAML (``load_space``), and writes the best config, the trials and a report."""

from albert_srl.tuning.space import Param, SearchSpace, load_space
from albert_srl.tuning.study import TuneResult, tune

__all__ = ["Param", "SearchSpace", "TuneResult", "load_space", "tune"]
