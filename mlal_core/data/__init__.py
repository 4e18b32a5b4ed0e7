"""Datasets: the bundled registry, user files, splits, synthetic data and MeanIR resampling.

>>> from mlal_core import data
>>> ds = data.load("emotions")          # bundled, cached in-process, arrays read-only
>>> ds.train.Y.shape, ds.kind           # ((349, 6), 'tabular'): a valid split was carved from train
>>> data.describe(ds)["overall"]["MeanIR"]
>>> data.load("reuters21578-T10-IR50")  # derived: Reuters' top-10 labels, pool resampled to MeanIR 50
>>> data.load("eurlex57k").train.Y        # K = 3,398: a sparse CSR matrix (K > SPARSE_LABELS_ABOVE_K = 500)
>>> data.load("xmtc-synthetic-N100000-K1000")  # generated XMTC data: power law, hierarchy, 384-d features

See ``data/README.md`` for the bundled datasets and the accepted user-file formats.
"""

from mlal_core.data.bundled import DATA_DIR, available, check_name, clear_cache, load, representation_warning
from mlal_core.data.dataset import (SPARSE_LABELS_ABOVE_K, SPLIT_NAMES, MultiLabelDataset, Split, concat_splits,
                                    dense_labels, label_storage)
from mlal_core.data.describe import describe, label_summary, provenance_text
from mlal_core.data.files import ALLOW_UNLABELED_LABEL, from_dataframe, load_file
from mlal_core.data.hygiene import check_hygiene
from mlal_core.data.resample import (DERIVED_NAME_SYNTAX, DERIVED_PRESETS, DerivedName, derived_name,
                                     parse_derived_name, resample_to_mean_ir)
from mlal_core.data.splits import carve, stratified_partition, train_valid_test
from mlal_core.data.synthetic import (XMTC_NAME_SYNTAX, XMTC_PRESETS, XMTCName, label_tree, make_synthetic, make_xmtc,
                                      parse_xmtc_name, xmtc_name, zipf_frequencies)

__all__ = [
    "ALLOW_UNLABELED_LABEL",
    "DATA_DIR",
    "DERIVED_NAME_SYNTAX",
    "DERIVED_PRESETS",
    "DerivedName",
    "SPARSE_LABELS_ABOVE_K",
    "SPLIT_NAMES",
    "MultiLabelDataset",
    "Split",
    "XMTCName",
    "XMTC_NAME_SYNTAX",
    "XMTC_PRESETS",
    "available",
    "carve",
    "check_hygiene",
    "check_name",
    "clear_cache",
    "concat_splits",
    "dense_labels",
    "derived_name",
    "describe",
    "from_dataframe",
    "label_storage",
    "label_summary",
    "label_tree",
    "load",
    "load_file",
    "make_synthetic",
    "make_xmtc",
    "parse_derived_name",
    "parse_xmtc_name",
    "provenance_text",
    "representation_warning",
    "resample_to_mean_ir",
    "stratified_partition",
    "train_valid_test",
    "xmtc_name",
    "zipf_frequencies",
]
