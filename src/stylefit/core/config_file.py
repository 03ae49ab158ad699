"""Reading a TOML config into its pydantic schema, every problem one line naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from stylefit.core.errors import StylefitError

Schema = TypeVar("Schema", bound=BaseModel)


def read_config(path: str | Path, schema: type[Schema], what: str) -> Schema:
    """``schema`` validated from the TOML file at ``path``, with ``source`` set to the path (so that
    relative paths in it can be read from its folder)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise StylefitError(f"{path}: cannot read the {what} ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise StylefitError(f"{path}: not valid TOML ({e})") from None
    try:
        return schema.model_validate(data | {"source": str(path)})
    except ValidationError as e:
        raise StylefitError(f"{path}: {first_error(e)}") from None


def first_error(e: ValidationError, prefix: str = "") -> str:
    """'where: what' for the first problem pydantic found, ``prefix`` before its location."""
    first = e.errors()[0]
    where = prefix + ".".join(map(str, first["loc"])) or "config"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def config_path(source: str, value: str) -> Path:
    """A path named in a config, read from the config's folder (as given when absolute)."""
    p = Path(value).expanduser()
    return p if p.is_absolute() or source == "<memory>" else Path(source).parent / p


def require_inputs(source: str, inputs: list[tuple[str, str]]) -> None:
    """Every (key, path) a config reads from must be there: one line naming the config and the key."""
    for key, value in inputs:
        if not config_path(source, value).exists():
            raise StylefitError(f"{source}: {key}: '{value}' is not there (looked for {config_path(source, value)}; "
                                "relative paths are read from the config's folder)")
