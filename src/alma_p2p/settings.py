"""The harness's settings: resolved once, then frozen.

Precedence, highest first: command-line option > environment variable > ``.env`` file in
the working directory > default. Each setting has one flag and one variable:

=====================  ======================  =========================================
flag                   variable                default
=====================  ======================  =========================================
``--alma-mode``        ``ALMA_MODE``           ``replay`` (cassettes; no network)
``--institution``      ``ALMA_INSTITUTIONS``   every profile (comma-separated in the env)
``--alma-base-url``    ``ALMA_BASE_URL``       the profile's region gateway
(none, by design)      ``ALMA_API_KEY``        none; needed for live and record
``--alma-rate``        ``ALMA_RATE``           10 calls per second
``--alma-timeout``     ``ALMA_TIMEOUT``        30 seconds
(none)                 ``ALMA_RETRY_BACKOFF``  1 (scales every retry wait; 0: retry at once)
``--profiles-dir``     ``ALMA_PROFILES_DIR``   ``fixtures/institutions``
``--cassettes-dir``    ``ALMA_CASSETTES_DIR``  ``cassettes``
``--alma-report-dir``  ``ALMA_REPORT_DIR``     ``reports``
``--alma-ledger``      ``ALMA_LEDGER``         ``.alma-p2p/ledger.jsonl``
(none)                 ``ALMA_CASSETTE_MAX_AGE_DAYS``  90 (replay warns past it)
=====================  ======================  =========================================

The key has no flag so it never shows in a process list or shell history. A key for one
institution may be given as ``ALMA_API_KEY_<NAME>`` (``demo-university`` →
``ALMA_API_KEY_DEMO_UNIVERSITY``); it wins over ``ALMA_API_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Mode = Literal["replay", "live", "record"]

# field → (flag, variable), for messages that name both.
SETTING_NAMES: Mapping[str, tuple[str, str]] = {
    "mode": ("--alma-mode", "ALMA_MODE"),
    "institutions": ("--institution", "ALMA_INSTITUTIONS"),
    "base_url": ("--alma-base-url", "ALMA_BASE_URL"),
    "api_key": ("(no flag)", "ALMA_API_KEY"),
    "rate": ("--alma-rate", "ALMA_RATE"),
    "timeout": ("--alma-timeout", "ALMA_TIMEOUT"),
    "retry_backoff": ("(no flag)", "ALMA_RETRY_BACKOFF"),
    "profiles_dir": ("--profiles-dir", "ALMA_PROFILES_DIR"),
    "cassettes_dir": ("--cassettes-dir", "ALMA_CASSETTES_DIR"),
    "report_dir": ("--alma-report-dir", "ALMA_REPORT_DIR"),
    "consortium": ("--alma-consortium", "ALMA_CONSORTIUM"),
    "ledger": ("--alma-ledger", "ALMA_LEDGER"),
    "cassette_max_age_days": ("(no flag)", "ALMA_CASSETTE_MAX_AGE_DAYS"),
}


class SettingsError(ValueError):
    """A setting with a missing or invalid value; one line naming flag and variable."""


class Settings(BaseSettings):
    """Frozen run settings; build with ``load_settings`` so errors read well."""

    model_config = SettingsConfigDict(
        env_prefix="ALMA_", env_file=".env", frozen=True, extra="ignore"
    )

    mode: Mode = "replay"
    institutions: Annotated[tuple[str, ...], NoDecode] = ()
    base_url: str | None = None
    api_key: SecretStr | None = None
    # UNVERIFIED(gateway.sandbox_per_second_threshold): 10 per second is safe on a sandbox.
    rate: float = Field(default=10.0, gt=0, le=100)
    timeout: float = Field(default=30.0, gt=0, le=600)
    # The harness's own tests retry at once (0); alma_p2p.alma.http documents the waits.
    retry_backoff: float = Field(default=1.0, ge=0, le=10)
    profiles_dir: Path = Path("fixtures/institutions")
    cassettes_dir: Path = Path("cassettes")
    report_dir: Path = Path("reports")
    # The reports' title (Allure's report name); default: the institutions' names.
    consortium: str = Field(default="", max_length=200)
    ledger: Path = Path(".alma-p2p/ledger.jsonl")
    cassette_max_age_days: int = Field(default=90, ge=1)
    # ALMA_API_KEY_<NAME> → key, read once from the environment and .env by load_settings.
    institution_keys: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("institutions", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return value or None

    def api_key_for(self, institution: str) -> str | None:
        """The key for one institution: ``ALMA_API_KEY_<NAME>`` first, then ``ALMA_API_KEY``."""
        specific = self.institution_keys.get(api_key_variable(institution))
        if specific is not None:
            return specific.get_secret_value()
        return self.api_key.get_secret_value() if self.api_key else None


def api_key_variable(institution: str) -> str:
    return "ALMA_API_KEY_" + "".join(c if c.isalnum() else "_" for c in institution).upper()


def _institution_keys() -> dict[str, SecretStr]:
    """Every ``ALMA_API_KEY_<NAME>`` of the environment, else of ``.env``."""
    path = Path(".env")
    found = {k: v for k, v in (dotenv_values(path) if path.is_file() else {}).items() if v}
    found.update({k: v for k, v in os.environ.items() if v})
    prefix = "ALMA_API_KEY_"
    return {k: SecretStr(v) for k, v in found.items() if k.startswith(prefix) and v}


def load_settings(**cli: Any) -> Settings:
    """Settings from CLI values (``None`` means not given), the environment and ``.env``."""
    given = {k: v for k, v in cli.items() if v is not None and v != ()}
    given.setdefault("institution_keys", _institution_keys())
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        flag, var = SETTING_NAMES.get(field, (f"--{field}", f"ALMA_{field.upper()}"))
        shown = "" if field == "api_key" else f" (got {err.get('input')!r})"
        raise SettingsError(f"{flag} / {var}: {err['msg']}{shown}") from exc
