"""The pipeline and touch vocabulary the win/loss reports read (domain.md section 6), as validated
data: the stage order, dark days per stage, seniority ranks, which activities are two-way touches
and which outbound touches count in which channel.

The defaults live in ``config/pipeline.toml``; ``LEADMATCH_PIPELINE_RULES`` names a TOML file laid
over them. Bad configuration is refused at load time with an error naming the entry (a dark-days
stage that is not in ``stages``, a seniority code titles never produce, an activity type that does
not exist). The reports themselves are ``matcher/reports/``.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator, model_validator

from config.loading import merge_tables
from config.qualification import SENIORITY_LEVELS
from config.vocabulary import ACCOUNT_STATUSES, ACTIVITY_TYPES

DEFAULT_PIPELINE_PATH = Path(__file__).with_name("pipeline.toml")
CHANNELS = ("call", "email", "social", "meeting")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _activity_types(values: list[str] | dict[str, str], what: str) -> None:
    for t in values:
        if t not in ACTIVITY_TYPES:
            raise ValueError(f"{what}: unknown activity type {t!r} (one of {', '.join(sorted(ACTIVITY_TYPES))})")


class DarkDays(_Strict):
    default: PositiveFloat = 21
    stages: dict[str, PositiveFloat] = {}


class Touches(_Strict):
    two_way_types: list[str]
    outbound_channels: dict[str, str]

    @model_validator(mode="after")
    def _known(self) -> "Touches":
        _activity_types(self.two_way_types, "touches.two_way_types")
        _activity_types(self.outbound_channels, "touches.outbound_channels")
        for t, channel in self.outbound_channels.items():
            if channel not in CHANNELS:
                raise ValueError(f"touches.outbound_channels.{t}: unknown channel {channel!r} "
                                 f"(one of {', '.join(CHANNELS)})")
        return self


class Content(_Strict):
    types: list[str] = ["content_download", "page_view"]

    @field_validator("types")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        _activity_types(v, "content.types")
        return v


class Statuses(_Strict):
    statuses: list[str]

    @field_validator("statuses")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for s in v:
            if s not in ACCOUNT_STATUSES:
                raise ValueError(f"unknown account status {s!r} (one of {', '.join(ACCOUNT_STATUSES)})")
        return v


class Contacts(_Strict):
    unknown_rank: int = Field(default=1, ge=0)


class PipelineRules(_Strict):
    stages: list[str] = Field(min_length=1)
    dark_days: DarkDays = DarkDays()
    seniority_ranks: dict[str, int]
    contacts: Contacts = Contacts()
    touches: Touches
    content: Content = Content()
    never_responded: Statuses
    mqa: Statuses

    @field_validator("stages")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, s in enumerate(v):
            if not s or s in seen:
                raise ValueError(f"stages[{i}]: {s!r} is empty or listed twice")
            seen.add(s)
        return v

    @model_validator(mode="after")
    def _stages_known(self) -> "PipelineRules":
        for stage in self.dark_days.stages:
            if stage not in self.stages:
                raise ValueError(f"dark_days.stages.{stage}: unknown stage {stage!r} "
                                 f"(the stages are {', '.join(self.stages)})")
        for level in self.seniority_ranks:
            if level not in SENIORITY_LEVELS:
                raise ValueError(f"seniority_ranks.{level}: unknown seniority {level!r} "
                                 f"(one of {', '.join(SENIORITY_LEVELS)})")
        return self

    def dark_days_in(self, stage: str | None) -> float:
        return self.dark_days.stages.get(stage or "", self.dark_days.default)


def load_pipeline_rules(path: str | Path | None = None) -> PipelineRules:
    """Default pipeline rules, with the TOML at ``path`` (if any) merged over them."""
    data = tomllib.loads(DEFAULT_PIPELINE_PATH.read_text(encoding="utf-8"))
    if path is not None:
        data = merge_tables(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return PipelineRules.model_validate(data)


__all__ = ["CHANNELS", "PipelineRules", "load_pipeline_rules"]
