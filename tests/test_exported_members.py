"""The public surface of `doppel` is exactly its sorted `__all__` (as httpx keeps its own)."""

from __future__ import annotations

import types

import doppel


def test_every_name_in_all_exists() -> None:
    missing = [name for name in doppel.__all__ if not hasattr(doppel, name)]

    assert missing == []


def test_all_is_sorted_and_has_no_repeats() -> None:
    assert doppel.__all__ == sorted(set(doppel.__all__))


def test_every_public_member_is_in_all() -> None:
    # Submodules become attributes of the package once imported; they are not re-exports.
    public = {
        name
        for name, value in vars(doppel).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert public == set(doppel.__all__)


def test_the_client_and_the_error_tree_are_exported() -> None:
    assert {"Client", "Sandbox", "DoppelError", "SandboxGoneError"} <= set(doppel.__all__)
    assert issubclass(doppel.ConnectionFailedError, doppel.DoppelError)
    assert issubclass(doppel.ClientError, doppel.DoppelError)
