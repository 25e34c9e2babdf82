"""Tail detection on hand-set evidence: the rules of delve_advisor.advisor.tail, exactly."""

import math

import pytest

from delve_advisor.advisor.tail import TailThresholds, find_tail
from delve_advisor.exceptions import InvalidArgumentError

LAYERS = ["a", "b", "c", "d", "e"]


def test_both_evidences_at_the_end_form_the_tail():
    rf = {"a": False, "b": False, "c": False, "d": True, "e": True}
    sat = {"a": 0.8, "b": 0.6, "c": 0.7, "d": 0.2, "e": 0.1}
    t = find_tail(LAYERS, rf, sat)
    assert t.tail == ["d", "e"]
    assert t.reference_saturation == 0.7  # median of a, b, c
    assert t.evidence == {"a": "neither", "b": "neither", "c": "neither", "d": "both", "e": "both"}
    assert t.disagreements == []


def test_either_evidence_extends_the_tail_and_disagreements_are_listed():
    rf = {"a": False, "b": False, "c": True, "d": False, "e": True}
    sat = {"a": 0.8, "b": 0.8, "c": 0.7, "d": 0.3, "e": 0.2}
    t = find_tail(LAYERS, rf, sat)
    # reference: median over rf-productive a, b, d = 0.8; cut 0.4: d and e are low
    assert t.tail == ["c", "d", "e"]
    assert t.evidence["c"] == "receptive_field" and t.evidence["d"] == "saturation"
    assert t.disagreements == ["c", "d"]


def test_a_layer_without_evidence_ends_the_run():
    rf = {"a": False, "b": True, "c": False, "d": True, "e": True}
    t = find_tail(LAYERS, rf)
    assert t.tail == ["d", "e"] and math.isnan(t.reference_saturation)
    assert t.evidence["b"] == "receptive_field"


def test_saturation_exactly_at_the_cut_is_not_low():
    rf = dict.fromkeys(LAYERS, False)
    sat = {"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.8, "e": 0.4}
    assert find_tail(LAYERS, rf, sat).tail == []  # 0.4 == 0.5 * 0.8: not below
    sat["e"] = 0.39
    assert find_tail(LAYERS, rf, sat).tail == ["e"]


def test_dead_layers_count_as_saturation_evidence():
    rf = dict.fromkeys(LAYERS, False)
    sat = {"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.8, "e": 0.0}
    t = find_tail(LAYERS, rf, sat, dead={"e": True})
    assert t.tail == ["e"] and t.evidence["e"] == "saturation"


def test_reference_falls_back_to_the_first_half():
    rf = {"a": False, "b": True, "c": True, "d": True, "e": True}
    sat = {"a": 0.9, "b": 0.7, "c": 0.5, "d": 0.3, "e": 0.1}
    t = find_tail(LAYERS, rf, sat)
    assert t.reference_saturation == pytest.approx(0.8)  # median of a, b
    assert any("first half" in note for note in t.notes)


def test_no_data_layers_are_not_saturation_evidence():
    rf = dict.fromkeys(LAYERS, False)
    sat = {"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.8, "e": math.nan}
    assert find_tail(LAYERS, rf, sat).tail == []


def test_min_tail_length():
    rf = {"a": False, "b": False, "c": False, "d": False, "e": True}
    assert find_tail(LAYERS, rf, thresholds=TailThresholds(min_tail_length=2)).tail == []


@pytest.mark.parametrize(
    "kwargs", [{"saturation_ratio": 0.0}, {"saturation_ratio": 1.5}, {"min_tail_length": 0}]
)
def test_thresholds_are_checked(kwargs):
    with pytest.raises(InvalidArgumentError, match=next(iter(kwargs))):
        TailThresholds(**kwargs)
