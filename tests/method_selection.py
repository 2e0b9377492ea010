"""Which registered methods the registry-wide tests parametrize over.

Every registered method, unless `XMD_TEST_METHODS` names some (comma-separated, as
`--methods` takes them): then only those, so one method's checks can run alone —
`XMD_TEST_METHODS=rkd pytest tests/methods/test_method_conformance.py ...` — without the
substring matching of `pytest -k`, under which a method called `at` would select nearly
every test ("st*at*e", "valid*at*e"). The pull-request workflow sets it to the methods a
pull request adds or changes. An unknown name fails the collection with did-you-mean.
"""

from __future__ import annotations

import os

from benchmark.method import list_methods, load_methods

ENV = "XMD_TEST_METHODS"


def selected_methods() -> list[str]:
    spec = os.environ.get(ENV, "").strip()
    return load_methods().resolve(spec) if spec else list_methods()
