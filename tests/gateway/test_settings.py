"""Settings: the generated secret, and what production refuses."""

import stat

import pytest

from strangers.gateway.settings import Settings


def test_the_laptop_secret_is_generated_once_with_owner_only_access(tmp_path):
    first = Settings(data_dir=tmp_path).secret()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).secret() == first
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_production_requires_an_explicit_secret(tmp_path):
    with pytest.raises(ValueError, match="STRANGERS_SECRET_KEY"):
        Settings(env="production", data_dir=tmp_path).secret()
    assert not (tmp_path / "secret.key").exists()
    key = "k" * 40
    assert Settings(env="production", secret_key=key).secret() == key.encode()


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="32"):
        Settings(secret_key="short").secret()


def test_two_tabs_meet_only_on_the_laptop_default():
    assert Settings().match_rules().same_device is True
    assert Settings(env="production", secret_key="k" * 32).match_rules().same_device is False
    assert Settings(same_device_pairs=False).match_rules().same_device is False


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STRANGERS_TEEN_POOL", "true")
    monkeypatch.setenv("STRANGERS_MESSAGE_CHARS", "500")
    settings = Settings()
    assert settings.teen_pool is True and settings.limits().message_chars == 500
