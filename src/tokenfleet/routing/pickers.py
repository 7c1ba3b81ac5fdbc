"""Pickers: choose one candidate from summed scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class MaxScorePicker:
    """Highest score; ties rotate through the tied candidates with a counter (deterministic, no clock)."""

    name: str = "max-score"
    _turn: int = 0

    def pick(self, idx: np.ndarray, scores: np.ndarray) -> int:
        if idx.size == 1:
            return int(idx[0])
        tied = idx[scores >= np.maximum.reduce(scores) - 1e-12]
        return int(tied[self.take_turn(tied.size)])

    def take_turn(self, n_tied: int) -> int:
        """Advance the counter; the position among ``n_tied`` tied candidates (ascending rows) to take."""
        self._turn += 1
        return self._turn % n_tied


@dataclass(slots=True)
class RoundRobinPicker:
    """Cycle through the candidates, ignoring scores."""

    name: str = "round-robin"
    _turn: int = -1

    def pick(self, idx: np.ndarray, scores: np.ndarray) -> int:
        self._turn += 1
        return int(idx[self._turn % idx.size])


@dataclass(slots=True)
class WeightedRandomPicker:
    """Random candidate with probability proportional to score (uniform when all score 0); seeded."""

    seed: int = 0
    name: str = "weighted-random"
    _rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def pick(self, idx: np.ndarray, scores: np.ndarray) -> int:
        tot = float(scores.sum())
        if tot <= 0:
            return int(idx[self._rng.integers(idx.size)])
        return int(idx[self._rng.choice(idx.size, p=scores / tot)])


__all__ = ["MaxScorePicker", "RoundRobinPicker", "WeightedRandomPicker"]
