"""The experiment config: one pydantic model, validated once at load, frozen.

Experiment files hold only what differs from the defaults; ``--set dotted.key=value`` overrides
any field. Every rejection names the file, the field and what is allowed (:class:`ConfigError`).
"""

from __future__ import annotations

import copy
import os
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from nsf.config._audit import IDENTIFIER_COLUMNS, AuditConfig, CoarsenRule
from nsf.config._data import DatasetConfig, SplitConfig, TableConfig, TargetConfig
from nsf.config._execution import ExecutionConfig
from nsf.config._features import FeaturesConfig
from nsf.config._frozen import Frozen
from nsf.config._model import ModelConfig, ScoringConfig
from nsf.config._policy import CostColumnsConfig, PolicyConfig
from nsf.config._run import SimulateConfig
from nsf.config._study import (
    INCOME_BAND,
    SCHEDULE_DAYS,
    SIMULATED_THRESHOLD,
    LedgerConfig,
    StudyConfig,
)
from nsf.config._tracking import TrackingConfig
from nsf.errors import NsfError
from nsf.simulator import WorldConfig

__all__ = [
    "IDENTIFIER_COLUMNS",
    "INCOME_BAND",
    "SCHEDULE_DAYS",
    "SIMULATED_THRESHOLD",
    "AuditConfig",
    "CoarsenRule",
    "ConfigError",
    "CostColumnsConfig",
    "DatasetConfig",
    "ExecutionConfig",
    "ExperimentConfig",
    "FeaturesConfig",
    "Frozen",
    "LedgerConfig",
    "ModelConfig",
    "PolicyConfig",
    "ScoringConfig",
    "SimulateConfig",
    "SplitConfig",
    "StudyConfig",
    "TableConfig",
    "TargetConfig",
    "TrackingConfig",
    "WorldConfig",
    "iter_schema",
    "load_config",
]


class ConfigError(NsfError):
    """A config that cannot be used; the message is one line naming the source and field."""


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a date that does not exist (``2019-02-30``) stays text,
    so the config's validation names the field instead of the parser raising ``ValueError``."""


