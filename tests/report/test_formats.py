"""Tests of the report format registry, Report.save and the self-contained HTML page."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.image import imread

from delve_advisor.exceptions import (
    DuplicateRegistrationError,
    InvalidArgumentError,
    UnknownNameError,
)
from delve_advisor.report import (
    BaseReportFormat,
    HTMLReportFormat,
    JSONReportFormat,
    MarkdownReportFormat,
    PlotsReportFormat,
    Report,
    get_report_format,
    list_report_formats,
    register_report_format,
    unregister_report_format,
    validate_report,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _TailWriter(BaseReportFormat):
    def write(self, report, directory):
        path = directory / "tail.txt"
        path.write_text("\n".join(report.tail), encoding="utf-8")
        return {"tail": path}


@pytest.fixture
def user_writer():
    register_report_format("tail-list", _TailWriter)
    try:
        yield "tail-list"
    finally:
        unregister_report_format("tail-list")


def _assert_png(data: bytes) -> None:
    assert data[:8] == PNG_SIGNATURE
    pixels = imread(io.BytesIO(data), format="png")  # decodes the whole image
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert pixels.std() > 0.05  # not a blank canvas


# ------------------------------------------------------------------------ registry


def test_builtin_writers_are_registered_in_order():
    assert list_report_formats()[:4] == ["json", "markdown", "html", "plots"]
    assert isinstance(get_report_format("json"), JSONReportFormat)
    assert isinstance(get_report_format("markdown"), MarkdownReportFormat)
    assert isinstance(get_report_format("html"), HTMLReportFormat)
    assert isinstance(get_report_format("plots"), PlotsReportFormat)


def test_duplicate_registration_is_an_error_unless_override(user_writer):
    with pytest.raises(DuplicateRegistrationError, match=r"'json'.*override=True"):
        register_report_format("json", _TailWriter)
    assert isinstance(get_report_format("json"), JSONReportFormat)  # unchanged
    with pytest.raises(DuplicateRegistrationError, match="tail-list"):
        register_report_format(user_writer, _TailWriter)

    class Other(_TailWriter):
        pass

    register_report_format(user_writer, Other, override=True)
    assert type(get_report_format(user_writer)) is Other


def test_decorator_form_and_argument_checks():
    try:

        @register_report_format("decorated")
        class Decorated(_TailWriter):
            pass

        assert type(get_report_format("decorated")) is Decorated
        assert "decorated" in list_report_formats()
    finally:
        unregister_report_format("decorated")
    assert "decorated" not in list_report_formats()
    with pytest.raises(InvalidArgumentError, match=r"name must match .* got 'Bad Name'"):
        register_report_format("Bad Name", _TailWriter)
    with pytest.raises(InvalidArgumentError, match=r"must be a subclass of BaseReportFormat"):
        register_report_format("plain", object)
    with pytest.raises(
        UnknownNameError, match=r"no report format is registered for 'pdf'; registered: \["
    ):
        get_report_format("pdf")
    with pytest.raises(UnknownNameError, match=r"registered: \[.*'json'.*list_report_formats\(\)"):
        unregister_report_format("pdf")


# ------------------------------------------------------------------------ save


def test_save_writes_every_format(samples, tmp_path):
    report = samples.report()
    out = tmp_path / "nested" / "run"
    paths = report.save(out)
    assert set(paths) == {
        "json",
        "markdown",
        "html",
        "plot_saturation",
        "plot_receptive_field",
        "plot_combined",
    }
    assert paths["json"] == out / "report.json" and paths["html"] == out / "report.html"
    assert paths["markdown"] == out / "report.md"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "report.json",
            "report.md",
            "report.html",
            "saturation.png",
            "receptive_field.png",
            "combined.png",
        ]
    )
    validate_report(json.loads(paths["json"].read_text(encoding="utf-8")))
    assert Report.load(out).equals(report)
    assert paths["markdown"].read_text(encoding="utf-8") == report.to_markdown()
    for key in ("plot_saturation", "plot_receptive_field", "plot_combined"):
        _assert_png(paths[key].read_bytes())
    # the page embeds the very PNGs written next to it (drawn once per save)
    images = _parse(paths["html"].read_text(encoding="utf-8")).images
    assert images["plot-saturation"]["png"] == paths["plot_saturation"].read_bytes()


def test_save_uses_a_registered_user_writer_by_default(samples, tmp_path, user_writer):
    paths = samples.report().save(tmp_path)
    assert paths["tail"].read_text(encoding="utf-8") == "layer4.0.conv1\nlayer4.0.conv2"
    only = samples.report().save(tmp_path / "only", formats=[user_writer, "json"])
    assert set(only) == {"tail", "json"}
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == ["report.json", "tail.txt"]
    assert set(write_report(samples.report(), tmp_path / "one", "json")) == {"json"}


def test_save_checks_formats_and_writer_results(samples, tmp_path):
    with pytest.raises(UnknownNameError, match=r"no report format is registered for 'pdf'"):
        samples.report().save(tmp_path / "never", formats=["json", "pdf"])
    assert not (tmp_path / "never").exists()  # nothing written before the check

    class Broken(BaseReportFormat):
        def write(self, report, directory):
            return ["report.txt"]

    class Clash(BaseReportFormat):
        def write(self, report, directory):
            return {"json": directory / "other.json"}

    try:
        register_report_format("broken", Broken)
        register_report_format("clash", Clash)
        with pytest.raises(InvalidArgumentError, match=r"'broken' \(Broken\) must return a dict"):
            samples.report().save(tmp_path, formats=["broken"])
        with pytest.raises(InvalidArgumentError, match=r"'json' and 'clash' both returned"):
            samples.report().save(tmp_path, formats=["json", "clash"])
    finally:
        unregister_report_format("broken")
        unregister_report_format("clash")


def test_graph_only_save_writes_only_plots_with_data(samples, tmp_path):
    paths = samples.report("graph_only").save(tmp_path)
    assert {k for k in paths if k.startswith("plot_")} == {"plot_receptive_field"}
    assert not (tmp_path / "saturation.png").exists()


# ------------------------------------------------------------------------ HTML


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.images: dict[str, dict] = {}
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "img":
            src = attrs.get("src") or ""
            prefix = "data:image/png;base64,"
            assert src.startswith(prefix), src[:40]
            png = base64.b64decode(src[len(prefix) :], validate=True)
            self.images[attrs.get("id")] = {"alt": attrs.get("alt"), "png": png}
        elif tag not in ("meta", "br", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    assert parser.stack == []  # every element closed, properly nested
    return parser


def test_html_is_self_contained_and_embeds_every_plot(samples):
    page = samples.report().to_html()
    assert page.startswith("<!DOCTYPE html>")
    parsed = _parse(page)
    assert set(parsed.images) == {"plot-saturation", "plot-receptive-field", "plot-combined"}
    for image in parsed.images.values():
        assert image["alt"]
        _assert_png(image["png"])
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for _, attrs in parsed.tags:
        for key in ("src", "href"):
            assert not (attrs.get(key) or "").startswith(("http:", "https:", "//", "file:"))
    text = " ".join(parsed.text)
    assert samples.report().headline in text
    assert "layer4.0.conv2" in text and "drop_downsampling" in text
    assert "loss became NaN" not in text


def test_html_graph_only_and_diverged_say_so(samples):
    graph = _parse(samples.report("graph_only").to_html())
    assert set(graph.images) == {"plot-receptive-field"}
    assert "Graph only: no data was given" in " ".join(graph.text)
    diverged = " ".join(_parse(samples.report("diverged").to_html()).text)
    assert "Warning: training diverged. Training diverged (loss became NaN at epoch 1)" in diverged


def test_html_escapes_user_strings(samples):
    meta = samples.meta()
    meta["model"] = "<script>alert('model')</script>"
    meta["warnings"] = ["a <b>bold</b> & risky warning"]
    suggestions = samples.suggestions()
    suggestions[0] = dataclasses.replace(
        suggestions[0], rationale='stride "1" <img src=x onerror=alert(1)>'
    )
    report = Report(
        layers=samples.layers(),
        tail=["layer4.0.conv1", "layer4.0.conv2"],
        suggestions=suggestions,
        meta=meta,
    )
    page = report.to_html()
    parsed = _parse(page)
    assert "script" not in {tag for tag, _ in parsed.tags}
    assert "b" not in {tag for tag, _ in parsed.tags}
    assert len([t for t, _ in parsed.tags if t == "img"]) == 3  # the plots, not the rationale
    text = "".join(parsed.text)
    assert "<script>alert('model')</script>" in text
    assert "a <b>bold</b> & risky warning" in text
    assert 'stride "1" <img src=x onerror=alert(1)>' in text


def test_html_of_an_empty_report(samples):
    empty = Report(
        layers=samples.layers().iloc[:0], tail=[], suggestions=[], meta={"status": "graph_only"}
    )
    parsed = _parse(empty.to_html())
    assert "No layer was analysed." in " ".join(parsed.text)


def test_save_accepts_a_string_path(samples, tmp_path):
    paths = samples.report().save(str(tmp_path / "s"), formats=["json"])
    assert isinstance(paths["json"], Path) and paths["json"].exists()
