"""Plots for the notebooks. Each function takes a small pandas table and returns a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def events_by_day(table: pd.DataFrame):
    """Plot events per day, one line per event type."""
    figure, axes = plt.subplots()
    for column in table.columns:
        axes.plot(table.index, table[column], marker=".", label=column)
    axes.set(title="Events per day (UTC)", xlabel="day", ylabel="events")
    if len(table.columns):
        axes.legend(fontsize="small")
    figure.autofmt_xdate()
    return figure


def rank_frequency(distribution: pd.DataFrame, *, title: str, what: str, per: str):
    """Plot a rank-frequency curve on log-log axes from ``explore.count_distribution``."""
    figure, axes = plt.subplots()
    axes.loglog(distribution["rank"], distribution["count"], marker=".", linestyle="-")
    axes.set(title=title, xlabel=f"{per} rank (most {what} first)", ylabel=f"{what} per {per}")
    return figure


def count_histogram(distribution: pd.DataFrame, *, title: str, what: str, per: str):
    """Plot how many keys have each count, on log-log axes."""
    figure, axes = plt.subplots()
    axes.loglog(distribution["count"], distribution["keys"], marker=".", linestyle="none")
    axes.set(title=title, xlabel=f"{what} per {per}", ylabel=f"{per}s")
    return figure


def dwell_histogram(histogram: pd.DataFrame):
    """Plot the log-binned dwell-time histogram, observed and imputed visits stacked."""
    figure, axes = plt.subplots()
    pivot = histogram.pivot_table(index="dwell_from_s", columns="is_imputed", values="visits",
                                  fill_value=0)
    bottom = np.zeros(len(pivot))
    for imputed in pivot.columns:
        label = "leave imputed" if imputed else "leave observed"
        widths = pivot.index.to_numpy() * 0.5
        axes.bar(pivot.index, pivot[imputed], width=widths, bottom=bottom, label=label,
                 align="edge")
        bottom = bottom + pivot[imputed].to_numpy()
    axes.set_xscale("log")
    axes.set(title="Dwell time per visit", xlabel="dwell time (s, log scale)", ylabel="visits")
    if len(pivot.columns):
        axes.legend(fontsize="small")
    return figure


def funnel(table: pd.DataFrame):
    """Plot the screen-to-room funnel as horizontal bars."""
    figure, axes = plt.subplots()
    axes.barh(table["stage"][::-1], table["events"][::-1])
    axes.set(title="Screen-to-room funnel", xlabel="events")
    return figure


def data_quality(table: pd.DataFrame):
    """Plot record counts per stage and reason from the data-quality table."""
    figure, axes = plt.subplots()
    labels = table["stage"] + ": " + table["reason"]
    axes.barh(labels[::-1], table["count"][::-1])
    axes.set_xscale("symlog")
    axes.set(title="Records per stage and reason", xlabel="records (symlog scale)")
    return figure


def metric_by_parameter(results: pd.DataFrame, *, x: str, metric: str, group: str):
    """Plot a tuning metric against one parameter, one line per value of ``group``.

    Each point is the best trial for that (group, x) pair over the other parameters.
    """
    best = results.groupby([group, x], as_index=False)[metric].max()
    figure, axes = plt.subplots()
    for value, rows in best.groupby(group):
        axes.plot(rows[x], rows[metric], marker="o", label=f"{group}={value}")
    axes.set_xscale("log")
    axes.set(title=f"{metric} by {x}", xlabel=f"{x} (log scale)", ylabel=metric)
    axes.legend(fontsize="small")
    return figure


def heatmap(results: pd.DataFrame, *, rows: str, columns: str, metric: str):
    """Plot the best ``metric`` for each (rows, columns) pair of parameters."""
    table = results.pivot_table(index=rows, columns=columns, values=metric, aggfunc="max")
    figure, axes = plt.subplots()
    image = axes.imshow(table.to_numpy(), cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(table.columns)), [f"{v:g}" for v in table.columns])
    axes.set_yticks(range(len(table.index)), [f"{v:g}" for v in table.index])
    for (i, j), value in np.ndenumerate(table.to_numpy()):
        axes.text(j, i, f"{value:.3f}", ha="center", va="center", color="white", fontsize=8)
    axes.set(title=f"best {metric}", xlabel=columns, ylabel=rows)
    figure.colorbar(image, ax=axes)
    return figure


def metric_by_model(table: pd.DataFrame, *, metric: str, k: int):
    """Plot one metric at K for each model, grouped by slice."""
    rows = table[(table["metric"] == metric) & (table["k"] == k)]
    pivot = rows.pivot_table(index="slice", columns="model", values="value")
    figure, axes = plt.subplots()
    pivot.plot.bar(ax=axes, rot=0)
    axes.set(title=f"{metric}@{k} by slice and model", xlabel="slice", ylabel=f"{metric}@{k}")
    axes.legend(fontsize="small")
    return figure


def metric_by_k(table: pd.DataFrame, *, metric: str, slice_name: str):
    """Plot one metric against K for each model, in one slice."""
    rows = table[(table["metric"] == metric) & (table["slice"] == slice_name)]
    figure, axes = plt.subplots()
    for model, model_rows in rows.groupby("model"):
        ordered = model_rows.sort_values("k")
        axes.plot(ordered["k"], ordered["value"], marker="o", label=model)
    axes.set(title=f"{metric}@K, {slice_name} slice", xlabel="K", ylabel=metric)
    axes.legend(fontsize="small")
    return figure


def confidence_histogram(histogram: pd.DataFrame):
    """Plot how many (user, room) pairs have each confidence value."""
    figure, axes = plt.subplots()
    width = (
        histogram["confidence_from"].diff().median() if len(histogram) > 1 else 1.0
    )
    axes.bar(histogram["confidence_from"], histogram["pairs"], width=width, align="edge")
    axes.set_yscale("log")
    axes.set(title="Confidence per (user, room) pair", xlabel="confidence",
             ylabel="pairs (log scale)")
    return figure
