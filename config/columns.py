"""Reading uploaded lead lists, as validated data: the header names of each of our fields, the
labels of a totals row, the particles kept with a last name.

The defaults live in ``config/columns.toml``; ``LEADMATCH_COLUMN_RULES`` names a TOML file laid over
them (tables merge, lists and values replace). Bad configuration is refused at load time with an
error naming the entry. The recognition itself is ``matcher/batches/columns.py``; the reading of
the bytes ``api/batches/reading.py``.
"""
from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from config.loading import merge_tables

DEFAULT_COLUMN_RULES_PATH = Path(__file__).with_name("columns.toml")

# our fields, in the order an upload's "column mapping used" lists them. lead_id is the export's own
# id of the row, copied through; full_name is split into first_name / last_name.
COLUMN_FIELDS: tuple[str, ...] = (
    "email", "company", "country", "region", "city", "first_name", "last_name", "full_name", "title",
    "phone", "website", "lead_id",
)

_NOT_ALNUM = re.compile(r"[\W_]+")


def header_key(name: str) -> str:
    """A header name without case and punctuation: 'E-Mail Address' and 'email_address' are 'emailaddress'."""
    return _NOT_ALNUM.sub("", name.casefold())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trailer(_Strict):
    labels: list[str] = []


class Names(_Strict):
    particles: list[str] = []


class ColumnRules(_Strict):
    synonyms: dict[str, list[str]]
    trailer: Trailer = Trailer()
    names: Names = Names()

    @model_validator(mode="after")
    def _consistent(self) -> "ColumnRules":
        seen: dict[str, str] = {}  # header key -> field
        for field, names in self.synonyms.items():
            if field not in COLUMN_FIELDS:
                raise ValueError(f"synonyms.{field}: unknown field {field!r} (one of {', '.join(COLUMN_FIELDS)})")
            for name in names:
                key = header_key(name)
                if not key:
                    raise ValueError(f"synonyms.{field}: {name!r} has no letter or digit")
                if seen.get(key, field) != field:
                    raise ValueError(f"synonyms.{field}: {name!r} is also a name of {seen[key]} "
                                     f"(names are compared without case and punctuation)")
                seen[key] = field
        for label in self.trailer.labels:
            if not header_key(label):
                raise ValueError(f"trailer.labels: {label!r} has no letter or digit")
        return self


def load_column_rules(path: str | Path | None = None) -> ColumnRules:
    """Default column rules, with the TOML at ``path`` (if any) merged over them."""
    data = tomllib.loads(DEFAULT_COLUMN_RULES_PATH.read_text(encoding="utf-8"))
    if path is not None:
        data = merge_tables(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return ColumnRules.model_validate(data)


@lru_cache(maxsize=1)
def default_column_rules() -> ColumnRules:
    """The shipped rules, read once (what ``recognise`` uses when it is given none)."""
    return load_column_rules()


__all__ = ["COLUMN_FIELDS", "ColumnRules", "default_column_rules", "header_key", "load_column_rules"]
