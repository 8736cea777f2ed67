"""Small-cell suppression: cells under k, the one-cell case, a total under k."""

from __future__ import annotations

from services.kanon import suppress


def test_cells_under_k_are_suppressed_and_the_rest_published() -> None:
    published = suppress({"18_29": 40, "30_39": 9, "40_49": 3, "50_59": 10})
    assert published.cells == {"18_29": 40, "30_39": None, "40_49": None, "50_59": 10}
    assert published.total == 62


def test_a_single_small_cell_takes_the_next_smallest_with_it() -> None:
    # Otherwise 30_39 would be 62 - 40 - 13.
    published = suppress({"18_29": 40, "30_39": 9, "40_49": 13, "50_59": 20})
    assert published.cells == {"18_29": 40, "30_39": None, "40_49": None, "50_59": 20}


def test_a_total_under_k_suppresses_everything() -> None:
    published = suppress({"18_29": 5, "30_39": 4})
    assert published.cells == {"18_29": None, "30_39": None}
    assert published.total is None


def test_k_is_a_parameter_and_exactly_k_is_published() -> None:
    assert suppress({"a": 10, "b": 10}).cells == {"a": 10, "b": 10}
    assert suppress({"a": 10, "b": 10}, k=11).total == 20
    assert suppress({"a": 10, "b": 10}, k=11).cells == {"a": None, "b": None}
