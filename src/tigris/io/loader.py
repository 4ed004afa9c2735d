"""Read YAML/JSON files strictly and validate them into specs with located errors.

Duplicate keys are errors (PyYAML and json silently keep the last one). Nothing in a file
is executed: YAML is read with the safe loader, no tags.

Whatever a file holds, reading it gives a value or a one-line SpecError naming the file,
quickly and in bounded memory: a file that is not text, not UTF-8, empty, a directory, a
device or unreadable; NaN or infinity (a spec describes finite hardware); YAML aliases that
expand to more than MAX_EXPANDED_VALUES values (an 839-byte "billion laughs" file expands
to a billion) or that contain themselves; nesting deeper than Python can follow.
"""

from __future__ import annotations

import json
import math
import stat
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic.fields import FieldInfo

from tigris.errors import SpecError, given, shorten

if TYPE_CHECKING:
    import yaml

SpecT = TypeVar("SpecT", bound=BaseModel)


MAX_FILE_BYTES = 16 * 2**20
"""The largest spec file read (a chip, a model, a sweep is a few kB)."""

MAX_EXPANDED_VALUES = 100_000
"""YAML aliases may repeat a part of a document, up to this many values in all."""


@cache  # PyYAML is imported when a file is first parsed: a cached preset needs none of it
def _strict_loader() -> type:
    """The safe loader, rejecting duplicate mapping keys, NaN and infinity, and aliases
    that expand without bound: libyaml's C parser where PyYAML has it (the same documents
    and marks, ~10x faster: presets and the cost assumptions are read at every start), the
    pure-Python one otherwise."""
    import yaml

    class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        def construct_document(self, node: yaml.Node) -> Any:
            _check_expansion(node)
            return super().construct_document(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    return StrictLoader


def _children(node: yaml.Node) -> list[yaml.Node]:
    """A node's child nodes: a sequence's items, a mapping's keys and values (its value is
    a list of pairs), none for a scalar (its value is a str)."""
    items = node.value
    if not isinstance(items, list):
        return []
    return (
        [part for pair in items for part in pair]
        if items and isinstance(items[0], tuple)
        else items
    )


def _check_expansion(root: yaml.Node) -> None:
    """SpecError if aliases make the document a cycle or expand it beyond
    MAX_EXPANDED_VALUES values. Each distinct node is sized once (an alias is the same
    node object as its anchor), so this takes time in the document's size, not in its
    expansion, and no Python recursion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = size
            open_nodes.discard(key)
            if size > MAX_EXPANDED_VALUES and size > len(sizes):
                line = node.start_mark.line + 1
                raise SpecError(
                    f"YAML aliases expand to more than {MAX_EXPANDED_VALUES:,} values "
                    f"(line {line}); write the values out instead"
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            line = node.start_mark.line + 1
            raise SpecError(f"a YAML alias contains itself (line {line})")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float:
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        line = node.start_mark.line + 1
        raise SpecError(f"{shorten(str(node.value))} is not a finite number (line {line})")
    return value


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            line = key_node.start_mark.line + 1
            raise SpecError(
                f"a key must be a plain value, not {given(key)} (line {line})"
            ) from None
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise SpecError(
                f"duplicate key {given(key)} (line {line}); each key may appear once",
                key_path=shorten(str(key)),
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


def _reject_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SpecError(
                f"duplicate key {given(key)}; each key may appear once", key_path=shorten(key)
            )
        result[key] = value
    return result


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SpecError(f"{shorten(text)} is too large for a number")
    return value


def _json_constant(text: str) -> Any:
    raise SpecError(f"{text} is not a finite number (nor valid JSON)")


def parse_text(text: str, *, file: str, json_only: bool = False) -> Any:
    """Parse YAML (or JSON, a subset) text strictly; SpecError naming `file` otherwise."""
    import yaml

    try:
        if json_only:
            return json.loads(
                text.removeprefix("\ufeff"),  # a byte-order mark, as Windows editors write
                object_pairs_hook=_reject_duplicate_pairs,
                parse_float=_json_float,
                parse_constant=_json_constant,
            )
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - strict safe loader
    except SpecError as error:
        raise error.with_file(file) from None
    except json.JSONDecodeError as error:
        raise SpecError(f"not valid JSON: {error.msg} (line {error.lineno})", file=file) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(
            f"not valid {'JSON' if json_only else 'YAML'}: {shorten(problem, 200)}{where}",
            file=file,
        ) from None
    except RecursionError:
        raise SpecError("nested too deeply to read", file=file) from None
    except ValueError as error:  # an integer of more than 4300 digits, and the like
        # Python's own text ends in advice to the programmer (set_int_max_str_digits)
        reason = str(error).split(";")[0]
        raise SpecError(f"cannot read a value: {shorten(reason, 120)}", file=file) from None


def parse_value(text: str) -> Any:
    """A YAML value from a command line (`--set key=value`), read by the same strict rules
    as a file: '4 TB/s' stays a string, '8' becomes 8, 'true' True; text that is not YAML
    is kept as it is; SpecError for NaN, an alias bomb or nesting too deep."""
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - strict safe loader
    except yaml.YAMLError:
        return text
    except RecursionError:
        raise SpecError("nested too deeply to read") from None
    except ValueError as error:
        reason = str(error).split(";")[0]  # without Python's advice (see parse_text)
        raise SpecError(f"cannot read a value: {shorten(reason, 120)}") from None


def read_text(path: str | Path, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a user's input file; SpecError naming it when it is missing, not
    a regular file (a directory, a FIFO, a device), unreadable, too large, or not text."""
    path = Path(path)
    name = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(f"{what} not found", file=name, hint="check the path") from None
    except OSError as error:
        raise SpecError(f"cannot read the {what}: {error.strerror}", file=name) from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(f"is a directory; give a {what}", file=name)
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(
            f"is not a regular file (a device, pipe or socket); give a {what}", file=name
        )
    if info.st_size > max_bytes:
        raise SpecError(
            f"is {info.st_size:,} bytes; a {what} here is at most {max_bytes:,}", file=name
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise SpecError(f"cannot read the {what}: {error.strerror}", file=name) from None
    if len(data) > max_bytes:
        raise SpecError(f"a {what} here is at most {max_bytes:,} bytes", file=name)
    if b"\0" in data:
        raise SpecError(f"is a binary file, not a text {what}", file=name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})",
            file=name,
        ) from None


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Load a YAML or JSON file that must hold a mapping at its top level."""
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise SpecError("the file is empty", file=str(path))
    data = parse_text(text, file=str(path), json_only=path.suffix == ".json")
    if not isinstance(data, dict):
        raise SpecError(
            f"expected a mapping of keys to values at the top level, got {_kind_of(data)}",
            file=str(path),
        )
    return data


def _kind_of(data: Any) -> str:
    if data is None:
        return "nothing"
    if isinstance(data, list):
        return "a list"
    return f"the value {given(data)}"


def format_location(loc: tuple[Any, ...]) -> str:
    """('memory', 'dram', 'bandwidth') -> 'memory.dram.bandwidth'; list indices as [i]."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts)


