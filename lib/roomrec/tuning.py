"""Search ALS settings and confidence schemes on a validation window.

Trials share cached training data and run in parallel threads; Spark schedules their
jobs side by side, which keeps the cores busy while one trial's driver waits. Each
trial is scored on the discovery slice (rooms the user had not visited in training),
because finding new rooms is what the product is for.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
from pyspark.sql import DataFrame

from roomrec import columns as C
from roomrec.als import fit_als, recommend_top_k
from roomrec.interactions import CONFIDENCE_SCHEMES, add_confidence
from roomrec.metrics import ranking_metrics
from roomrec.topk import fill_with_fallback

logger = logging.getLogger(__name__)

SEARCH_KEYS = ("confidence_scheme", "rank", "reg_param", "alpha", "max_iter")


def build_trials(
    space: dict[str, list], *, search: str = "grid", n_trials: int = 0, seed: int = 42
) -> list[dict]:
    """Return the trials of a grid or a seeded random search over ``space``.

    Parameters
    ----------
    space : dict
        Values to try for each key of :data:`SEARCH_KEYS`; every key must be present.
    search : str
        ``grid`` tries every combination; ``random`` draws ``n_trials`` of them without
        replacement, the same ones for the same seed.
    """
    missing = [key for key in SEARCH_KEYS if key not in space]
    unknown = [key for key in space if key not in SEARCH_KEYS]
    if missing or unknown:
        raise ValueError(
            f"search_space must have exactly the keys {', '.join(SEARCH_KEYS)}; "
            f"missing: {missing or 'none'}, unknown: {unknown or 'none'}"
        )
    for scheme in space["confidence_scheme"]:
        if scheme not in CONFIDENCE_SCHEMES:
            raise ValueError(
                f"unknown confidence_scheme {scheme!r} in search_space; "
                f"choose from {', '.join(CONFIDENCE_SCHEMES)}"
            )
    grid = [dict(zip(SEARCH_KEYS, values))
            for values in itertools.product(*(space[key] for key in SEARCH_KEYS))]
    if search == "grid":
        return grid
    if search == "random":
        if n_trials <= 0:
            raise ValueError(f"n_trials must be positive for a random search, got {n_trials}")
        return random.Random(seed).sample(grid, min(n_trials, len(grid)))
    raise ValueError(f"unknown search {search!r}; choose grid or random")


@dataclass
class TuningData:
    """Cached inputs shared by every trial."""

    train: DataFrame  # indexed interactions before confidence: user_idx, room_idx, counts
    relevant: DataFrame  # validation (user_idx, room_idx) pairs to find
    users: DataFrame  # evaluation users: user_idx
    fallback: DataFrame  # popularity list for users the model cannot serve
    k: int
    seen: DataFrame | None = None  # pairs never to recommend; default: the train pairs
    summary: Any = None  # pandas table describing the data, for the notebook


def run_trials(
    data: TuningData,
    trials: list[dict],
    *,
    seed: int = 42,
    parallelism: int = 2,
    confidence_options: dict | None = None,
    on_result: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Fit and score every trial; return one row per trial, best first.

    Rows hold the trial's settings, precision, recall, ndcg, map, hit_rate and mrr at K
    on the validation relevant set, and the fit and scoring seconds. Metrics are computed
    with a count, so the timed work has really run, not only been planned.
    """
    options = dict(confidence_options or {})
    schemes = sorted({trial["confidence_scheme"] for trial in trials})
    by_scheme = {
        scheme: add_confidence(data.train, scheme, **options).cache() for scheme in schemes
    }
    mlflow = _mlflow_or_none()

    def score(trial: dict) -> dict:
        start = time.monotonic()
        model = fit_als(
            by_scheme[trial["confidence_scheme"]],
            rank=trial["rank"],
            reg_param=trial["reg_param"],
            alpha=trial["alpha"],
            max_iter=trial["max_iter"],
            seed=seed,
        )
        fitted = time.monotonic()
        seen = data.seen if data.seen is not None else data.train
        recs = recommend_top_k(model, data.users, k=data.k, seen=seen)
        lists = fill_with_fallback(recs, data.fallback, data.users, k=data.k)
        values = ranking_metrics(lists, data.relevant, k=data.k, users=data.users)
        row = {**trial, **values,
               "fit_s": round(fitted - start, 1),
               "score_s": round(time.monotonic() - fitted, 1)}
        if mlflow is not None:
            _log_to_mlflow(mlflow, trial, values)
        return row

    rows = []
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        futures = [pool.submit(score, trial) for trial in trials]
        for done, future in enumerate(as_completed(futures), start=1):
            row = future.result()
            rows.append(row)
            logger.info("trial %d/%d: %s", done, len(trials), row)
            if on_result is not None:
                on_result(row)
    for frame in by_scheme.values():
        frame.unpersist()
    metric = "ndcg"
    return (
        pd.DataFrame(rows)
        .sort_values([metric, *SEARCH_KEYS], ascending=[False, True, True, True, True, True])
        .reset_index(drop=True)
    )


def best_settings(results: pd.DataFrame, *, metric: str = "ndcg") -> dict:
    """Return the settings of the best trial by ``metric``, ties broken by the search keys."""
    ordered = results.sort_values([metric, *SEARCH_KEYS],
                                  ascending=[False, True, True, True, True, True])
    best = ordered.iloc[0]
    settings = {key: best[key] for key in SEARCH_KEYS}
    return {key: (value.item() if hasattr(value, "item") else value)
            for key, value in settings.items()}


def _mlflow_or_none():
    try:
        import mlflow
    except ImportError:
        return None
    return mlflow


def _log_to_mlflow(mlflow, trial: dict, values: dict) -> None:
    with mlflow.start_run(run_name="als-trial", nested=mlflow.active_run() is not None):
        mlflow.log_params(trial)
        mlflow.log_metrics({key: float(value) for key, value in values.items()})


def evaluation_users(relevant: DataFrame) -> DataFrame:
    """Return the distinct users of a relevant set, the denominator of every metric."""
    return relevant.select(C.USER_IDX).distinct()
