"""Datasets: the bundled registry, user files, splits, synthetic data and MeanIR resampling.

>>> from mlal_core import data
>>> ds = data.load("emotions")          # bundled, cached in-process, arrays read-only
>>> ds.train.Y.shape, ds.kind           # ((349, 6), 'tabular'): a valid split was carved from train
>>> data.describe(ds)["overall"]["MeanIR"]

See ``data/README.md`` for the bundled datasets and the accepted user-file formats.
"""

from mlal_core.data.bundled import DATA_DIR, available, clear_cache, load
from mlal_core.data.dataset import SPLIT_NAMES, MultiLabelDataset, Split, concat_splits
from mlal_core.data.describe import describe
from mlal_core.data.files import ALLOW_UNLABELED_LABEL, from_dataframe, load_file
from mlal_core.data.hygiene import check_hygiene
from mlal_core.data.resample import resample_to_mean_ir
from mlal_core.data.splits import carve, stratified_partition, train_valid_test
from mlal_core.data.synthetic import make_synthetic

__all__ = [
    "ALLOW_UNLABELED_LABEL",
    "DATA_DIR",
    "SPLIT_NAMES",
    "MultiLabelDataset",
    "Split",
    "available",
    "carve",
    "check_hygiene",
    "clear_cache",
    "concat_splits",
    "describe",
    "from_dataframe",
    "load",
    "load_file",
    "make_synthetic",
    "resample_to_mean_ir",
    "stratified_partition",
    "train_valid_test",
]
