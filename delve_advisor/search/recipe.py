"""Search recipes: a versioned YAML schema (pydantic) for one validation search.

A recipe names the model, the data, the input size, the training budget of each trial, the
search space, the objective(s), the storage, the seed and the output directory. Relative paths
in it (the data directory, a checkpoint, the output directory, a journal file) are resolved
against the recipe file's folder, so a recipe runs from any working directory. See
``docs/search.md`` for every key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from delve_advisor._data_spec import parse_data_spec
from delve_advisor.exceptions import RecipeError, SpecError

__all__ = [
    "AdviceSpec",
    "DataSpecModel",
    "ModelSpecModel",
    "ObjectiveSpec",
    "Recipe",
    "SpaceSpec",
    "TrainingSpec",
    "load_recipe",
    "parse_recipe",
]

RECIPE_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpecModel(_Strict):
    """``model:`` — what :func:`delve_advisor.models.load_model` builds."""

    spec: str = Field(description="torchvision:NAME or package.module:factory")
    num_classes: int | None = Field(None, gt=0, description="default: the data's class count")
    in_channels: int | None = Field(None, gt=0, description="default: the data's channels")
    checkpoint: str | None = None


class DataSpecModel(_Strict):
    """``data:`` — what :func:`delve_advisor.data.load_data` reads."""

    spec: str
    batch_size: int = Field(64, gt=0)
    limit: int | None = Field(None, gt=0, description="at most this many samples per split")
    val_split: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="share of the training split held out for validation; the source's own "
        "held-out split becomes the test split, measured once after the search",
    )

    @field_validator("spec")
    @classmethod
    def _valid_spec(cls, value: str) -> str:
        try:
            parse_data_spec(value)
        except SpecError as error:
            raise ValueError(" ".join(str(error).split())) from error
        return value


class TrainingSpec(_Strict):
    """``training:`` — the budget of one trial."""

    epochs: int = Field(1, gt=0)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    max_batches: int | None = Field(None, gt=0)
    time_budget_s: float | None = Field(None, gt=0)
    device: str = "auto"
    amp: bool = True
    track_saturation: bool = True


class AdviceSpec(_Strict):
    """``advice:`` — the advisor's tracked run whose suggestions span the search space."""

    epochs: int = Field(1, gt=0)
    max_batches: int | None = Field(None, gt=0)


class SpaceSpec(_Strict):
    """``space:`` — what each trial may change."""

    edits: bool = True
    max_suggestions: int = Field(4, ge=0, description="the advisor's top-k suggestions")
    input_sizes: list[int] | Literal["feasible"] | None = None
    lr: tuple[float, float] | None = Field(None, description="[low, high], log-uniform")
    widths: list[float] | None = Field(None, description="width factors, e.g. [0.5, 1, 2]")

    @field_validator("input_sizes")
    @classmethod
    def _positive_sizes(cls, value: Any) -> Any:
        if isinstance(value, list) and (not value or min(value) < 1):
            raise ValueError("must be a non-empty list of positive ints, or 'feasible'")
        return value

    @field_validator("widths")
    @classmethod
    def _positive_widths(cls, value: Any) -> Any:
        if value is not None and (not value or min(value) <= 0):
            raise ValueError("must be a non-empty list of width factors > 0, e.g. [0.5, 1.0, 2.0]")
        return value

    @field_validator("lr")
    @classmethod
    def _lr_range(cls, value: Any) -> Any:
        if value is not None and not 0 < value[0] < value[1]:
            raise ValueError("must be [low, high] with 0 < low < high")
        return value


class ObjectiveSpec(_Strict):
    """``objective:`` — what the search optimises."""

    mode: Literal["single", "multi"] = "single"
    pruner: Literal["none", "median", "hyperband"] = "median"
    max_flops: int | None = Field(None, gt=0, description="a constraint, not a hard filter")
    max_params: int | None = Field(None, gt=0)


