"""What the API functions take: a chip, system or model given as a catalog id, a path to a
file or a spec object, and `--set`-style chip overrides; and the checks of plain arguments.

Errors name an argument as the command line spells it (`--num-chips` for `num_chips`), so
that a message reads the same from Python and from the command that wraps the function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.errors import SpecError, given

if TYPE_CHECKING:
    from tigris.hardware.chip import Chip
    from tigris.hardware.system import Cluster
    from tigris.workload.spec import TransformerSpec

Overrides = Sequence[str] | Mapping[str, object]


def resolve_chip(chip: str | Path | Chip, overrides: Overrides | None = None) -> Chip:
    """A Chip from a catalog id (`h100-sxm`), a YAML path or a Chip object, with overrides
    ('key.path=value' strings, as `--set` takes them, or a {key.path: value} mapping)
    applied to its file before the whole spec is validated."""
    from tigris.hardware.chip import Chip
    from tigris.hardware.presets import load_chip_with_overrides

    if isinstance(chip, Chip):
        if overrides:
            raise SpecError(
                "overrides apply to a chip file, not to a Chip object",
                key_path="overrides",
                hint="give the chip's id or YAML path, or change the object with model_copy",
            )
        return chip
    _check_text("--chip", chip)
    if isinstance(overrides, Mapping):
        return _chip_with_mapping(str(chip), overrides)
    if isinstance(overrides, str):  # one 'key=value' string: not a sequence of characters
        overrides = [overrides]
    return load_chip_with_overrides(str(chip), list(overrides or []))


def _chip_with_mapping(name: str, overrides: Mapping[str, object]) -> Chip:
    from tigris.hardware.chip import Chip
    from tigris.hardware.presets import chip_path, spec_mapping
    from tigris.io.loader import validate_spec
    from tigris.io.overrides import apply_override

    path = chip_path(name)
    data = spec_mapping(path)
    for dotted, value in overrides.items():
        data = apply_override(data, str(dotted), value)
    return validate_spec(Chip, data, file=f"{path} (with overrides)")


def resolve_system(system: str | Path | Cluster | None, chip: Chip) -> Cluster:
    """The system (cluster) given, or the chip's own; SpecError naming `--system` when
    neither exists."""
    from tigris.hardware.presets import default_cluster, load_cluster
    from tigris.hardware.system import Cluster

    if isinstance(system, Cluster):
        return system
    if system is not None:
        _check_text("--system", system)
        return load_cluster(str(system))
    cluster = default_cluster(chip)
    if cluster is None:
        raise SpecError(
            f"{chip.id} names no default system", key_path="--system", hint="give --system"
        )
    return cluster


def resolve_model(model: str | Path | TransformerSpec) -> TransformerSpec:
    """A TransformerSpec from a catalog id (`llama3-8b`), a path to a Hugging Face
    config.json, or a TransformerSpec object (read strictly: a malformed, binary or
    bomb-like file is a one-line SpecError naming it)."""
    from tigris.workload.presets import load_model
    from tigris.workload.spec import TransformerSpec

    if isinstance(model, TransformerSpec):
        return model
    _check_text("model", model)
    return load_model(str(model))


def check_choice(
    value: object, choices: Sequence[str], option: str, hint: str | None = None
) -> None:
    """`value` is one of `choices`, else a SpecError naming `option` (the hint lists the
    choices unless given)."""
    if value not in choices:
        listed = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
        raise SpecError(
            f"unknown {option.lstrip('-')} {given(value)}", key_path=option, hint=hint or listed
        )


def check_int(option: str, value: object, low: int = 1, high: int | None = None) -> None:
    """`value` is an int in [low, high] (the range the command's option accepts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"must be an integer, got {given(value)}", key_path=option)
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"from {low} to {high:,}"
        raise SpecError(f"must be {bounds}, got {value}", key_path=option)


def _check_text(option: str, value: object) -> None:
    if not isinstance(value, (str, Path)):
        raise SpecError(
            f"must be an id, a path or a spec object, got {given(value)}", key_path=option
        )
