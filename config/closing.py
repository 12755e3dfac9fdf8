"""After the close, as validated data: the close questionnaires (per outcome), the reminders of
unanswered closes and the disposition rules.

The defaults live in ``config/closing.toml``; a deployment points ``LEADMATCH_CLOSING_RULES`` at
its own TOML, merged over the defaults (tables merge, lists and values replace, as
``config/loading.py`` merges). ``ClosingRules.model_validate`` refuses bad rules when they are
loaded, with an error naming the entry (``questions.lost[2] 'stalled_stage': ...``). The pure
decisions that use them are ``matcher/closing/questionnaire.py`` and ``matcher/closing/disposition.py``.
"""
from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loading import merge_tables

DEFAULT_CLOSING_PATH = Path(__file__).with_name("closing.toml")

Outcome = Literal["won", "lost"]
OUTCOMES: tuple[Outcome, ...] = ("won", "lost")
QuestionType = Literal["choice", "multi_choice", "text", "number", "date"]
CHOICE_TYPES = ("choice", "multi_choice")
# Where an account goes after a close (api/db/rows/closing.py AccountDispositionRow.kind).
DispositionKind = Literal["disqualified", "nurture_track", "top_of_funnel", "recycle", "white_space", "none"]
DISPOSITION_KINDS: tuple[DispositionKind, ...] = ("disqualified", "nurture_track", "top_of_funnel", "recycle",
                                                  "white_space", "none")
# The kinds that end on a date: recycle must (it is the date the account comes back), disqualified
# may (a timed re-activation); the others hold until the next close or override.
TIMED_KINDS = ("disqualified", "recycle")

# The questions the disposition rules read, with the type and options they need: a rules file may
# relabel them or add questions, not take these away or change what their answers can be.
DISPOSITION_QUESTIONS: dict[Outcome, dict[str, tuple[QuestionType, tuple[str, ...]]]] = {
    "lost": {"ever_a_fit": ("choice", ("yes", "no")), "come_back": ("choice", ("short_term", "long_term")),
             "recycle_on": ("date", ())},
    "won": {"white_space": ("choice", ("yes", "no"))},
}
REASON_PLACEHOLDERS = frozenset({"until", "kind"})
MAX_TEXT_ANSWER = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=300)
    type: QuestionType
    options: tuple[str, ...] = ()  # the answers a choice or multi_choice question takes
    mandatory: bool = False  # closing through the API is refused until it is answered

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> "Question":
        if self.type in CHOICE_TYPES:
            if not self.options:
                raise ValueError(f"{self.id!r}: a {self.type} question needs options")
            duplicates = sorted({o for o in self.options if self.options.count(o) > 1})
            if duplicates:
                raise ValueError(f"{self.id!r}: options listed twice: {', '.join(duplicates)}")
            if any(not o.strip() for o in self.options):
                raise ValueError(f"{self.id!r}: an option is blank")
        elif self.options:
            raise ValueError(f"{self.id!r}: a {self.type} question takes no options")
        return self


class Questions(_Strict):
    won: tuple[Question, ...]
    lost: tuple[Question, ...]

    @model_validator(mode="after")
    def _checked(self) -> "Questions":
        problems = []
        for outcome in OUTCOMES:
            questions: tuple[Question, ...] = getattr(self, outcome)
            ids = [q.id for q in questions]
            problems.extend(f"questions.{outcome}: {i!r} is listed twice" for i in sorted(set(ids))
                            if ids.count(i) > 1)
            by_id = {q.id: (i, q) for i, q in enumerate(questions)}
            for qid, (kind, options) in DISPOSITION_QUESTIONS[outcome].items():
                need = f"a {kind} question" + (f" with the options {', '.join(options)}" if options else "")
                if qid not in by_id:
                    problems.append(f"questions.{outcome}: {qid!r} is missing (the disposition rules read it:"
                                    f" {need})")
                    continue
                i, q = by_id[qid]
                if q.type != kind or set(q.options) != set(options):
                    problems.append(f"questions.{outcome}[{i}] {qid!r}: the disposition rules read it as {need}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def of(self, outcome: str) -> tuple[Question, ...]:
        return self.won if outcome == "won" else self.lost


class Reminders(_Strict):
    """When an unanswered close is reminded: first ``first_after_days`` after it was recorded, then
    every ``every_days``, at most ``at_most`` times."""

    enabled: bool = True
    first_after_days: float = Field(default=1.0, ge=0, le=365)
    every_days: float = Field(default=2.0, gt=0, le=365)
    at_most: int = Field(default=10, ge=1, le=1000)


class DispositionReasons(_Strict):
    never_a_fit: str
    never_a_fit_until: str
    short_term: str
    long_term: str
    white_space: str
    won: str

    @field_validator("*")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        unknown = sorted(n for n in names if n not in REASON_PLACEHOLDERS)
        if unknown:
            raise ValueError(f"{text!r}: unknown placeholder {', '.join('{' + n + '}' for n in unknown)} "
                             f"(known: {', '.join('{' + n + '}' for n in sorted(REASON_PLACEHOLDERS))})")
        return text


class DispositionRules(_Strict):
    """Where a closed account goes (``matcher/closing/disposition.py`` applies them):

    - lost, ``ever_a_fit`` no -> ``disqualified``; for good, or until ``disqualify_for_years``
      after the close when that is above 0;
    - lost, a fit, ``come_back`` short_term -> ``short_term`` (``nurture_track`` or ``top_of_funnel``);
    - lost, a fit, ``come_back`` long_term -> ``recycle`` until the ``recycle_on`` answer, else
      ``recycle_after_months`` after the close;
    - ``come_back`` left open: long_term when ``recycle_on`` was answered, else ``come_back_default``;
    - won with ``white_space`` yes -> ``white_space``; anything else -> ``none``.
    """

    short_term: Literal["nurture_track", "top_of_funnel"] = "nurture_track"
    come_back_default: Literal["short_term", "long_term"] = "short_term"
    recycle_after_months: int = Field(default=12, ge=1, le=1200)
    disqualify_for_years: int = Field(default=0, ge=0, le=100)
    reasons: DispositionReasons


class ClosingRules(_Strict):
    version: str = Field(default="closing-default", min_length=1, max_length=100)
    questions: Questions
    reminders: Reminders = Reminders()
    disposition: DispositionRules


def load_closing_rules(path: str | Path | None = None) -> ClosingRules:
    """Default rules, with the TOML at ``path`` (if any) merged over them."""
    data = tomllib.loads(DEFAULT_CLOSING_PATH.read_text(encoding="utf-8"))
    if path is not None:
        data = merge_tables(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return ClosingRules.model_validate(data)
