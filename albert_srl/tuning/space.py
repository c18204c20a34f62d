"""The search space: a YAML file naming config keys, each with its type and range.

```yaml
encoder_lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
encoder.hidden_size: {type: categorical, choices: [128, 256, 384]}
epochs: {type: int, low: 2, high: 6}
```

A key is any training-config key, dotted for sections (``encoder.hidden_size``); a section may also be
written as a nested mapping (``encoder: {hidden_size: {...}}``). Every bound and choice is checked
against the training config with the config's own rules before a trial starts, so a misspelt key or a
value of the wrong type is one ``ConfigError`` naming the space file, the line and the key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from albert_srl.config import TrainConfig, load_config
from albert_srl.settings import ConfigError, Lines, as_float, read_yaml, setting_of

Kind = Literal["float", "int", "categorical"]
FIELDS: dict[str, set[str]] = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
RESERVED = {"output_dir"}  # the tuner gives every trial its own


@dataclass(frozen=True)
class Param:
    """One searched config key: a float or int range (``log`` scale or ``step`` grid) or a list of
    choices."""

    key: str
    kind: Kind
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna ``trial`` picks for this key."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list[Any]:
        """The values that must all be valid config values: both bounds, or every choice."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a study, in file order, and the file they came from."""

    path: str
    params: tuple[Param, ...]

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {param.key: param.suggest(trial) for param in self.params}


def as_overrides(values: dict[str, Any]) -> list[str]:
    """``{"encoder_lr": 1e-4}`` -> ``["encoder_lr=0.0001"]``: ``--set`` arguments that read back as the
    same values (YAML scalars, floats exact)."""
    return [f"{key}={yaml_scalar(value)}" for key, value in values.items()]


def yaml_scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, explicit_end=False)
    return text.removesuffix("\n...\n").strip()


def load_space(path: str | Path, config_path: str | Path, overrides: Sequence[str] = ()) -> SearchSpace:
    """Read a search space and check it against the training config ``config_path`` (with ``overrides``).

    Raises ``ConfigError`` naming ``path``, the line and the key of the first problem.
    """
    source = str(path)
    values, lines = read_yaml(path, "search space")
    if not values:
        raise ConfigError(source, 1, "a search space is a mapping of config keys to {type: ...} ranges")
    params = tuple(
        _param(key, spec, source, lines.get(key)) for key, spec in _flatten(values, "", source, lines)
    )
    space = SearchSpace(source, params)
    _check_against_config(space, config_path, overrides, lines)
    return space


def _flatten(
    values: dict[str, Any], prefix: str, source: str, lines: Lines
) -> list[tuple[str, dict[str, Any]]]:
    """Nested sections -> dotted keys; a mapping with ``type`` is a parameter, one without a section."""
    flat: list[tuple[str, dict[str, Any]]] = []
    for name, spec in values.items():
        key = f"{prefix}{name}"
        if not isinstance(spec, dict):
            raise ConfigError(
                source, lines.get(key), f"{key}: expected {{type: float|int|categorical, ...}}, not {spec!r}"
            )
        if "type" in spec:
            flat.append((key, spec))
        elif spec and all(isinstance(v, dict) for v in spec.values()):
            flat.extend(_flatten(spec, f"{key}.", source, lines))
        else:
            raise ConfigError(source, lines.get(key), f"{key}: missing type (float, int or categorical)")
    return flat


def _param(key: str, spec: dict[str, Any], source: str, line: int | None) -> Param:
    """One parameter, its fields checked: known names, numeric bounds with low < high, a positive low on
    a log scale, no log scale with a step, at least two scalar choices."""

    def fail(message: str) -> ConfigError:
        return ConfigError(source, line, f"{key}: {message}")

    if key in RESERVED:
        raise fail("is set by the tuner (each trial gets its own directory) and cannot be searched")
    kind = spec["type"]
    if kind not in FIELDS:
        raise fail(f"type must be float, int or categorical, not {kind!r}")
    unknown = sorted(set(spec) - FIELDS[kind])
    if unknown:
        raise fail(
            f"unknown field {unknown[0]!r} for type {kind} (fields: {', '.join(sorted(FIELDS[kind]))})"
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise fail("choices must be a list of at least two values")
        if any(isinstance(c, (list, dict)) for c in choices):
            raise fail("choices must be scalars (numbers, strings, booleans or null)")
        if len({yaml_scalar(c) for c in choices}) < len(choices):
            raise fail("choices repeat a value")
        return Param(key, kind, choices=tuple(choices))
    bounds = {name: _number(spec.get(name), kind) for name in ("low", "high", "step")}
    number = int if kind == "int" else (int, float)
    for name, value in bounds.items():
        if name != "step" and value is None:
            raise fail(f"missing {name}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, number)):
            raise fail(f"{name} must be {'an integer' if kind == 'int' else 'a number'}, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(f"{name} must be finite, not {value!r}")
    low, high, step = bounds["low"], bounds["high"], bounds["step"]
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise fail(f"log must be true or false, not {log!r}")
    if not low < high:
        raise fail(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise fail(f"a log scale needs low > 0, not {low}")
    if step is not None and (step <= 0 or log):
        raise fail("step must be positive, and cannot go with log: true")
    if kind == "float":  # so that the config's check sees floats, as the trials will draw them
        low, high, step = float(low), float(high), None if step is None else float(step)
    return Param(key, kind, low=low, high=high, log=log, step=step)


def _number(value: Any, kind: Kind) -> Any:
    """PyYAML reads ``1e-5`` (no dot) as a string; take it as the float it means."""
    return as_float(value) if kind == "float" else value


def _check_against_config(
    space: SearchSpace, config_path: str | Path, overrides: Sequence[str], lines: Lines
) -> None:
    """Check each bound and choice against the training config's declared setting (its type and range),
    then load the config with it, so that the checks spanning keys run too; an error is reported against
    the space file."""
    load_config(config_path, overrides)  # a broken base config is the config's error, not the space's
    for param in space.params:
        line = lines.get(param.key)
        try:
            declared = setting_of(TrainConfig, param.key)
        except KeyError:
            raise ConfigError(space.path, line, f"{param.key}: unknown key {param.key}") from None
        for value in param.extremes():
            try:
                declared.check(value, space.path, line)
                load_config(config_path, [*overrides, *as_overrides({param.key: value})])
            except ConfigError as error:
                raise ConfigError(space.path, line, f"{param.key}: {error.message}") from error
