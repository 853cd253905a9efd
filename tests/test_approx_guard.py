"""The suite's guard on pytest.approx (tests/conftest.py): a tensor on either side of an approx
comparison fails on every pytest release with one clear TypeError, while numbers compare and
fail as pytest normally makes them."""

from __future__ import annotations

import pytest
import torch

from conftest import PYTEST_APPROX

REFUSED = "pytest.approx got a tensor as its .* value; compare float"


@pytest.mark.parametrize(
    "expected",
    [torch.tensor(1.0), torch.ones(3), [1.0, torch.tensor(1.0)], {"a": torch.tensor(1.0)}],
    ids=["0-d", "1-d", "in a list", "in a dict"],
)
def test_a_tensor_as_the_expected_value_is_refused(expected):
    with pytest.raises(TypeError, match=REFUSED):
        pytest.approx(expected)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (torch.tensor(1.0), 1.0),
        (torch.ones(3), [1.0, 1.0, 1.0]),
        ([1.0, torch.tensor(2.0)], [1, 2]),
    ],
    ids=["0-d", "1-d", "in a list"],
)
def test_a_tensor_compared_with_approx_is_refused_from_either_side(actual, expected):
    with pytest.raises(TypeError, match=REFUSED):
        assert actual == pytest.approx(expected)
    with pytest.raises(TypeError, match=REFUSED):
        assert pytest.approx(expected) == actual


def test_numbers_still_compare_and_keep_pytests_failure_explanation():
    third, sums = 0.1 + 0.2, [1.0, 0.1 + 0.2]
    assert third == pytest.approx(0.3)
    assert third != pytest.approx(0.31)
    assert sums == pytest.approx([1.0, 0.3], rel=1e-12)
    assert {"third": third} == pytest.approx({"third": 0.3})
    # pytest explains a failed comparison only for instances of the class approx returns
    assert isinstance(pytest.approx(1.0), type(PYTEST_APPROX(1.0)))
    assert isinstance(pytest.approx([1.0]), type(PYTEST_APPROX([1.0])))
