"""Time-aware queries: find the period a query names ("yesterday", "last week", "in March",
"on 2024-05-07", "three days ago") relative to the reference date, so that memories created
then rank first. Deterministic and English-only; anything unrecognised means "no window".
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a few": 3,
    "several": 4,
}
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}

_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR_TAIL = r"(?:,?\s+(\d{4}))?"
_DAY_MONTH = re.compile(rf"\b{_ORDINAL}\s+(?:of\s+)?({_MONTH_NAMES})\b\.?{_YEAR_TAIL}")
_MONTH_DAY = re.compile(rf"\b({_MONTH_NAMES})\.?\s+{_ORDINAL}\b{_YEAR_TAIL}")
_MONTH_YEAR = re.compile(rf"\b(?:in\s+|during\s+|of\s+)?({_MONTH_NAMES})\b(?:\s+(\d{{4}}))?")
_YEAR = re.compile(r"\b(?:in|during|of|since)\s+((?:19|20)\d{2})\b")
_AGO = re.compile(
    r"\b(\d+|a couple of|a few|several|an?|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"\s+(day|week|month|year)s?\s+ago\b"
)
_RELATIVE = re.compile(r"\b(last|past|previous|this|next)\s+(week|month|year|weekend)\b")
_WEEKDAY = re.compile(r"\b(?:on\s+|last\s+|this\s+)?(" + "|".join(WEEKDAYS) + r")\b")


@dataclass(frozen=True)
class TimeWindow:
    start: datetime
    end: datetime  # exclusive
    phrase: str  # the words that named it (kept out of keyword matching)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _window(first: date, last: date, phrase: str) -> TimeWindow:
    return TimeWindow(_day_start(first), _day_start(last) + timedelta(days=1), phrase)


def _month_window(year: int, month: int, phrase: str) -> TimeWindow:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return _window(first, following - timedelta(days=1), phrase)


def query_time_window(query: str, reference: datetime | None = None) -> TimeWindow | None:
    """The period the query talks about, or None."""
    text = query.casefold()
    today = (reference or datetime.now(UTC)).astimezone(UTC).date()
    for finder in (_explicit_date, _relative_day, _ago, _relative_period, _month, _year, _weekday):
        found = finder(text, today)
        if found is not None:
            return found
    return None


def _explicit_date(text: str, today: date) -> TimeWindow | None:
    if match := _ISO_DATE.search(text):
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
        return _window(day, day, match[0])
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        if match := pattern.search(text):
            year = int(match[3]) if match[3] else _latest_year(today, MONTHS[match[month_group]])
            try:
                day = date(year, MONTHS[match[month_group]], int(match[day_group]))
            except ValueError:
                continue
            return _window(day, day, match[0])
    return None


def _latest_year(today: date, month: int) -> int:
    """A month named without a year is the most recent one (this year's, or last year's)."""
    return today.year if month <= today.month else today.year - 1


def _relative_day(text: str, today: date) -> TimeWindow | None:
    if match := re.search(r"\b(today|tonight|this morning|this evening)\b", text):
        return _window(today, today, match[0])
    if match := re.search(r"\b(yesterday|last night)\b", text):
        day = today - timedelta(days=1)
        return _window(day, day, match[0])
    if match := re.search(r"\b(recently|lately|these days)\b", text):
        return _window(today - timedelta(days=14), today, match[0])
    return None


def _ago(text: str, today: date) -> TimeWindow | None:
    match = _AGO.search(text)
    if match is None:
        return None
    count = int(match[1]) if match[1].isdigit() else NUMBER_WORDS.get(match[1], 1)
    span = UNIT_DAYS[match[2]]
    centre = today - timedelta(days=count * span)
    slack = span  # "two weeks ago" is fuzzy: give or take a week
    return _window(centre - timedelta(days=slack), centre + timedelta(days=slack), match[0])


def _relative_period(text: str, today: date) -> TimeWindow | None:
    match = _RELATIVE.search(text)
    if match is None:
        return None
    which, unit = match[1], match[2]
    if unit == "weekend":
        saturday = today - timedelta(days=(today.weekday() - 5) % 7 or 7)
        return _window(saturday, saturday + timedelta(days=1), match[0])
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        if which == "this":
            return _window(monday, today, match[0])
        if which == "past":
            return _window(today - timedelta(days=7), today, match[0])
        return _window(monday - timedelta(days=7), monday - timedelta(days=1), match[0])
    if unit == "month":
        if which == "this":
            return _window(today.replace(day=1), today, match[0])
        if which == "past":
            return _window(today - timedelta(days=30), today, match[0])
        last_month_end = today.replace(day=1) - timedelta(days=1)
        return _month_window(last_month_end.year, last_month_end.month, match[0])
    year = today.year if which == "this" else today.year - 1
    return _window(date(year, 1, 1), date(year, 12, 31), match[0])


def _month(text: str, today: date) -> TimeWindow | None:
    for match in _MONTH_YEAR.finditer(text):
        name = match[1]
        # "may" and "march" are also ordinary words: without a year, require a preposition.
        ambiguous = name in ("may", "march", "mar", "jan", "jun", "oct", "dec")
        if ambiguous and not match[2] and not match[0].startswith(("in ", "during ", "of ")):
            continue
        month = MONTHS[name]
        year = int(match[2]) if match[2] else _latest_year(today, month)
        return _month_window(year, month, match[0])
    return None


def _year(text: str, today: date) -> TimeWindow | None:
    if match := _YEAR.search(text):
        year = int(match[1])
        return _window(date(year, 1, 1), date(year, 12, 31), match[0])
    return None


def _weekday(text: str, today: date) -> TimeWindow | None:
    match = _WEEKDAY.search(text)
    if match is None or not match[0].startswith(("on ", "last ", "this ")):
        return None
    target = WEEKDAYS.index(match[1])
    back = (today.weekday() - target) % 7 or 7
    day = today - timedelta(days=back)
    return _window(day, day, match[0])
