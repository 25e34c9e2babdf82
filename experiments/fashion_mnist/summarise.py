"""Builds the tables and the figure of docs/results.md from the raw output of run.py.

    python experiments/fashion_mnist/summarise.py experiments/fashion_mnist/results/cpu

Writes ``summary.md`` (the Markdown tables), ``summary.json`` (the same numbers) and
``accuracy_vs_flops.png`` into the results folder. Every arm is compared with its
architecture's baseline by Welch's t-test on the test accuracies of its seeds; the verdict is
"better beyond noise" / "worse" when p < 0.05, "no difference" otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from delve_advisor import Report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats import mean_std, welch

ALPHA = 0.05
ARCH_ORDER = ("resnet18", "vgg16_bn", "matched")
ARM_ORDER = ("baseline", "first", "search", "prune")
TITLES = {
    "resnet18": "ResNet-18 (1 input channel), 28 px",
    "vgg16_bn": "VGG-16 with BN (1 input channel), 28 px resized to 32 px",
    "matched": "Matched CNN (`delve_advisor.testing.matched_cnn(width=32)`), 28 px",
}


def load_runs(results: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """arch -> arm -> the seed records, sorted by seed."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted(results.glob("*/*/seed*.json")):
        record = json.loads(path.read_text())
        runs.setdefault(record["arch"], {}).setdefault(record["arm"], []).append(record)
    for arms in runs.values():
        for records in arms.values():
            records.sort(key=lambda r: r["seed"])
    return runs


def verdict(diff: float, p: float) -> str:
    """The verdict of an arm against its baseline."""
    if math.isnan(p):
        return "not enough seeds"
    if p < ALPHA:
        return "better beyond noise" if diff > 0 else "worse"
    return "no difference"


def _report(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r["report"] for r in records if "report" in r), None)


def arm_rows(arms: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per arm: accuracy, test against the baseline, costs, saturation and RF figures."""
    base = [r["test_accuracy"] for r in arms.get("baseline", [])]
    base_flops = arms["baseline"][0]["flops"] if arms.get("baseline") else math.nan
    rows = []
    for arm in [a for a in ARM_ORDER if a in arms] + sorted(set(arms) - set(ARM_ORDER)):
        records = arms[arm]
        acc = [r["test_accuracy"] for r in records]
        mean, std = mean_std(acc)
        if arm != "baseline" and len(acc) >= 2 and len(base) >= 2:
            test = welch(acc, base)
            diff, t, df, p = test.diff, test.t, test.df, test.p
        else:
            diff = mean - mean_std(base)[0] if base else math.nan
            t = df = p = math.nan
        report = _report(records) or {}
        rows.append(
            {
                "arm": arm,
                "copied_from": records[0].get("copied_from"),
                "kind": records[0]["kind"],
                "edits": records[0]["edits"],
                "seeds": [r["seed"] for r in records],
                "accuracy": acc,
                "mean": mean,
                "std": std,
                "diff": diff,
                "t": t,
                "df": df,
                "p": p,
                "verdict": "(reference)" if arm == "baseline" else verdict(diff, p),
                "params": records[0]["params"],
                "flops": records[0]["flops"],
                "flops_ratio": records[0]["flops"] / base_flops,
                "train_s": mean_std([r["train_s"] for r in records])[0],
                "test_s": mean_std([r["test_s"] for r in records])[0],
                "input_size": records[0]["input_size"],
                "unproductive": report.get("unproductive"),
                "tail_length": report.get("tail_length"),
                "mean_saturation_eval": report.get("mean_saturation_eval"),
                "headline": report.get("headline"),
            }
        )
    return rows


def _pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def _num(value: Any, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _edits_text(edits: list[dict[str, Any]]) -> str:
    if not edits:
        return "none"
    parts = []
    for edit in edits:
        value = edit.get("value")
        parts.append(f"{edit['op']} {edit['module']}" + (f"={value}" if value is not None else ""))
    return "; ".join(parts)


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of one architecture."""
    lines = [
        "| arm | edits | seeds | test accuracy % (mean ± std) | Δ vs baseline (pp) | Welch t (df) "
        "| p | verdict | params | FLOPs (batch 1) | × FLOPs | train s / run | unproductive "
        "| tail | mean eval saturation |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['arm']}{' (= ' + r['copied_from'] + ')' if r['copied_from'] else ''} "
            f"| {_edits_text(r['edits'])} | {len(r['seeds'])} "
            f"| {_pct(r['mean'])} ± {_pct(r['std'])} "
            f"| {'–' if r['arm'] == 'baseline' else _num(100 * r['diff'], '{:+.2f}')} "
            f"| {_num(r['t'], '{:+.2f}')} ({_num(r['df'], '{:.1f}')}) | {_num(r['p'])} "
            f"| {r['verdict']} | {r['params']:,} | {r['flops']:,} | {r['flops_ratio']:.2f} "
            f"| {_num(r['train_s'], '{:.0f}')} | {_num(r['unproductive'], '{}')} "
            f"| {_num(r['tail_length'], '{}')} | {_num(r['mean_saturation_eval'], '{:.2f}')} |"
        )
    return lines


def search_lines(results: Path) -> list[str]:
    """The search's trials (from the copied trials.csv) and its choice."""
    folder = results / "resnet18" / "search"
    best = folder / "best.json"
    if not best.is_file():
        return ["The search did not run (no `resnet18/search/best.json`)."]
    summary = json.loads(best.read_text())
    lines = [
        f"Search budget: {summary['budget']['n_trials']} trials, {summary['budget']['epochs']} "
        f"epoch(s) each, on at most {summary['budget'].get('limit') or 'all'} of the "
        f"{summary['budget']['train']} training and {summary['budget']['heldout']} held-out "
        f"images (both from the training set), {summary['seconds']:.0f} s wall. "
        f"Trials: {summary['trials']}. Best: {summary['best']}; its edits: "
        f"{_edits_text(summary['best_edits'] or [])}.",
        "",
        "| trial | configuration | state | held-out accuracy % | FLOPs |",
        "|---|---|---|---|---|",
    ]
    trials = folder / "trials.csv"
    if trials.is_file():
        with trials.open() as handle:
            for row in csv.DictReader(handle):
                acc = row.get("user_attrs_val_accuracy") or "nan"
                flops = row.get("user_attrs_flops") or ""
                lines.append(
                    f"| {row['number']} | {row.get('user_attrs_label', '')} | {row['state']} "
                    f"| {_pct(float(acc))} | {int(float(flops)):,} |"
                    if flops
                    else f"| {row['number']} | {row.get('user_attrs_label', '')} | {row['state']} "
                    f"| {_pct(float(acc))} | – |"
                )
    return lines


def figure(all_rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Test accuracy (mean ± std over seeds) against FLOPs, one marker per arm."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = {"resnet18": "o", "vgg16_bn": "s", "matched": "^"}
    for arch, rows in all_rows.items():
        same = {r["copied_from"]: r["arm"] for r in rows if r["copied_from"]}
        for r in rows:
            if r["copied_from"]:
                continue  # drawn as the arm it repeats, labelled with both names
            ax.errorbar(
                r["flops"],
                100 * r["mean"],
                yerr=0 if math.isnan(r["std"]) else 100 * r["std"],
                marker=markers.get(arch, "o"),
                capsize=3,
                linestyle="none",
            )
            ax.annotate(
                f"{arch}/{r['arm']}" + (f" = {same[r['arm']]}" if r["arm"] in same else ""),
                (r["flops"], 100 * r["mean"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs of one forward pass (batch 1)")
    ax.set_ylabel("test accuracy % (mean ± std over seeds)")
    ax.set_title("Fashion-MNIST: accuracy vs FLOPs per arm")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a results folder written by run.py")
    args = parser.parse_args(argv)
    results: Path = args.results
    runs = load_runs(results)
    budget = json.loads((results / "budget.json").read_text())
    lines = [
        f"# Fashion-MNIST results, budget `{budget['budget']}`",
        "",
        f"Training subset {budget['train']} images, {budget['epochs']} epoch(s), batch "
        f"{budget['batch_size']}, Adam lr {budget['lr']} "
        f"(VGG-16-BN: {budget.get('vgg_lr', budget['lr'])}); test "
        f"{budget['test'] or 10000} images of the test set; device {budget['device']}.",
        "",
    ]
    all_rows: dict[str, list[dict[str, Any]]] = {}
    for arch in [a for a in ARCH_ORDER if a in runs] + sorted(set(runs) - set(ARCH_ORDER)):
        rows = arm_rows(runs[arch])
        all_rows[arch] = rows
        lines += [f"## {TITLES.get(arch, arch)}", "", *table(rows), ""]
        advice = results / arch / "advice.json"
        if advice.is_file():
            lines += [f"Advice (before training the arms): {Report.from_json(advice).headline}", ""]
        for r in rows:
            if r["headline"]:
                lines.append(f"- after training, `{arch}/{r['arm']}`: {r['headline']}")
        lines.append("")
        if arch == "resnet18":
            lines += ["### The search", "", *search_lines(results), ""]
        if arch == "matched" and (results / "matched" / "check.json").is_file():
            check = json.loads((results / "matched" / "check.json").read_text())
            lines += [
                f"Structural suggestions for the matched CNN: {check['structural_suggestions']} "
                f"(tail {check['tail']}); check {'passed' if check['ok'] else 'FAILED'}.",
                "",
            ]
    (results / "summary.md").write_text("\n".join(lines) + "\n")
    (results / "summary.json").write_text(json.dumps(all_rows, indent=2) + "\n")
    if all_rows:
        figure(all_rows, results / "accuracy_vs_flops.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
