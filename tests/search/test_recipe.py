"""Tests for delve_advisor.search.recipe: schema, key paths in errors, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from delve_advisor.exceptions import RecipeError
from delve_advisor.search.recipe import load_recipe, parse_recipe

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"version": 1, "model": {"spec": "torchvision:resnet18"}, "data": {"spec": "synthetic"}}


def test_minimal_recipe_gets_defaults():
    recipe = parse_recipe(MINIMAL)
    assert recipe.training.epochs == 1 and recipe.objective.pruner == "median"
    assert recipe.study_name == "delve-advisor-search"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"training": {"epochs": "many"}}, r"training\.epochs: Input should be a valid integer"),
        ({"training": {"epoch": 2}}, r"training\.epoch: unknown key"),
        ({"colour": "red"}, r"colour: unknown key"),
        ({"model": None}, r"model: Input should be a valid dictionary"),
        ({"objective": {"mode": "both"}}, r"objective\.mode: Input should be 'single' or 'multi'"),
        ({"space": {"lr": [1.0, 0.1]}}, r"space\.lr: Value error, must be \[low, high\]"),
        ({"space": {"widths": [0.5, 0]}}, r"space\.widths: Value error, must be .* > 0"),
        ({"space": {"widths": []}}, r"space\.widths: Value error, must be a non-empty list"),
        ({"space": {"widths": ["wide"]}}, r"space\.widths\.0: Input should be a valid number"),
        ({"data": {"spec": "nonsense:x"}}, r"data\.spec: .*unknown data kind 'nonsense'"),
        ({"version": 2}, r"version: this delve-advisor reads version 1, got 2"),
    ],
)
def test_invalid_recipes_name_the_key_path(change, match):
    data = {**MINIMAL, **change}
    with pytest.raises(RecipeError, match=match):
        parse_recipe(data, "r.yaml")


def test_val_split_defaults_to_none_and_takes_a_share():
    assert parse_recipe(MINIMAL).data.val_split is None
    recipe = parse_recipe({**MINIMAL, "data": {"spec": "synthetic", "val_split": 0.2}})
    assert recipe.data.val_split == 0.2


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (0, r"data\.val_split: Input should be greater than 0 \(got 0\)"),
        (1.5, r"data\.val_split: Input should be less than 1 \(got 1\.5\)"),
        ("some", r"data\.val_split: Input should be a valid number"),
    ],
)
def test_bad_val_split_names_the_key_path(value, match):
    data = {**MINIMAL, "data": {"spec": "synthetic", "val_split": value}}
    with pytest.raises(RecipeError, match=match):
        parse_recipe(data, "r.yaml")


def test_missing_model_names_the_key():
    data = {k: v for k, v in MINIMAL.items() if k != "model"}
    with pytest.raises(
        RecipeError, match=r"invalid recipe r\.yaml: model: required key is missing"
    ):
        parse_recipe(data, "r.yaml")


def test_errors_are_one_line_and_list_every_problem():
    with pytest.raises(RecipeError) as info:
        parse_recipe({**MINIMAL, "n_trials": 0, "seed": "x"}, "r.yaml")
    text = str(info.value)
    assert "\n" not in text and "n_trials:" in text and "seed:" in text


def test_file_errors(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [1\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(RecipeError, match="top level must be a mapping"):
        load_recipe(bad)


def test_relative_paths_resolve_against_the_recipe_file(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = folder / "r.yaml"
    data = {**MINIMAL, "data": {"spec": "fashion-mnist:../data/FMNIST"}, "out": "../runs/x"}
    path.write_text(yaml.safe_dump(data))
    recipe = load_recipe(path)
    assert recipe.data_spec == f"fashion-mnist:{(tmp_path / 'data' / 'FMNIST').resolve()}"
    assert recipe.resolve(recipe.out) == (tmp_path / "runs" / "x").resolve()
    assert recipe.study_name == "r"


@pytest.mark.parametrize(
    "name",
    [
        "quickstart.yaml",
        "resnet18-fashion-mnist.yaml",
        "vgg16-fashion-mnist.yaml",
        "resnet18-cifar10.yaml",
    ],
)
def test_shipped_recipes_validate_and_point_where_they_say(name):
    recipe = load_recipe(REPO / "recipes" / name)
    if "fashion-mnist" in name:
        assert recipe.data_spec == f"fashion-mnist:{(REPO.parent / 'shared/data/FashionMNIST')}"
    if name != "quickstart.yaml":  # real data sets: the search must not choose on test images
        assert recipe.data.val_split is not None
    assert recipe.resolve(recipe.out).parent == (REPO / "runs").resolve()
