"""Finding calls by part of the caller's number: exact, prefix ('+4930*'), ending ('*000') or any part ('*111*'),
with LIKE's wildcards taken literally, inside the caller's organization only."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_calls import page_ids, seed_calls


async def test_caller_by_exact_number_prefix_ending_or_part(api: Api) -> None:
    ids = seed_calls(api)  # org 1: c0..c6; org 2 has +4930111007 and +4930111008
    assert await page_ids(api, caller="+4930111003") == [ids["c3"]]
    assert await page_ids(api, caller="+4940*") == [ids["c2"]]
    assert await page_ids(api, caller="*000") == [ids["c4"], ids["c2"], ids["c0"]]
    assert await page_ids(api, caller="*3330*") == [ids["c4"]]
    assert await page_ids(api, caller="*11100*") == [ids["c6"], ids["c5"], ids["c3"], ids["c1"], ids["c0"]]
    assert await page_ids(api, caller="*111007*") == []  # org 2's caller
    assert await page_ids(api, caller="*%*") == [] and await page_ids(api, caller="*_*") == []
    assert len(await page_ids(api, caller="*")) == 7
