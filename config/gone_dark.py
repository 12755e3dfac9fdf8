"""Gone dark (TRIM) after the flag, as validated data: the accounts' dark days per status, the
re-qualification cadence and the second limit after which an opportunity is closed lost.

When an opportunity is dark (its stage's days, which activities are two-way touches, the outbound
channels) is ``config/pipeline.py``'s: this file does not repeat it. The defaults live in
``config/gone_dark.toml``; ``LEADMATCH_GONE_DARK_RULES`` names a TOML file laid over them. Bad
configuration is refused at load time with an error naming the entry. The pure decisions are
``matcher/pipeline/gone_dark.py``; the scheduler task is ``api/pipeline/service.py``.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from config.loading import merge_tables
from config.vocabulary import ACCOUNT_STATUSES

DEFAULT_GONE_DARK_PATH = Path(__file__).with_name("gone_dark.toml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    channel: str = Field(min_length=1)
    days: PositiveFloat  # the step's window: the next step is due this many days after this one


class Cadence(_Strict):
    steps: list[Step] = Field(min_length=1)

    def days(self) -> float:
        return sum(s.days for s in self.steps)


class Close(_Strict):
    after_days: PositiveFloat = 21
    enabled: bool = True
    primary_reason: str = Field(default="went_dark", min_length=1)


class GoneDarkRules(_Strict):
    account_days: dict[str, PositiveFloat] = {}
    cadence: Cadence
    close: Close = Close()

    @model_validator(mode="after")
    def _consistent(self) -> "GoneDarkRules":
        for status in self.account_days:
            if status not in ACCOUNT_STATUSES:
                raise ValueError(f"account_days.{status}: unknown account status {status!r} "
                                 f"(one of {', '.join(ACCOUNT_STATUSES)})")
        if self.close.after_days < self.cadence.days():
            raise ValueError(f"close.after_days: {self.close.after_days:g} is before the cadence ends "
                             f"({self.cadence.days():g} days after flagging, the sum of cadence.steps[].days)")
        return self

    def check_channels(self, channels: tuple[str, ...] | list[str]) -> None:
        """Refuse a step whose channel no outbound touch maps to (``channels``: config/pipeline.py's)."""
        for i, step in enumerate(self.cadence.steps):
            if step.channel not in channels:
                raise ValueError(f"cadence.steps[{i}].channel: unknown channel {step.channel!r} "
                                 f"(one of {', '.join(channels)})")


def load_gone_dark_rules(path: str | Path | None = None) -> GoneDarkRules:
    """Default gone-dark rules, with the TOML at ``path`` (if any) merged over them."""
    data = tomllib.loads(DEFAULT_GONE_DARK_PATH.read_text(encoding="utf-8"))
    if path is not None:
        data = merge_tables(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return GoneDarkRules.model_validate(data)


__all__ = ["GoneDarkRules", "load_gone_dark_rules"]