def _timestamp_or_text(loader: _ConfigLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _duplicated_key(node: yaml.Node | None, path: str = "") -> tuple[str, int] | None:
    """The first key that appears twice in one mapping (dotted path, 1-based line), or None.

    YAML itself lets the last of two equal keys win silently; a config refuses it, as it
    refuses an unknown key.
    """
    if isinstance(node, yaml.MappingNode):
        seen: set[tuple[str, str]] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, str(key_node.value))
            name = f"{path}.{key_node.value}" if path else str(key_node.value)
            if key in seen:
                return name, key_node.start_mark.line + 1
            seen.add(key)
            found = _duplicated_key(value_node, name)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicated_key(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _load_yaml(text: str, origin: str, path: str = "", *, lines: bool = True) -> Any:
    """Parse config YAML: duplicated keys are refused (naming the key, with ``path`` before
    it, and the line when ``lines``); impossible dates stay text.

    Raises
    ------
    ConfigError
        A duplicated key (``yaml.YAMLError`` is left to the caller).
    """
    found = _duplicated_key(yaml.compose(text, Loader=_ConfigLoader), path)
    if found:
        where = f" at line {found[1]}" if lines else ""
        raise ConfigError(f"{origin}: duplicated key {found[0]!r}{where} (each key may appear "
                          "once)")
    return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader: plain data only


class ExperimentConfig(BaseModel):
    """One experiment: the world, how it is simulated, and what is done with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Experiment name: the dataset folder's prefix and the MLflow experiment.",
    )
    seed: int = Field(
        20190711, ge=0, le=2**63 - 1, strict=True,
        description="Root seed; all randomness flows from it (an integer: `true` or `7.0` "
        "are refused, not converted).",
    )
    world: WorldConfig = WorldConfig()
    simulate: SimulateConfig = SimulateConfig()
    execution: ExecutionConfig = ExecutionConfig()
    tracking: TrackingConfig = TrackingConfig()
    audit: AuditConfig = AuditConfig()
    dataset: DatasetConfig = DatasetConfig()
    target: TargetConfig = TargetConfig()
    split: SplitConfig = SplitConfig()
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    scoring: ScoringConfig = ScoringConfig()
    study: StudyConfig = StudyConfig()
    policy: PolicyConfig = PolicyConfig()


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected dotted.key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise ConfigError(f"--set {item!r}: {key!r} is not a dotted field name")
    try:
        value = _load_yaml(raw, f"--set {item}", key, lines=False) if raw.strip() else ""
    except yaml.YAMLError as exc:
        # A marked error (the parser's) names its problem; any other says what it is.
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else exc
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({problem})") from None
    return key.split("."), value


def _apply(data: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: {'.'.join(path[: i + 1])} is not a section")
        node = child
    node[path[-1]] = value


def _format_error(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            msg = f"{msg} (got {err['input']!r})"
        parts.append(f"{loc}: {msg}")
    return f"{source}: " + "; ".join(parts)


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of a (possibly ``Annotated`` or ``Optional``) annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in _unwrap(arg)]
    return [annotation]


def _bool_misuse(annotation: Any, value: Any, loc: str) -> str | None:
    """The first place under ``loc`` where a yes/no stands for a number, or None.

    Pydantic converts ``true`` to 1 for an ``int`` field; a config where ``study.seeds: true``
    silently means one seed is refused instead.
    """
    alternatives = _unwrap(annotation)
    if isinstance(value, bool):
        if any(a is bool or a is Any or (typing.get_origin(a) is typing.Literal
                                         and any(isinstance(v, bool) for v in typing.get_args(a)))
               for a in alternatives):
            return None
        if any(a in (int, float) for a in alternatives):
            return loc
        return None
    for alt in alternatives:
        origin = typing.get_origin(alt)
        if isinstance(alt, type) and issubclass(alt, BaseModel) and isinstance(value, Mapping):
            for name, field in alt.model_fields.items():
                key = name if name in value else field.alias
                if key is not None and key in value:
                    found = _bool_misuse(field.annotation, value[key], f"{loc}.{key}")
                    if found:
                        return found
        elif origin in (tuple, list) and isinstance(value, (list, tuple)):
            args = [a for a in typing.get_args(alt) if a is not Ellipsis]
            for i, item in enumerate(value):
                arg = args[min(i, len(args) - 1)] if args else Any
                found = _bool_misuse(arg, item, f"{loc}[{i}]")
                if found:
                    return found
        elif origin is dict and isinstance(value, Mapping):
            arg = typing.get_args(alt)[1] if typing.get_args(alt) else Any
            for key, item in value.items():
                found = _bool_misuse(arg, item, f"{loc}.{key}")
                if found:
                    return found
    return None


#: Paths of a config file that are read relative to the file's folder (when relative), so a
#: config works from any working directory. Paths given with --set stay relative to it.
_FILE_PATHS = (("dataset", "path"), ("dataset", "table", "path"))


def _relative_to(data: dict, folder: Path) -> None:
    """Make the relative data paths of a loaded config file absolute, from ``folder``."""
    for keys in _FILE_PATHS:
        node: Any = data
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(keys[-1]), str):
            value = Path(node[keys[-1]]).expanduser()
            if not value.is_absolute():
                node[keys[-1]] = os.path.normpath(folder / value)


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Read an experiment file (or the defaults), apply ``--set`` overrides and validate once.

    Relative data paths in the file (``dataset.path``, ``dataset.table.path``) are read from
    the file's folder; those given with ``--set`` from the working directory.

    Raises
    ------
    ConfigError
        One line naming the file or override and each offending field with what is allowed.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            loaded = _load_yaml(p.read_text(encoding="utf-8"), source)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{source}: not valid YAML{where}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read ({exc})") from None
        if loaded is None:
            # An empty file (or comments only) would silently run the default job.
            raise ConfigError(f"{source}: the config file is empty; to use the defaults, give "
                              "no config file")
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: top level must be a mapping of sections")
        data = copy.deepcopy(loaded)
        _relative_to(data, p.resolve().parent)
    for item in overrides:
        keys, value = _parse_override(item)
        _apply(data, keys, value, f"--set {item}")
    if overrides:
        source = f"{source} (with --set)"
    misuse = _bool_misuse(ExperimentConfig, data, "")
    if misuse:
        raise ConfigError(f"{source}: {misuse.lstrip('.')}: a number is required, not a "
                          "yes/no value")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None


def config_to_yaml(config: BaseModel) -> str:
    """The resolved config as YAML (secrets shown masked)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; sequences are kept as values."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _range(info: FieldInfo) -> str:
    bounds = []
    for meta in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(meta, attr, None)
            if v is not None:
                bounds.append(f"{sym} {v}")
        mult = getattr(meta, "multiple_of", None)
        if mult is not None:
            bounds.append(f"multiple of {mult}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            bounds.append(f"matches {pattern}")
    # Constrained aliases (Share, Strength) carry their bounds inside the annotation.
    ann = info.annotation
    if typing.get_origin(ann) is typing.Annotated:
        for meta in typing.get_args(ann)[1:]:
            for attr, sym in (("ge", ">="), ("le", "<=")):
                v = getattr(meta, attr, None)
                if v is not None:
                    bounds.append(f"{sym} {v}")
    return ", ".join(bounds)


def iter_schema(
    model: type[BaseModel] = ExperimentConfig, prefix: str = ""
) -> Iterator[tuple[str, str, str, str, str]]:
    """Yield ``(dotted name, type, default, allowed range, meaning)`` for every leaf field."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from iter_schema(ann, f"{prefix}{name}.")
            continue
        # An optional section (``dataset.table``) is listed with its own knobs too.
        inner = [a for a in typing.get_args(ann) if a is not type(None)]
        if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(inner) == 1 \
                and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            yield f"{prefix}{name}", _type_name(ann), "None", "", (info.description or "").strip()
            yield from iter_schema(inner[0], f"{prefix}{name}.")
            continue
        if info.is_required():
            yield f"{prefix}{name}", _type_name(ann), "(required)", _range(info), \
                (info.description or "").strip()
            continue
        default = info.get_default(call_default_factory=True)
        if hasattr(default, "isoformat"):
            default = default.isoformat()
        elif isinstance(default, Path):
            default = str(default)
        meaning = (info.description or "").strip()
        yield f"{prefix}{name}", _type_name(ann), repr(default), _range(info), meaning


def field_names(model: type[BaseModel] = ExperimentConfig) -> Iterable[str]:
    """Every leaf field's dotted name (for tests and completion)."""
    return (row[0] for row in iter_schema(model))
