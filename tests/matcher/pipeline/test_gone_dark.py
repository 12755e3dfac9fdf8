"""Gone dark by hand: dark at t and since when, the cadence's due times, adherence from outbound
touches, and what an episode becomes (answered, closed, closed lost, auto-close off)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from matcher.pipeline.gone_dark import (ANSWERED, CLOSED, CLOSED_LOST, DARK, EXPIRED, CadenceStep, Close, Dark,
                                        Episode, StageEntry, Touch, Watched, adherence, advance, complete, dark_at,
                                        plan, should_flag)

D0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def day(n: float) -> datetime:
    return D0 + timedelta(days=n)


DAYS = {"discovery": 21, "evaluation": 10, "negotiation": 30}


def n_of(stage: str | None) -> float:
    return DAYS.get(stage or "", 21)


def opp(*stages: tuple[str, float]) -> Watched:
    return Watched(day(0), tuple(StageEntry(s, day(d)) for s, d in stages))


def test_not_dark_in_the_first_n_days_open_then_dark_from_opened_plus_n() -> None:
    o = opp(("discovery", 0))
    assert dark_at(o, [], n_of, day(20.9)) is None
    # open since day 0, discovery's N = 21, no touch: dark from day 21
    assert dark_at(o, [], n_of, day(21)) == Dark(day(21), "discovery")
    assert dark_at(o, [], n_of, day(40)) == Dark(day(21), "discovery")


def test_a_two_way_touch_covers_the_n_days_after_it() -> None:
    o = opp(("discovery", 0))
    touches = [day(15)]
    # covered until 15 + 21 = 36
    assert dark_at(o, touches, n_of, day(35.5)) is None
    assert dark_at(o, touches, n_of, day(36)) == Dark(day(36), "discovery")
    # a touch at t itself: not dark at t
    assert dark_at(o, [day(40)], n_of, day(40)) is None
    # a touch after t is not read
    assert dark_at(o, [day(50)], n_of, day(40)) == Dark(day(21), "discovery")


def test_the_stage_at_t_gives_n_and_a_spell_that_begins_in_a_stage_went_dark_there() -> None:
    # discovery from 0, evaluation (N=10) from day 5, a touch on day 3: evaluation covered until
    # max(0 + 10, 3 + 10) = 13, so dark from day 13 in evaluation
    o = opp(("discovery", 0), ("evaluation", 5))
    assert dark_at(o, [day(3)], n_of, day(12.5)) is None
    assert dark_at(o, [day(3)], n_of, day(13)) == Dark(day(13), "evaluation")


def test_a_spell_running_on_across_a_stage_change_went_dark_in_the_stage_it_began_in() -> None:
    # discovery (21) from 0, dark from day 21; negotiation (30) from day 25: covered in
    # negotiation until 0 + 30 = 30, so day 25..30 is not dark: a new spell from day 30
    o = opp(("discovery", 0), ("negotiation", 25))
    assert dark_at(o, [], n_of, day(29)) is None
    assert dark_at(o, [], n_of, day(31)) == Dark(day(30), "negotiation")
    # evaluation (10) from day 25: dark on both sides of the change, the spell began on day 21
    o = opp(("discovery", 0), ("evaluation", 25))
    assert dark_at(o, [], n_of, day(26)) == Dark(day(21), "discovery")
    # a touch on day 12: discovery covered until 33, evaluation from day 25 until 22 -> dark from 25
    assert dark_at(o, [day(12)], n_of, day(26)) == Dark(day(25), "evaluation")


def test_a_stage_entered_after_t_is_not_read_and_no_stages_is_one_stay_with_the_default() -> None:
    o = opp(("evaluation", 0), ("negotiation", 50))
    assert dark_at(o, [], n_of, day(10)) == Dark(day(10), "evaluation")
    assert dark_at(Watched(day(0)), [], n_of, day(22)) == Dark(day(21), None)


def test_an_account_is_one_stay_in_its_status_from_its_since() -> None:
    account = Watched(day(10), (StageEntry("qualified", day(10)),))
    days = {"qualified": 14}.__getitem__
    assert dark_at(account, [day(5)], days, day(23)) is None
    assert dark_at(account, [day(5)], days, day(24)) == Dark(day(24), "qualified")


def test_a_spell_is_flagged_once() -> None:
    dark = Dark(day(21), "discovery")
    assert should_flag(dark, open_episode=False, last_dark_since=None)
    assert not should_flag(dark, open_episode=True, last_dark_since=None)
    assert not should_flag(dark, open_episode=False, last_dark_since=day(21))  # that spell was flagged
    assert should_flag(dark, open_episode=False, last_dark_since=day(2))  # an earlier, answered spell
    assert not should_flag(None, open_episode=False, last_dark_since=None)


STEPS = (CadenceStep("call", 2), CadenceStep("email", 3), CadenceStep("social", 3))


def test_the_cadence_steps_are_due_one_after_the_other() -> None:
    steps = plan(STEPS, day(30))
    # call due 30 until 32, email 32 until 35, social 35 until 38
    assert [(s.number, s.channel, s.due_at, s.until) for s in steps] == [
        (1, "call", day(30), day(32)), (2, "email", day(32), day(35)), (3, "social", day(35), day(38))]


def test_a_step_is_done_by_an_outbound_touch_of_its_channel_in_its_window() -> None:
    steps = plan(STEPS, day(30))
    outbound = [Touch(day(29), "call", "early"),       # before the call was due: does not count
                Touch(day(31), "email", "wrong"),      # email in the call's window: not the call
                Touch(day(33), "call", "late-call"),   # a call in the email's window: not the email
                Touch(day(34), "email", "e1"),         # the email step
                Touch(day(34.5), "email", "e2"),       # a second one: the first is kept
                Touch(day(38), "social", "after")]     # social at its window's end: too late
    done = adherence(steps, outbound, day(40))
    assert [(s.done_at, s.activity_id) for s in done] == [(None, None), (day(34), "e1"), (None, None)]
    assert not complete(done)
    # on day 33.5 the email step is due but not done yet, social not due: unchanged
    partial = adherence(steps, outbound, day(33.5))
    assert [s.done_at for s in partial] == [None, None, None]
    assert partial[2] == steps[2]
    finished = adherence(steps, [Touch(day(30), "call", "c"), Touch(day(32), "email", "e"),
                                 Touch(day(37.9), "social", "s")], day(38))
    assert complete(finished)


CLOSE = Close(after_days=21, enabled=True)


def episode() -> Episode:
    return Episode(dark_since=day(21), flagged_at=day(22), steps=plan(STEPS, day(22)))


def test_steps_fall_due_once_and_the_next_look_is_the_next_step_then_the_limit() -> None:
    # steps due 22 (call), 24 (email), 27 (social); the limit is 22 + 21 = 43
    first = advance(episode(), now=day(22), two_way=[], outbound=[], still_watched=True, close=CLOSE, can_close=True)
    assert (first.state, first.newly_due, first.next_step_at) == (DARK, (1,), day(24))
    second = advance(Episode(day(21), day(22), first.steps), now=day(28), two_way=[],
                     outbound=[Touch(day(23), "call", "c1")], still_watched=True, close=CLOSE, can_close=True)
    assert (second.state, second.newly_due, second.next_step_at) == (DARK, (2, 3), day(43))
    assert [s.activity_id for s in second.steps] == ["c1", None, None]
    again = advance(Episode(day(21), day(22), second.steps), now=day(30), two_way=[], outbound=[],
                    still_watched=True, close=CLOSE, can_close=True)
    assert again.newly_due == ()


def test_a_two_way_touch_after_dark_since_answers_the_episode() -> None:
    out = advance(episode(), now=day(30), two_way=[day(10), day(25)], outbound=[Touch(day(22.5), "call", "c"),
                  Touch(day(26), "email", "after-the-answer")], still_watched=True, close=CLOSE, can_close=True)
    assert (out.state, out.ended_at, out.next_step_at, out.newly_due) == (ANSWERED, day(25), None, ())
    # adherence as it stood at the answer: the call done, the email due on 24 not done by 25
    assert [s.done_at for s in out.steps] == [day(22.5), None, None]
    # a touch before dark_since (day 10) alone answers nothing
    out = advance(episode(), now=day(30), two_way=[day(10)], outbound=[], still_watched=True, close=CLOSE,
                  can_close=True)
    assert out.state == DARK


def test_past_the_limit_unanswered_it_is_closed_lost_at_the_limit() -> None:
    out = advance(episode(), now=day(50), two_way=[], outbound=[], still_watched=True, close=CLOSE, can_close=True)
    assert (out.state, out.close_at, out.ended_at) == (CLOSED_LOST, day(43), day(50))
    assert advance(episode(), now=day(42.9), two_way=[], outbound=[], still_watched=True, close=CLOSE,
                   can_close=True).state == DARK


def test_auto_close_off_leaves_it_dark_with_nothing_more_due() -> None:
    out = advance(episode(), now=day(50), two_way=[], outbound=[], still_watched=True,
                  close=Close(after_days=21, enabled=False), can_close=True)
    assert (out.state, out.next_step_at, out.ended_at, out.close_at) == (DARK, None, None, None)


def test_an_account_past_the_limit_expires_and_one_no_longer_watched_is_closed() -> None:
    assert advance(episode(), now=day(50), two_way=[], outbound=[], still_watched=True, close=CLOSE,
                   can_close=False).state == EXPIRED
    out = advance(episode(), now=day(30), two_way=[], outbound=[], still_watched=False, close=CLOSE, can_close=True)
    assert (out.state, out.ended_at) == (CLOSED, day(30))
