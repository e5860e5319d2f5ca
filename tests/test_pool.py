"""The worker pool: one ordered map."""

from __future__ import annotations

import os
import time

import pytest

from dedup.pool import ordered_map


def _scaled(item: int, factor: int, offset: int) -> tuple[int, int]:
    # Later items finish first: the map must still yield them in input order.
    time.sleep(0.002 * (10 - item % 10))
    return item * factor + offset, os.getpid()


def _fail_on(item: int, bad: int) -> int:
    if item == bad:
        raise ValueError(f"bad item {item}")
    return item


def test_results_come_in_input_order_with_the_context() -> None:
    pairs = list(ordered_map(_scaled, range(40), workers=2, context=(3, 1)))
    assert [item for item, _ in pairs] == list(range(40))
    assert [result for _, (result, _) in pairs] == [3 * i + 1 for i in range(40)]
    assert os.getpid() not in {pid for _, (_, pid) in pairs}


def test_a_failing_item_raises_in_the_parent() -> None:
    with pytest.raises(ValueError, match="bad item 5"):
        list(ordered_map(_fail_on, range(20), workers=2, context=(5,)))


def test_the_input_streams() -> None:
    consumed = []

    def items() -> object:
        for i in range(1000):
            consumed.append(i)
            yield i

    mapped = ordered_map(_fail_on, items(), workers=2, context=(-1,), ahead=4)
    assert next(mapped) == (0, 0)
    assert len(consumed) <= 5
    mapped.close()
