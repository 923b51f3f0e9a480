"""Feature matrices for the learning sections (prediction and model identification).

Shared here so both use the same encoding: numeric columns imputed with the
median plus a missing-indicator (a missing value can itself be informative),
then scaled; categorical columns one-hot encoded, unseen values ignored. Large
frames are down-sampled, stratified by the target, so cross-validation stays
within the analysis time budget; the sample size is always reported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DEFAULT_MAX_ROWS = 10_000


def bootstrap_fraction(rows: int) -> float | None:
    """Random-forest ``max_samples``: half-size bootstraps on large samples (the same
    accuracy at half the time), full-size below 2000 rows where halves get too small."""
    return 0.5 if rows >= 2000 else None


def fold_threads(folds: int) -> joblib.parallel_config:
    """Context in which scikit-learn fits cross-validation folds on threads, one per core.

    Threads, not processes: forests build their trees without the GIL, and a
    process pool costs ~1.5 s to start in every short-lived report process.
    Measured on a 7-day report's 11.7k rows, 2 cores, four interleaved rounds:
    prediction + identification 3.4 s with two threads against 4.1 s on one.
    Each forest keeps ``n_jobs=1``: parallel trees inside parallel folds only
    add hand-offs. Results do not change: each fold's estimator is a clone
    with the same fixed random state, whichever thread fits it.
    """
    return joblib.parallel_config(backend="threading", n_jobs=min(folds, os.cpu_count() or 1))


def stratified_sample(
    frame: pd.DataFrame, target: str, max_rows: int, seed: int = 0
) -> pd.DataFrame:
    """At most ``max_rows`` rows keeping each ``target`` class's share (and every class)."""
    if len(frame) <= max_rows:
        return frame
    fraction = max_rows / len(frame)
    rng = np.random.default_rng(seed)
    picks: list[np.ndarray] = []
    for _, index in frame.groupby(target, observed=True).indices.items():
        take = max(1, round(len(index) * fraction))
        picks.append(rng.choice(index, size=min(take, len(index)), replace=False))
    return frame.iloc[np.sort(np.concatenate(picks))]


def usable_columns(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The listed columns that exist and are not entirely missing or constant."""
    def informative(column: str) -> bool:
        values = frame[column]
        return bool(values.notna().any()) and int(values.nunique(dropna=False)) > 1

    num = [c for c in numeric if c in frame and informative(c)]
    cat = [c for c in categorical if c in frame and informative(c)]
    return num, cat


def preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> ColumnTransformer:
    """Imputation + scaling for numbers, one-hot for categories."""
    transformers: list[tuple[str, Pipeline | OneHotEncoder, list[str]]] = []
    if numeric:
        transformers.append((
            "num",
            make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
            list(numeric),
        ))
    if categorical:
        transformers.append((
            "cat",
            OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False),
            list(categorical),
        ))
    return ColumnTransformer(transformers, remainder="drop")


def as_model_input(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Categorical columns as integer codes (missing = its own code) for the encoder.

    One-hot encoding integer codes is several times faster than encoding
    strings, and it runs once per fold and per permutation.
    """
    data = frame.copy()
    for column in categorical:
        codes = pd.Categorical(data[column].astype(object).where(data[column].notna(), "<none>"))
        data[column] = codes.codes.astype(np.int64)
    return data
