"""Fuzz Settings: any value of any type for any field, and replace() with any names.
A Settings either validates (every field then has its documented type and range) or
raises SettingsError naming the setting; never another exception."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matting.errors import SettingsError
from matting.settings import Settings
from strategies import ANY_VALUE, FUZZ

NAMES = Settings.names()
OPTIONAL_PATHS = {"background_plate"}  # "" = none


def _well_formed(s: Settings) -> None:
    for f in dataclasses.fields(Settings):
        v = getattr(s, f.name)
        default = getattr(Settings(), f.name)
        if isinstance(default, bool):
            assert isinstance(v, bool), f.name
        elif isinstance(default, (int, float)):
            assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v), f.name
        elif f.name in OPTIONAL_PATHS:
            assert isinstance(v, str), f.name
        else:
            assert isinstance(v, str) and v.strip(), f.name


@FUZZ
@given(values=st.dictionaries(st.sampled_from(NAMES), ANY_VALUE, max_size=4))
def test_settings_any_values(values):
    try:
        s = Settings(**values)
    except SettingsError as exc:
        assert any(name in str(exc) for name in values), f"message names no setting: {exc}"
        return
    _well_formed(s)


@FUZZ
@given(changes=st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=12)), ANY_VALUE, max_size=4))
def test_replace_any_names(changes):
    try:
        s = Settings().replace(**changes)
    except SettingsError:
        return
    _well_formed(s)


def test_unknown_keyword_in_constructor_is_a_type_error():
    """The constructor is Python's (TypeError); front ends go through replace()."""
    with pytest.raises(TypeError):
        Settings(nonsense=1)
