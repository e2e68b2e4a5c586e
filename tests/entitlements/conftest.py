from collections.abc import Iterator

import pytest

from invoicing.entitlements.selectors import memo_clear


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    memo_clear()
    yield
    memo_clear()
