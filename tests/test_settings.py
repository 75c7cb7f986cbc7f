"""Settings: precedence CLI > environment > .env > default, and one-line errors."""

from __future__ import annotations

import pytest

from alma_p2p.settings import SettingsError, api_key_variable, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("ALMA_MODE", "ALMA_RATE", "ALMA_API_KEY", "ALMA_BASE_URL", "ALMA_INSTITUTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    settings = load_settings()
    assert settings.mode == "replay"
    assert settings.rate == 10.0
    assert settings.institutions == ()


def test_cli_beats_environment_beats_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("ALMA_MODE=record\nALMA_RATE=3\nALMA_TIMEOUT=7\n")
    monkeypatch.setenv("ALMA_MODE", "live")
    monkeypatch.setenv("ALMA_RATE", "5")
    settings = load_settings(rate=8.0)
    assert settings.rate == 8.0  # CLI
    assert settings.mode == "live"  # environment over .env
    assert settings.timeout == 7.0  # .env over default


def test_invalid_value_names_flag_and_variable(monkeypatch):
    monkeypatch.setenv("ALMA_MODE", "bogus")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("--alma-mode / ALMA_MODE:")
    assert "'bogus'" in message
    assert "\n" not in message


def test_rate_must_be_positive():
    with pytest.raises(SettingsError, match=r"--alma-rate / ALMA_RATE: .*greater than 0"):
        load_settings(rate=0)


def test_institutions_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALMA_INSTITUTIONS", "demo-college, demo-lender")
    assert load_settings().institutions == ("demo-college", "demo-lender")


def test_per_institution_key_wins_and_key_is_never_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("ALMA_API_KEY", "l7xxGENERIC")
    (tmp_path / ".env").write_text("ALMA_API_KEY_DEMO_COLLEGE=l7xxCOLLEGE\n")
    settings = load_settings()
    assert api_key_variable("demo-college") == "ALMA_API_KEY_DEMO_COLLEGE"
    assert settings.api_key_for("demo-college") == "l7xxCOLLEGE"
    assert settings.api_key_for("demo-university") == "l7xxGENERIC"
    assert "l7xx" not in repr(settings)


def test_settings_are_frozen():
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.mode = "live"  # type: ignore[misc]