class Recipe(_Strict):
    """A validated recipe (``version: 1``).

    Attributes:
        path: The file it was read from (None for a dict), used to resolve relative paths.

    Example:
        >>> import yaml
        >>> recipe = parse_recipe(yaml.safe_load('''
        ... version: 1
        ... model: {spec: "torchvision:resnet18"}
        ... data: {spec: "synthetic:n=256,val=128,size=32", batch_size: 32}
        ... training: {epochs: 2, lr: 0.001}
        ... objective: {mode: multi}
        ... n_trials: 8
        ... '''))
        >>> recipe.training.epochs, recipe.data.batch_size, recipe.objective.mode, recipe.n_trials
        (2, 32, 'multi', 8)
        >>> recipe.study_name, recipe.data_spec
        ('delve-advisor-search', 'synthetic:n=256,val=128,size=32')
    """

    version: Literal[1]
    model: ModelSpecModel
    data: DataSpecModel
    input_size: int | None = Field(None, gt=0, description="H = W; default: the data's size")
    training: TrainingSpec = TrainingSpec()
    advice: AdviceSpec = AdviceSpec()
    space: SpaceSpec = SpaceSpec()
    objective: ObjectiveSpec = ObjectiveSpec()
    n_trials: int = Field(10, gt=0)
    study: str | None = None
    storage: str | None = None
    heartbeat_interval: int = Field(10, gt=0, description="seconds, RDB storages")
    grace_period: int = Field(30, gt=0, description="seconds without heartbeat = stale")
    seed: int = 0
    out: str = "runs/search"
    path: Path | None = Field(None, exclude=True)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against (the recipe's, else the cwd)."""
        return self.path.parent if self.path is not None else Path.cwd()

    def resolve(self, value: str | Path) -> Path:
        """``value`` as an absolute path, relative ones taken from :attr:`base_dir`."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def data_spec(self) -> str:
        """The data spec with its path resolved against the recipe's folder."""
        parsed = parse_data_spec(self.data.spec)
        if parsed.path is None:
            return self.data.spec
        return f"{parsed.kind}:{self.resolve(parsed.path)}"

    @property
    def study_name(self) -> str:
        """``study``, else the recipe file's stem, else ``"delve-advisor-search"``."""
        if self.study:
            return self.study
        return self.path.stem if self.path is not None else "delve-advisor-search"


def _format_errors(error: ValidationError, source: str) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling (see docs/search.md)"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{item['msg']} (got {item.get('input')!r})"
        parts.append(f"{where}: {message}")
    return f"invalid recipe {source}: " + "; ".join(parts)


def parse_recipe(data: Any, path: str | Path | None = None) -> Recipe:
    """Validates a recipe given as plain data (the parsed YAML).

    Args:
        data: The mapping read from YAML.
        path: The file it came from, for relative paths and messages.

    Returns:
        The :class:`Recipe`.

    Raises:
        RecipeError: The data does not match the schema; the message names each key path
            (``training.epochs``) and the expected form.

    Example:
        >>> recipe = parse_recipe({"version": 1, "model": {"spec": "torchvision:resnet18"},
        ...                        "data": {"spec": "synthetic"}})
        >>> recipe.training.epochs, recipe.objective.mode
        (1, 'single')
    """
    source = str(path) if path is not None else "(dict)"
    if not isinstance(data, dict):
        raise RecipeError(
            f"invalid recipe {source}: the top level must be a mapping of keys (version, model, "
            f"data, ...), got {type(data).__name__}"
        )
    if "version" in data and data["version"] != RECIPE_VERSION:
        raise RecipeError(
            f"invalid recipe {source}: version: this delve-advisor reads version "
            f"{RECIPE_VERSION}, got {data['version']!r}"
        )
    if "path" in data:  # set from the file's location, never from the YAML
        raise RecipeError(
            f"invalid recipe {source}: path: unknown key; remove it or check its spelling "
            "(see docs/search.md)"
        )
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise RecipeError(_format_errors(error, source)) from None
    if path is not None:
        recipe = recipe.model_copy(update={"path": Path(path).resolve()})
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Reads and validates a YAML recipe file.

    Args:
        path: The ``.yaml`` file.

    Returns:
        The :class:`Recipe`, whose relative paths resolve against the file's folder.

    Raises:
        RecipeError: The file cannot be read, is not YAML, or does not match the schema.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import yaml
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "tiny.yaml").write_text(yaml.safe_dump({
        ...     "version": 1,
        ...     "model": {"spec": "delve_advisor.testing:tail_cnn"},
        ...     "data": {"spec": "synthetic:n=16,size=16,val=8", "batch_size": 8},
        ...     "out": "run",
        ... }))
        >>> recipe = load_recipe(folder / "tiny.yaml")
        >>> recipe.study_name, recipe.model.spec
        ('tiny', 'delve_advisor.testing:tail_cnn')
        >>> recipe.resolve(recipe.out) == folder.resolve() / "run"  # next to the recipe file
        True
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise RecipeError(f"cannot read recipe {path}: {error.strerror or error}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RecipeError(f"recipe {path} is not valid YAML: {error}") from error
    return parse_recipe(data, path)
