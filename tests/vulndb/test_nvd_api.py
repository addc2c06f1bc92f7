"""NVD API windows: at most 120 days each, consecutive, covering the whole span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from panacea.vulndb.nvd_api import MAX_WINDOW, Window, modification_windows

START = datetime(2020, 1, 1, tzinfo=UTC)


@given(st.integers(1, 3 * 365 * 24 * 3600))
def test_windows_cover_the_span_in_at_most_120_days_each(seconds: int) -> None:
    until = START + timedelta(seconds=seconds)

    windows = modification_windows(START, until)

    assert windows[0].start == START
    assert windows[-1].end == until
    assert all(w.start is not None and w.end is not None for w in windows)
    assert all(w.end - w.start <= MAX_WINDOW for w in windows)  # type: ignore[operator]
    assert all(a.end == b.start for a, b in pairwise(windows))
    assert len(windows) == -(-(until - START) // MAX_WINDOW)


def test_no_window_when_nothing_can_have_changed() -> None:
    assert modification_windows(START, START) == []
    assert modification_windows(START, START - timedelta(days=1)) == []


def test_window_parameters_are_extended_iso_8601_with_offset() -> None:
    window = Window(START, START + timedelta(days=1, milliseconds=5))

    assert window.params() == {
        "lastModStartDate": "2020-01-01T00:00:00.000+00:00",
        "lastModEndDate": "2020-01-02T00:00:00.005+00:00",
    }
    assert Window().params() == {}
