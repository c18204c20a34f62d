"""One declaration per setting: the schema behind configs, flags, model files, server limits and the tuner.

A setting is a field of a plain dataclass, declared with ``setting(default, doc=..., low=..., high=...)``:
its type is the field's annotation (a ``Literal`` gives its choices), its default, range and one line of
doc are the field's metadata. Everything else is derived from that declaration:

- ``load_dataclass`` reads a YAML file (with dotted ``key=value`` overrides) into the dataclass, each
  value checked as it is read, so an error names the file, the line and the key;
- ``build`` and ``check_instance`` apply the same checks to values from JSON (a model's ``config.json``)
  or from code (``ServeLimits``);
- ``settings_of`` lists the settings, for the command line's flags, the tuner's search space and the
  reference page ``docs/configuration.md`` (``reference_markdown``).

Errors are ``ConfigError`` (an ``SRLFormatError``) and name keys, never command-line flags.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from albert_srl.errors import SRLFormatError

T = TypeVar("T")
Lines = dict[str, int | None]  # dotted key -> 1-based line in the file it came from (None: not from a file)


class ConfigError(SRLFormatError):
    """A setting that cannot be used: unknown key, wrong type, out of range, missing file.

    ``path`` and ``line`` locate it (the config file, or what the values came from)."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    low: float | None = None,
    high: float | None = None,
    above: bool = False,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field declaring one setting: ``default`` (or ``factory`` for a list or a section; neither
    for a required one), the allowed range ``low``..``high`` (inclusive; ``above``: strictly more than
    ``low``) and a one-line ``doc``."""
    metadata = {"doc": doc, "low": low, "high": high, "above": above}
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def like(cls: type, name: str, default: Any = dataclasses.MISSING, doc: str | None = None) -> Any:
    """The field ``name`` of ``cls`` declared again for another dataclass that shares the setting (its
    range and doc; a different ``default`` or ``doc`` where given), so it is never written twice."""
    source = {f.name: f for f in dataclasses.fields(cls)}[name]
    metadata = {**source.metadata, **({"doc": doc} if doc is not None else {})}
    if default is dataclasses.MISSING:
        return dataclasses.field(
            default=source.default, default_factory=source.default_factory, metadata=metadata
        )
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One declared setting, as found by ``settings_of``: its dotted ``key``, type and declaration."""

    key: str
    hint: Any
    default: Any  # dataclasses.MISSING when the setting is required
    doc: str
    low: float | None = None
    high: float | None = None
    above: bool = False

    @property
    def name(self) -> str:
        return self.key.rpartition(".")[2]

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    @property
    def choices(self) -> tuple[Any, ...]:
        """The allowed values of a ``Literal`` setting (of ``Literal[...] | None`` too), else ``()``."""
        hint = _without_none(self.hint)
        return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()

    @property
    def scalar(self) -> type | None:
        """``int``, ``float``, ``bool`` or ``str`` for a setting with one such value, else ``None``."""
        hint = _without_none(self.hint)
        if typing.get_origin(hint) is Literal:
            return type(typing.get_args(hint)[0])
        return hint if hint in (int, float, bool, str) else None

    def check(self, value: Any, source: str, line: int | None = None) -> Any:
        """``value`` as the setting's type (ints widen to floats, and so does a string such as ``5e-5``:
        a float to YAML 1.2 but a string to PyYAML), checked against its range or choices. A bad value
        raises ``ConfigError(source, line, ...)`` naming the key and what is allowed."""
        return _coerce(value, self.hint, self, source, line)

    def parse(self, text: str, source: str) -> Any:
        """A value written as text, checked: a YAML scalar (as in ``--set``), or for a string setting the
        text itself (a study name ``123`` is not a number)."""
        if self.scalar is str and not self.choices:
            return self.check(text, source)
        return self.check(parse_scalar(text, f"{self.key}={text}", source), source)

    def range_text(self) -> str:
        """``from 1 to 128``, ``1 or more``, ``more than 0``; ``""`` for no range."""
        low, high = self.low, self.high
        if self.above:
            return f"more than {low}" + (f", at most {high}" if high is not None else "")
        if low is not None and high is not None:
            return f"from {low} to {high}"
        if low is not None:
            return f"{low} or more"
        return f"at most {high}" if high is not None else ""

    def in_range(self, value: float) -> bool:
        """Within the declared range; never nan or infinite (a learning rate of inf trains a model of
        nans), whatever the range."""
        if (isinstance(value, float) and not math.isfinite(value)) or (
            self.high is not None and value > self.high
        ):
            return False
        if self.low is None:
            return True
        return value > self.low if self.above else value >= self.low


