"""Search: Optuna studies that validate the advisor's suggestions with short training runs."""

from delve_advisor.search.objective import PruningCallback, SearchObjective
from delve_advisor.search.outputs import (
    baseline_trial,
    best_trial,
    measured_effects,
    pareto_front,
    write_search_outputs,
)
from delve_advisor.search.recipe import Recipe, load_recipe, parse_recipe
from delve_advisor.search.run import SearchResult, run_search
from delve_advisor.search.space import BASELINE, SearchSpace, TrialConfig, build_space
from delve_advisor.search.study import (
    create_search_study,
    describe_storage,
    fail_stale_trials,
    open_storage,
)

__all__ = [
    "BASELINE",
    "PruningCallback",
    "Recipe",
    "SearchObjective",
    "SearchResult",
    "SearchSpace",
    "TrialConfig",
    "baseline_trial",
    "best_trial",
    "build_space",
    "create_search_study",
    "describe_storage",
    "fail_stale_trials",
    "load_recipe",
    "measured_effects",
    "open_storage",
    "pareto_front",
    "parse_recipe",
    "run_search",
    "write_search_outputs",
]
