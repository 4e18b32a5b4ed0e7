"""Table columns as ``st.column_config``: headings, help and number formats from
``mlal_core.inspection.views.table_columns`` (one display rule for every page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pandas as pd
import streamlit as st

from mlal_core.inspection import views


def config(specs: Mapping[str, Mapping[str, str] | None]) -> dict:
    """``st.dataframe``'s ``column_config`` from ``views.table_columns`` specs: a number column with
    a format gets a ``NumberColumn``, a hidden column (spec ``None``) ``None``."""
    out: dict = {}
    for column, spec in specs.items():
        if spec is None:
            out[column] = None
            continue
        width = cast(Any, spec["width"] or None)  # "small" / "medium" (views.table_columns)
        if spec["format"]:
            out[column] = st.column_config.NumberColumn(spec["label"], help=spec["help"] or None,
                                                        format=spec["format"], width=width)
        else:
            out[column] = st.column_config.Column(spec["label"], help=spec["help"] or None, width=width)
    return out


def table_config(frame: pd.DataFrame, **kwargs) -> dict:
    """``config(views.table_columns(frame, **kwargs))``: headings, help and formats of ``frame``."""
    return config(views.table_columns(frame, **kwargs))
