"""The public API: everything in __all__ exists, __all__ is sorted, and nothing is missing."""

from __future__ import annotations

from importlib.metadata import version

import pytest

import llm_retry
import llm_retry.testing


def test_all_is_sorted_and_complete():
    """__all__ is sorted and lists every public name defined in the package namespace."""
    for module in (llm_retry, llm_retry.testing):
        assert list(module.__all__) == sorted(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_version_is_the_installed_distribution_version():
    """__version__ comes from the installed metadata."""
    assert llm_retry.__version__ == version("llm-retry")


def test_unknown_attribute_raises():
    """Unknown attributes raise AttributeError like any module."""
    with pytest.raises(AttributeError):
        llm_retry.nope  # noqa: B018
