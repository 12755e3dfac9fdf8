"""Bodies of the reports and content catalogue routes."""
from __future__ import annotations

from datetime import datetime
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import Id, Name, Short, Text, blank_is_absent

Format = Literal["json", "csv"]
CellOut = Union[str, int, float, None]


class TableOut(BaseModel):
    name: str
    columns: list[str]
    rows: list[list[CellOut]] = Field(description="one list of values a row, in the order of `columns`; "
                                                  "shares are fractions (0.25 is 25 %), days fractional")


class ReportOut(BaseModel):
    report: str
    from_: datetime = Field(alias="from")
    to: datetime
    owner: str | None
    segment: str | None
    tables: list[TableOut]

    model_config = ConfigDict(populate_by_name=True)


class ContentAssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id = Field(description="the asset id activities carry in `asset_id`")
    title: Name(300)  # type: ignore[valid-type]
    kind: blank_is_absent(Short) = Field(None, description="whitepaper, case_study, video, ...")  # type: ignore[valid-type]
    url: blank_is_absent(Text(2000)) = None  # type: ignore[valid-type]


class ContentAssetOut(BaseModel):
    id: str
    title: str
    kind: str | None
    url: str | None


class ContentOut(BaseModel):
    items: list[ContentAssetOut]
