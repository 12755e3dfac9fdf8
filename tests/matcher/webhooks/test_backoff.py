import pytest

from matcher.webhooks import backoff


def test_the_delay_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff.retry_delay(n, 2.0, 60.0, 0.0) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff.retry_delay(5000, 2.0, 60.0, 0.0) == 60  # no overflow far past the cap


def test_the_jitter_takes_off_at_most_a_fifth() -> None:
    assert backoff.retry_delay(3, 2.0, 60.0, 0.5) == pytest.approx(7.2)  # 8 less a tenth
    assert backoff.retry_delay(3, 2.0, 60.0, 0.999999) == pytest.approx(6.4, abs=1e-4)


def test_an_event_is_given_up_at_the_last_attempt() -> None:
    assert [backoff.gives_up(n, 3) for n in (1, 2, 3, 4)] == [False, False, True, True]
    with pytest.raises(ValueError):
        backoff.retry_delay(0, 2.0, 60.0, 0.0)
