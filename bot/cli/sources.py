"""`supportbot kb add-source KB --type git --url ... [--option value ...]`: flags → options.

Every field of the source type's options model is a flag (`include_prefix` →
`--include-prefix`, repeatable for lists; a bare flag is `true`). Each secret `token`
is given as `--token-env VARIABLE` (read where the sync runs) or `--token VALUE` (stored
with mode 0600; prefer the variable: values land in shell history).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import get_origin

from pydantic import BaseModel

from bot.errors import InvalidRequest
from bot.kb_admin import SecretInput

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_source_flags(
    args: Sequence[str], options: type[BaseModel], secrets: Sequence[str]
) -> tuple[dict[str, object], dict[str, SecretInput]]:
    values: dict[str, object] = {}
    given: dict[str, SecretInput] = {}
    index = 0
    while index < len(args):
        flag = args[index]
        if not flag.startswith("--"):
            raise InvalidRequest(f"unexpected argument {flag!r}; options are --name value")
        name, _, inline = flag[2:].partition("=")
        name = name.replace("-", "_")
        if inline or "=" in flag:
            value, index = inline, index + 1
        elif index + 1 < len(args) and not args[index + 1].startswith("--"):
            value, index = args[index + 1], index + 2
        else:
            value, index = "true", index + 1
        if name in secrets:
            given[name] = SecretInput(value=value)
        elif name.endswith("_env") and name[:-4] in secrets:
            given[name[:-4]] = SecretInput(env=value)
        elif name in options.model_fields:
            if get_origin(options.model_fields[name].annotation) is list:
                listed = values.setdefault(name, [])
                assert isinstance(listed, list)
                listed.append(value)
            else:
                values[name] = value
        else:
            offered = [f"--{f.replace('_', '-')}" for f in options.model_fields]
            offered += [f"--{s.replace('_', '-')}-env" for s in secrets]
            raise InvalidRequest(f"unknown option --{name.replace('_', '-')}; offered: "
                                 + ", ".join(offered))  # fmt: skip
    return values, given


def parse_interval(text: str | None) -> int | None:
    """`30m`, `6h`, `1d` or seconds; None or `0` = sync on demand only."""
    if text is None:
        return None
    match = _DURATION.match(text)
    if match is None:
        raise InvalidRequest(f"--every {text!r}: use seconds or a number with s, m, h or d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    return seconds or None


def options_help(options: type[BaseModel], secrets: Sequence[str]) -> list[str]:
    lines = []
    for name, info in options.model_fields.items():
        required = " (required)" if info.is_required() else ""
        lines.append(f"--{name.replace('_', '-')}{required}: {info.description or ''}")
    for name in secrets:
        flag = name.replace("_", "-")
        lines.append(f"--{flag}-env VARIABLE | --{flag} VALUE: credential")
    return lines
