import pytest
from pydantic import ValidationError

from config.settings import Settings


def test_webhook_urls_from_the_environment_comma_separated_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADMATCH_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("LEADMATCH_WEBHOOK_URLS", " https://crm.example/hook , http://10.0.0.5:8080/in,")
    assert Settings().webhook_urls == ["https://crm.example/hook", "http://10.0.0.5:8080/in"]
    monkeypatch.setenv("LEADMATCH_WEBHOOK_URLS", '["https://crm.example/hook"]')
    assert Settings().webhook_urls == ["https://crm.example/hook"]
    monkeypatch.setenv("LEADMATCH_WEBHOOK_URLS", "")
    assert Settings().webhook_urls == []


@pytest.mark.parametrize("values, field", [
    ({"webhook_urls": ["https://crm.example/hook"]}, "webhook_secret"),  # unsigned webhooks: no
    ({"webhook_urls": ["ftp://crm.example/hook"], "webhook_secret": "s"}, "webhook_urls"),
    ({"webhook_backoff_base_seconds": 10, "webhook_backoff_max_seconds": 5}, "webhook_backoff_max_seconds"),
    ({"webhook_max_attempts": 0}, "webhook_max_attempts"),
    ({"webhook_timeout_seconds": 0}, "webhook_timeout_seconds"),
])
def test_bad_webhook_settings_are_refused_naming_the_setting(values: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**values)
