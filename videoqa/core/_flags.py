"""Command-line flags generated from pydantic models: the one place the three CLIs get theirs.

``videoqa analyze``, ``videoqa run`` and ``videoqa eval`` call :func:`add_settings_flags`, so every
:class:`~videoqa.Settings` field is a flag with the same name everywhere (``fps`` -> ``--fps``,
``decode_backend`` -> ``--decode-backend``), its description as help, and :func:`settings_from_args`
lays the flags given over a base :class:`Settings` (flags left out keep the base's value).
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

from videoqa.core.settings import Settings, starting_settings

__all__ = ["add_deprecated_flag", "add_model_flags", "add_settings_flags", "settings_from_args"]

_GROUP_TITLES = {
    "sampling": "sampling budgets per window",
    "strategy": "strategy",
    "search": "coarse-to-fine search",
    "generation": "generation",
    "prompt": "prompt",
    "decode": "decoding",
}


def _flag_type(annotation: Any) -> tuple[Any, tuple[Any, ...] | None]:
    """(argparse type, choices) of a field annotation; Optional is unwrapped."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
    if origin is Literal:
        return str, typing.get_args(annotation)
    return annotation, None


def _add_flag(parser: Any, name: str, info: Any, default: Any, *, required: bool = False) -> None:
    flag = "--" + name.replace("_", "-")
    kind, choices = _flag_type(info.annotation)
    shown = "required" if required else f"default: {default}"
    help_text = f"{info.description} ({shown})".replace("%", "%%")
    if kind is bool:
        action = argparse.BooleanOptionalAction if default else "store_true"
        parser.add_argument(flag, dest=name, action=action, default=argparse.SUPPRESS, help=help_text)
        return
    metavar = None if choices else name.upper()
    parser.add_argument(
        flag, dest=name, type=kind, choices=choices, metavar=metavar, default=argparse.SUPPRESS,
        help=help_text,
    )  # fmt: skip


class _Deprecated(argparse.Action):
    """Stores into the new flag's destination and warns that the old flag is deprecated."""

    def __init__(self, *args: Any, new_flag: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.new_flag = new_flag

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        import warnings

        message = f"{option_string} is deprecated; use {self.new_flag}"
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        print(f"warning: {message}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated_flag(parser: Any, old: str, *, dest: str, type: Any = str) -> None:
    """``--old`` as a hidden, warning alias of the flag storing into ``dest``."""
    new_flag = "--" + dest.replace("_", "-")
    parser.add_argument(
        "--" + old, dest=dest, type=type, action=_Deprecated, new_flag=new_flag, default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )  # fmt: skip


def add_model_flags(parser: Any, model: type[BaseModel], *, skip: Iterable[str] = ()) -> None:
    """One ``--flag`` per field of ``model`` (except ``skip``); flags not given stay out of the namespace.

    A field's ``json_schema_extra["deprecated_flags"]`` adds its old flag names as warning aliases.
    """
    skipped = set(skip)
    for name, info in model.model_fields.items():
        if name not in skipped:
            required = info.is_required()
            default = None if required else info.get_default(call_default_factory=True)
            _add_flag(parser, name, info, default, required=required)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            for old in extra.get("deprecated_flags", ()):
                add_deprecated_flag(parser, old, dest=name, type=_flag_type(info.annotation)[0])


def add_settings_flags(parser: argparse.ArgumentParser, *, defaults: Settings | None = None) -> None:
    """One flag per :class:`Settings` field, in argument groups; help shows ``defaults`` (the CLI's base)."""
    base = defaults if defaults is not None else Settings()
    groups: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        group = Settings.group(name)
        if group not in groups:
            groups[group] = parser.add_argument_group(f"{_GROUP_TITLES[group]} (videoqa.Settings)")
        _add_flag(groups[group], name, info, getattr(base, name))


def settings_from_args(
    args: argparse.Namespace,
    *,
    model: str,
    given: Settings | None = None,
    defaults: Settings | None = None,
) -> Settings:
    """The settings a command runs ``model`` with: :func:`~videoqa.core.settings.starting_settings`
    (``given`` settings, e.g. a config file's, else the model's over ``defaults``) with every settings
    flag given on the command line applied."""
    flags = {name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)}
    return starting_settings(model, given=given, defaults=defaults, flags=flags)
