"""NYSE trading days: weekdays less the exchange's full-day holidays (rules as the NYSE publishes them).

Holidays: New Year's Day, Martin Luther King Jr. Day (3rd Monday of January), Washington's Birthday (3rd Monday
of February), Good Friday, Memorial Day (last Monday of May), Juneteenth (from 2022), Independence Day, Labor
Day (1st Monday of September), Thanksgiving (4th Thursday of November) and Christmas. A holiday on a Saturday is
observed on the Friday before (except New Year's Day, which is then not observed), one on a Sunday on the
Monday after. Early closes count as trading days; one-off closures (national days of mourning, storms) are not
modelled. Source: https://www.nyse.com/markets/hours-calendars (rule 7.2, "Holidays").
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month = (h + leap - 7 * m + 114) // 31
    day = (h + leap - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date, saturday_to_friday: bool = True) -> dt.date | None:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1) if saturday_to_friday else None
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def nyse_holidays(year: int) -> frozenset[dt.date]:
    """The NYSE's full-day holidays observed in ``year``."""
    days = [
        _observed(dt.date(year, 1, 1), saturday_to_friday=False),
        _nth_weekday(year, 1, 0, 3),
        _nth_weekday(year, 2, 0, 3),
        _easter(year) - dt.timedelta(days=2),
        _last_weekday(year, 5, 0),
        _observed(dt.date(year, 6, 19)) if year >= 2022 else None,
        _observed(dt.date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 11, 3, 4),
        _observed(dt.date(year, 12, 25)),
    ]
    return frozenset(d for d in days if d is not None and d.year == year)


def is_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in nyse_holidays(day.year)


def trading_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every NYSE trading day in ``[first, last]``."""
    out = []
    day = first
    while day <= last:
        if is_trading_day(day):
            out.append(day)
        day += dt.timedelta(days=1)
    return out


__all__ = ["is_trading_day", "nyse_holidays", "trading_days"]
