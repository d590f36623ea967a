"""What the node's and the trust service's settings classes share (node/config.py,
trust/config.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def split_commas(value: Any) -> Any:
    """"a, b ," -> ("a", "b"): the comma-separated lists of the environment."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


Commas = Annotated[tuple[str, ...], NoDecode]


class SettingsBase(BaseSettings):
    """Shared by the node's and the trust service's settings: each field is read from the
    variable of its `validation_alias` (or given by its name); an empty variable is unset;
    unknown variables are ignored."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore",
                                      populate_by_name=True, case_sensitive=True)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Environment variable -> field name."""
        out = {}
        for name, info in cls.model_fields.items():
            if isinstance(info.validation_alias, str):
                out[info.validation_alias] = name
        return out


