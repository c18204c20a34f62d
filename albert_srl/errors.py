"""The exceptions a user of the library may catch."""

from __future__ import annotations


class SRLFormatError(ValueError):
    """A file (or request field) that cannot be read as what it claims to be.

    ``path`` and ``line`` (1-based, ``None`` when the problem is the whole file) say where.
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}")


class TrainingDiverged(RuntimeError):
    """A training run whose loss, gradients or weights stopped being finite numbers (a learning rate too
    high, an overflow). The run stops before anything of the diverged steps is written: the checkpoints
    and the best model on disk are the last finite ones.

    ``output`` is the run's output directory; ``message`` says at which step and what was not finite.
    """

    def __init__(self, output: str, message: str) -> None:
        self.output = str(output)
        self.message = message
        super().__init__(f"{self.output}: {message}")
