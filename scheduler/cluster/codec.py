"""Frozen dataclasses to JSON and back, by their type hints: what crosses Redis.

Only what the messages hold is supported: str, int, float, bool, None, bytes (base64), tuples,
lists, dicts with str keys, unions with None, and nested dataclasses. A value that does not fit
its type raises :class:`CodecError` (a message from another version of marsad, or not ours).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

T = TypeVar("T")


class CodecError(ValueError):
    """A message does not decode to the type it should."""


def dumps(value: object) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes, kind: type[T]) -> T:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CodecError(f"not JSON: {exc}") from None
    value: T = _typed(data, kind, kind.__name__)
    return value


def _plain(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _typed(data: Any, kind: Any, where: str) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _typed(data, option, where)
            except CodecError as exc:
                errors.append(str(exc))
        raise CodecError(errors[0] if errors else f"{where}: no type fits")
    if kind is Any:
        return data
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(data, dict):
            raise CodecError(f"{where}: expected an object")
        hints = _hints(kind)
        values = {}
        for f in dataclasses.fields(kind):
            if f.name in data:
                values[f.name] = _typed(data[f.name], hints[f.name], f"{where}.{f.name}")
        try:
            return kind(**values)
        except TypeError as exc:
            raise CodecError(f"{where}: {exc}") from None
    if kind is bytes:
        if not isinstance(data, dict) or not isinstance(data.get("b64"), str):
            raise CodecError(f"{where}: expected bytes")
        return base64.b64decode(data["b64"])
    if origin is tuple:
        args = get_args(kind)
        if not isinstance(data, list):
            raise CodecError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(item, args[0], where) for item in data)
        if len(args) != len(data):
            raise CodecError(f"{where}: expected {len(args)} items")
        return tuple(_typed(item, arg, where) for item, arg in zip(data, args, strict=True))
    if origin is list:
        if not isinstance(data, list):
            raise CodecError(f"{where}: expected a list")
        return [_typed(item, get_args(kind)[0], where) for item in data]
    if origin in (dict, typing.Mapping) or kind is dict:
        if not isinstance(data, dict):
            raise CodecError(f"{where}: expected an object")
        args = get_args(kind)
        inner = args[1] if args else Any
        return {key: _typed(item, inner, f"{where}[{key}]") for key, item in data.items()}
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise CodecError(f"{where}: expected a number")
        return float(data)
    if kind in (str, int, bool):
        if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
            raise CodecError(f"{where}: expected {kind.__name__}")
        return data
    if kind is type(None):
        if data is not None:
            raise CodecError(f"{where}: expected null")
        return None
    raise CodecError(f"{where}: cannot decode {kind!r}")