def _clean_message(error: dict[str, Any]) -> tuple[str, list[Any]]:
    """A one-line message from one pydantic error, and its location without union tags."""
    loc = [
        part
        for part in error["loc"]
        if not (isinstance(part, str) and part.startswith("function-"))
    ]
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (not part of this spec)", loc
    if kind == "missing":
        return "required field is missing", loc
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    value = error.get("input")
    if kind not in ("value_error",) and not isinstance(value, (dict, list, tuple, set)):
        message = f"{message} (given {given(value)})"
    return message, loc


def _path_in_data(data: Any, loc: list[Any]) -> list[Any]:
    """Drop the parts of a pydantic location that are not in the user's data.

    Discriminated unions add their tag ('tensor_core') to the location; the user wrote
    `matrix.clock`, not `matrix.tensor_core.clock`.
    """
    path: list[Any] = []
    node = data
    for part in loc:
        is_tag = (
            isinstance(node, dict)
            and isinstance(part, str)
            and part not in node
            and part in {v for v in node.values() if isinstance(v, str)}
        )
        if is_tag:
            continue  # a union tag
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return path


# Field types that hold a plain number (a count, a year, a fraction) as pydantic reports
# them; a dimensioned field may look the same (`float`) but carries its unit reader, a
# BeforeValidator, in its metadata.
_PLAIN_NUMBERS = (int, float, int | None, float | None)


def _is_plain_number(field: FieldInfo) -> bool:
    return field.annotation in _PLAIN_NUMBERS and not any(
        isinstance(rule, BeforeValidator) for rule in field.metadata
    )


def _submodels(annotation: Any) -> list[type[BaseModel]]:
    """The spec classes a field may hold (itself, in a list or dict, in a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _submodels(arg)]


def _reject_yes_no_numbers(model: type[BaseModel], data: Any, path: str) -> None:
    """SpecError where a plain number field holds `true`/`false`: pydantic would read it
    as 1 or 0 (`num_sms: true` a one-SM chip), so a slip in a file would pass unseen.
    Checked here, on the user's data, not in a validator of every spec: the sweep's fast
    chip assembly (explore.design) runs only specs without 'before' validators."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        where = f"{path}.{key}" if path else key
        if isinstance(value, bool) and _is_plain_number(field):
            raise SpecError(f"expected a number, got {value!r}", key_path=where)
        for submodel in _submodels(field.annotation):
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                inner = f"{where}[{index}]" if isinstance(value, list) else where
                _reject_yes_no_numbers(submodel, item, inner)


def validate_spec(model: type[SpecT], data: Any, *, file: str | None = None) -> SpecT:
    """Validate `data` into `model`, turning the first pydantic error into a SpecError."""
    try:
        _reject_yes_no_numbers(model, data, "")
    except SpecError as error:
        raise error.with_file(file) if file else error from None
    try:
        return model.model_validate(data, context={"strict_units": True})
    except ValidationError as error:
        first = error.errors()[0]
        message, loc = _clean_message(first)
        loc = _path_in_data(data, loc)
        raise SpecError(message, file=file, key_path=format_location(tuple(loc)) or None) from None
