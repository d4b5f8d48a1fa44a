"""``clean.find_date`` keeps only real calendar days (issue 13: ``31 February 2024`` was stored)."""

import pytest

from retrieval.ingest.dates import find_date


@pytest.mark.parametrize("text", ["31 February 2024", "February 30, 2023", "2023-02-29", "April 31, 2025",
                                  "2025-06-31"])
def test_impossible_days_are_not_dates(text):
    assert find_date(text) is None


def test_a_valid_date_after_an_impossible_one_is_found():
    assert find_date("31 February 2024, corrected on 1 March 2024") == "2024-03-01"
    assert find_date("2023-02-29 then 2024-02-29") == "2024-02-29"  # 2024 is a leap year


def test_leap_days_and_month_ends():
    assert find_date("29 Feb 2024") == "2024-02-29"
    assert find_date("Dec. 31, 1999") == "1999-12-31"