def settings_of(cls: type, prefix: str = "") -> list[Setting]:
    """Every setting of dataclass ``cls``, sections (fields that are dataclasses) opened into dotted keys."""
    hints = typing.get_type_hints(cls)
    found: list[Setting] = []
    for f in dataclasses.fields(cls):
        key, hint = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(hint):
            found.extend(settings_of(typing.cast(type, hint), f"{key}."))
            continue
        found.append(declared(f, hint, key))
    return found


def declared(f: dataclasses.Field[Any], hint: Any, key: str) -> Setting:
    """The ``Setting`` a dataclass field declares (a plain field declares its type alone)."""
    default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
    meta = f.metadata
    return Setting(
        key, hint, default, meta.get("doc", ""), meta.get("low"), meta.get("high"), meta.get("above", False)
    )


def setting_of(cls: type, key: str) -> Setting:
    """The setting of ``cls`` with dotted ``key``; ``KeyError`` when there is none."""
    for found in settings_of(cls):
        if found.key == key:
            return found
    raise KeyError(key)


def type_name(hint: Any) -> str:
    """A short name of a type annotation for messages and the reference page: ``int``, ``list[str]``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is Literal:
        return type_name(type(typing.get_args(hint)[0]))
    if hint is type(None):
        return "null"
    return str(hint).replace("typing.", "") if typing.get_args(hint) else getattr(hint, "__name__", str(hint))


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


# ---------------------------------------------------------------------------------------------------
# reading values: YAML files, overrides, mappings


def read_yaml(path: str | Path, what: str = "config") -> tuple[dict[str, Any], Lines]:
    """The mapping in a YAML file and the line of each of its (dotted) keys; an unreadable file, invalid
    YAML or a file that is not a mapping raises ``ConfigError`` naming the file (and the line)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(source, None, f"cannot read {what}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        message = f"not a YAML {what}: byte {error.start + 1} is not UTF-8 text"
        raise ConfigError(source, None, message) from None
    try:
        node = yaml.compose(text)
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(source, mark.line + 1 if mark else None, f"invalid YAML: {error}") from error
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(source, 1, f"a {what} must be a mapping of keys to values")
    return values, key_lines(node) if node is not None else {}


def key_lines(node: yaml.Node, prefix: str = "") -> Lines:
    """1-based line of every (dotted) key in a composed YAML mapping."""
    lines: Lines = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            lines[key] = key_node.start_mark.line + 1
            lines.update(key_lines(value_node, f"{key}."))
    return lines


def parse_scalar(text: str, what: str, source: str) -> Any:
    """A YAML scalar written as text (``3``, ``2e-3``, ``null``, ``softmax``); empty text is ``None``."""
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(source, None, f"{what}: value is not YAML: {error}") from error


def load_dataclass(cls: type[T], path: str | Path, overrides: Sequence[str] = ()) -> T:
    """Build dataclass ``cls`` from the YAML mapping in ``path`` with dotted ``key=value`` overrides."""
    source = str(path)
    values, lines = read_yaml(path)
    apply_overrides(values, lines, overrides, source)
    return build(cls, values, source, lines)


def apply_overrides(values: dict[str, Any], lines: Lines, overrides: Sequence[str], source: str) -> None:
    """Set each dotted ``key=value`` (a YAML scalar) in ``values``; its line becomes unknown."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(source, None, f"override {override!r} is not key=value")
        key = key.strip()
        _set_dotted(values, key, parse_scalar(raw, f"override {override!r}", source), source)
        lines[key] = None


def _set_dotted(values: dict[str, Any], key: str, value: Any, source: str) -> None:
    *parents, last = key.split(".")
    target = values
    for i, part in enumerate(parents):
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(source, None, f"{'.'.join(parents[: i + 1])} is not a section ({key})")
        target = child
    target[last] = value


def build(
    cls: type[T], values: dict[str, Any], source: str, lines: Lines | None = None, prefix: str = ""
) -> T:
    """Dataclass ``cls`` from a mapping of its fields (sections nested), every value checked; a key that is
    not a field, a missing required one or a bad value raises ``ConfigError`` naming it."""
    lines = {} if lines is None else lines
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in fields:
            raise ConfigError(source, lines.get(f"{prefix}{key}"), f"unknown key {prefix}{key!s}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(source, None, f"missing required key {key}")
            continue
        hint, value, line = hints[name], values[name], lines.get(key)
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(source, line, f"{key} must be a section of keys, not {value!r}")
            kwargs[name] = build(typing.cast(type, hint), value, source, lines, f"{key}.")
        else:
            kwargs[name] = declared(f, hint, key).check(value, source, line)
    return cls(**kwargs)


def check_instance(instance: Any, source: str) -> None:
    """Check every setting of a dataclass built in code (``ServeLimits(batch_words=0)``)."""
    for found in settings_of(type(instance)):
        value = instance
        for part in found.key.split("."):
            value = getattr(value, part)
        found.check(value, source)


def as_float(value: Any) -> Any:
    """An int or a numeric string (``5e-5``: a float to YAML 1.2, a string to PyYAML's YAML 1.1) as a
    float; anything else unchanged, for the type check to refuse."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
        except OverflowError:  # an int beyond any float: infinite, for the range check to refuse
            return math.inf if typing.cast(int, value) > 0 else -math.inf
    return value


def _coerce(value: Any, hint: Any, declared: Setting, source: str, line: int | None) -> Any:
    key = declared.key

    def fail(expected: str) -> ConfigError:
        return ConfigError(source, line, f"{key} must be {expected}, not {value!r}")

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(value, _without_none(hint), declared, source, line)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != isinstance(args[0], bool):
            raise fail("one of " + ", ".join(map(str, args)))
        return value
    if origin in (list, dict):
        if not isinstance(value, origin):
            raise fail("a list" if origin is list else "a mapping")
        item = args[-1] if args else Any
        items = value if origin is list else value.values()
        if item is not Any and not all(isinstance(v, item) and not isinstance(v, bool) for v in items):
            raise fail(f"{'a list' if origin is list else 'a mapping'} of {type_name(item)}")
        return value
    if hint is float:
        value = as_float(value)
    if hint is Any:
        return value
    if (hint in (int, float) and isinstance(value, bool)) or not isinstance(value, hint):
        raise fail(type_name(hint))
    if isinstance(value, int | float) and not isinstance(value, bool) and not declared.in_range(value):
        allowed = declared.range_text()
        if isinstance(value, float) and not math.isfinite(value):
            allowed = f"a finite number{', ' + allowed if allowed else ''}"
        raise ConfigError(source, line, f"{key} is {value!r}: allowed {allowed}")
    return value


# ---------------------------------------------------------------------------------------------------
# the reference page


def reference_markdown(title: str, intro: str, sections: Sequence[tuple[str, str, type]]) -> str:
    """A Markdown page with a table of every setting of each ``(heading, text, dataclass)`` section."""
    out = [f"# {title}", "", intro, ""]
    for heading, text, cls in sections:
        out += [
            f"## {heading}",
            "",
            text,
            "",
            "| key | type | default | allowed | what it is |",
            "|---|---|---|---|---|",
        ]
        for found in settings_of(cls):
            default = "required" if found.required else f"`{_shown(found.default)}`"
            allowed = ", ".join(map(str, found.choices)) if found.choices else found.range_text()
            cells = [f"`{found.key}`", type_name(found.hint), default, allowed, found.doc]
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        out.append("")
    return "\n".join(out)


def _shown(value: Any) -> str:
    if isinstance(value, dict | list) and len(value) > 8:
        return "…"
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).removesuffix("\n...\n").strip()
