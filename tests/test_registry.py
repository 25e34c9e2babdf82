"""Every registry has the same form: register_* (also a decorator, keyword-only override),
list_*, unregister_* (unknown key -> UnknownNameError listing the valid ones), MRO lookups and
duplicates as errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from torch import nn

from delve_advisor._registry import TypeRegistry
from delve_advisor.exceptions import DuplicateRegistrationError, UnknownNameError
from delve_advisor.graph.rules import (
    WindowOp,
    get_rf_rule,
    list_rf_rules,
    register_rf_rule,
    unregister_rf_rule,
)
from delve_advisor.report.formats import (
    BaseReportFormat,
    get_report_format,
    list_report_formats,
    register_report_format,
    unregister_report_format,
)
from delve_advisor.saturation.handlers import (
    LinearHandler,
    get_layer_handler,
    list_layer_handlers,
    register_layer_handler,
    unregister_layer_handler,
)
from delve_advisor.saturation.writers import (
    TrackerOutput,
    create_tracker_output,
    list_tracker_outputs,
    register_tracker_output,
    unregister_tracker_output,
)


class _Layer(nn.Linear):
    pass


class _SubLayer(_Layer):
    pass


class _Handler(LinearHandler):
    pass


class _Output(TrackerOutput):
    def write(self, result):
        pass


class _Format(BaseReportFormat):
    def write(self, report, directory):
        return {}


def _rule(ctx):
    return WindowOp(kernel=3)


@dataclass
class _Case:
    name: str
    register: Callable[..., Any]
    unregister: Callable[[Any], None]
    listed: Callable[[], list[str]]
    key: Any
    value: Any
    listed_as: str
    found: Callable[[Any], Any]  # what a lookup of `key` gives back


CASES = [
    _Case(
        "layer handler",
        register_layer_handler,
        unregister_layer_handler,
        list_layer_handlers,
        _Layer,
        _Handler(),
        f"{__name__}._Layer",
        lambda key: get_layer_handler(key(2, 2)),
    ),
    _Case(
        "tracker output",
        register_tracker_output,
        unregister_tracker_output,
        list_tracker_outputs,
        "test-output",
        _Output,
        "test-output",
        lambda key: type(create_tracker_output(key, ".")),
    ),
    _Case(
        "rf rule",
        register_rf_rule,
        unregister_rf_rule,
        list_rf_rules,
        _Layer,
        _rule,
        f"{__name__}._Layer",
        get_rf_rule,
    ),
    _Case(
        "report format",
        register_report_format,
        unregister_report_format,
        list_report_formats,
        "test-format",
        _Format,
        "test-format",
        lambda key: type(get_report_format(key)),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_register_list_unregister_and_duplicates(case):
    assert case.register(case.key, case.value) is case.value
    try:
        assert case.listed_as in case.listed()
        assert case.found(case.key) is case.value
        with pytest.raises(DuplicateRegistrationError, match="override=True"):
            case.register(case.key, case.value)
        with pytest.raises(TypeError):  # override is keyword-only
            case.register(case.key, case.value, True)
        assert case.register(case.key, case.value, override=True) is case.value
    finally:
        case.unregister(case.key)
    assert case.listed_as not in case.listed()
    with pytest.raises(UnknownNameError, match=r"registered: \[") as info:
        case.unregister(case.key)
    assert case.listed()[0] in str(info.value)  # the message lists the valid keys


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_register_is_a_decorator(case):
    decorated = case.register(case.key)(case.value)
    try:
        assert decorated is case.value and case.listed_as in case.listed()
    finally:
        case.unregister(case.key)


def test_lookups_follow_the_mro():
    register_layer_handler(_Layer, _Handler())
    register_rf_rule(_Layer, _rule)
    try:
        assert isinstance(get_layer_handler(_SubLayer(2, 2)), _Handler)
        assert get_rf_rule(_SubLayer) is _rule
        with pytest.raises(UnknownNameError):  # only the type's own entry can be removed
            unregister_rf_rule(_SubLayer)
    finally:
        unregister_layer_handler(_Layer)
        unregister_rf_rule(_Layer)
    assert isinstance(get_layer_handler(_SubLayer(2, 2)), LinearHandler)  # nn.Linear's again


def test_type_registry_keeps_the_methods_edit_operations_use():
    registry: TypeRegistry[int] = TypeRegistry("thing", list_hint="list_things()")
    registry.register("a", 1)
    registry.register("a", 2, override=True)
    assert registry.lookup("a") == 2 and "a" in registry and list(registry) == ["a"]
    assert registry.names() == ["'a'"] and registry.lookup("b") is None
    with pytest.raises(UnknownNameError, match=r"no thing is registered for 'b'.*list_things"):
        registry.get("b")
    registry.unregister("b", missing_ok=True)
    registry.unregister("a")
    assert len(registry) == 0
