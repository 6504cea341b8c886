"""Sizes and durations in words, as the runs list, the search's trials and the messages show them."""

from __future__ import annotations

from modstudio.sizes import human_duration


def test_durations_read_in_seconds_minutes_or_hours() -> None:
    assert human_duration(4.21) == "4.2 s"
    assert human_duration(59.94) == "59.9 s"
    assert human_duration(187) == "3 min 07 s"
    assert human_duration(7500) == "2 h 05 min"
