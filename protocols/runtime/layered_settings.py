"""Settings of a process in layers: a TOML file, then `VF_*` variables, then the flags actually given.

The cloud and the gateway read theirs the same way; only the model differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

S = TypeVar("S", bound=BaseSettings)


def load_layered(model: type[S], config_file: Path | None, flags: dict[str, Any]) -> S:
    """A flag left out is None and does not hide the variable, nor a variable the file."""
    given = {k: v for k, v in flags.items() if v is not None}

    class WithFile(model):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
            if config_file is not None:
                sources += (TomlConfigSettingsSource(settings_cls, toml_file=config_file),)
            return sources

    # Validated again as the model itself: its own validators see the merged values, and the caller
    # gets the model's type, not the subclass made here.
    return model.model_validate(WithFile(**given).model_dump())
