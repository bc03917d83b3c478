"""Schedules, windows, spreading and the retry rules: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alert_gateway.errors import InvalidInput
from alert_gateway.escalation.daynight import NightHours
from alert_gateway.wellbeing.check_call import CheckAnswer
from alert_gateway.wellbeing.planning import Step, after_call, first_due
from alert_gateway.wellbeing.schedule import Schedule, Window, normalize, spread

TOKYO = ZoneInfo("Asia/Tokyo")
NIGHT = NightHours(TOKYO, 22, 7)
FRIDAY_3AM = datetime(2026, 11, 27, 3, 0, tzinfo=TOKYO)


@pytest.mark.parametrize(("typed", "stored"), [
    ("weekly mon 10:00-11:00", "weekly mon 10:00-11:00"),
    ("Weekly Monday 9:00 - 9:30", "weekly mon 09:00-09:30"),
    ("毎週月曜 10:00-11:00", "weekly mon 10:00-11:00"),
    ("monthly 1 14:00-16:00", "monthly 1 14:00-16:00"),
    ("毎月１日　１４：００～１６：００", "monthly 1 14:00-16:00"),
])
def test_spellings_city_staff_type_are_stored_in_one_form(typed: str, stored: str) -> None:
    """English and Japanese, half- and full-width, all become the same stored schedule."""
    assert normalize(typed) == stored


@pytest.mark.parametrize("typed", ["weekly xyz 10:00-11:00", "monthly 31 10:00-11:00",
                                   "weekly mon 11:00-10:00", "weekly mon 25:00-26:00", "daily"])
def test_a_schedule_that_is_not_one_is_refused_with_a_reason(typed: str) -> None:
    """Unknown days, the 29th-31st, windows ending before they start and bad times are refused."""
    with pytest.raises(InvalidInput):
        Schedule.parse(typed)


def test_the_window_running_now_or_the_next_one() -> None:
    """Within a window it is that window; after it, the next week's (or month's)."""
    weekly = Schedule.parse("weekly fri 10:00-11:00")
    assert weekly.window_for(FRIDAY_3AM, TOKYO).start == FRIDAY_3AM.replace(hour=10)
    assert weekly.window_for(FRIDAY_3AM.replace(hour=10, minute=30), TOKYO).start.hour == 10
    after = weekly.window_for(FRIDAY_3AM.replace(hour=11), TOKYO)
    assert after.start == FRIDAY_3AM.replace(hour=10) + timedelta(days=7)
    monthly = Schedule.parse("monthly 1 14:00-16:00").window_for(FRIDAY_3AM, TOKYO)
    assert (monthly.start.month, monthly.start.day, monthly.start.hour) == (12, 1, 14)


def test_residents_sharing_a_window_are_spread_over_its_first_half() -> None:
    """Each resident has a stable time in the first half; a hundred do not share one minute."""
    window = Window(FRIDAY_3AM.replace(hour=10), FRIDAY_3AM.replace(hour=11))
    times = [spread(window, f"r-{i}") for i in range(100)]
    assert all(window.start <= t <= window.start + timedelta(minutes=30) for t in times)
    assert len({t.replace(second=0, microsecond=0) for t in times}) > 20
    assert spread(window, "r-1") == spread(window, "r-1")


def test_a_window_in_the_night_is_called_in_the_morning() -> None:
    """Quiet hours: a first call or a retry due at night waits for 07:00."""
    night = Window(FRIDAY_3AM, FRIDAY_3AM + timedelta(hours=1))
    assert first_due(night, "r-1", NIGHT) == FRIDAY_3AM.replace(hour=7)
    late = FRIDAY_3AM.replace(hour=21, minute=50)
    retry = after_call(CheckAnswer.NO_ANSWER, tries=1, max_tries=3, finished_at=late, now=late,
                       retry_after=timedelta(minutes=20), hours=NIGHT)
    assert retry.step is Step.RETRY
    assert retry.due_at == FRIDAY_3AM.replace(hour=7) + timedelta(days=1)


def test_keys_settle_and_no_answer_retries_until_the_last_try() -> None:
    """1 fine, 9 help, a call still on the line waits, and the third unanswered call is the end."""
    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 10:00 in Japan
    rules = {"max_tries": 3, "finished_at": now, "now": now,
             "retry_after": timedelta(minutes=20), "hours": NIGHT}
    assert after_call(CheckAnswer.FINE, tries=1, **rules).step is Step.FINE
    assert after_call(CheckAnswer.HELP, tries=3, **rules).step is Step.HELP
    assert after_call(None, tries=1, **rules).step is Step.WAIT
    retry = after_call(CheckAnswer.NO_ANSWER, tries=2, **rules)
    assert (retry.step, retry.due_at) == (Step.RETRY, now + timedelta(minutes=20))
    assert after_call(CheckAnswer.NO_ANSWER, tries=3, **rules).step is Step.NOT_REACHED
