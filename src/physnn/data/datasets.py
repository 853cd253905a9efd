"""Datasets with fixed splits: offline first, checksum-verified, downloaded into a cache if absent.

``digits`` (the 8×8 UCI digits bundled with scikit-learn) needs no files. ``mnist`` and
``fashion-mnist`` read the four original IDX ``.gz`` files; ``vowels`` reads the formant table
``vowdata.dat`` of Hillenbrand et al. (1995) and ``vowels-audio`` their recordings (``audio/*.wav``
with ``timedata.dat``). The files are looked for in, in order: ``data_dir``
(the files themselves or a ``<name>/`` sub-folder, or the folder's usual name such as
``hillenbrand-vowels/``), ``$PHYSNN_DATA_DIR`` (same layouts), the cache ``$PHYSNN_CACHE_DIR`` or
``$XDG_CACHE_HOME/physnn`` or ``~/.cache/physnn`` (under ``datasets/<name>``), and known system
places (Debian's ``dataset-fashion-mnist``). If none has them, they are downloaded from the
official sources into the cache. Every file is verified by SHA-256 before use.
"""

import dataclasses
import os
from pathlib import Path

from physnn.data.builtin import AUDIO_RATE, AUDIO_SAMPLES, SUBSETS, digits, from_files, keep_classes
from physnn.data.dataset import Dataset
from physnn.data.download import download_or_explain
from physnn.data.formats import VOWEL_TOKENS
from physnn.data.registry import (
    BUILTIN_DATASETS,
    check_dataset_name,
    external_datasets,
    load_external,
)
from physnn.data.sources import find_files
from physnn.errors import DatasetError, option

DATASETS = BUILTIN_DATASETS  # the built-in ones; see registry.dataset_names for all


def dataset_info() -> list[dict[str, object]]:
    """What each dataset is, where it comes from, and whether it needs files."""
    return [
        {"name": "digits", "description": "8×8 handwritten digits (UCI, bundled with scikit-learn)",
         "source": "Alpaydin & Kaynak 1998, via sklearn.datasets.load_digits", "needs_files": False,
         "size": "1797 images"},
        {"name": "mnist", "description": "28×28 handwritten digits",
         "source": "LeCun, Cortes & Burges, the MNIST database", "needs_files": True,
         "size": "60000 + 10000 images"},
        {"name": "fashion-mnist", "description": "28×28 clothing images, 10 classes",
         "source": "Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747", "needs_files": True,
         "size": "60000 + 10000 images"},
        {"name": "vowels", "description": "12 American English vowels from 12 formant "
         "frequencies (F1–F3 at steady state, 20, 50, 80 % of the vowel), talker-disjoint split",
         "source": "Hillenbrand, Getty, Clark & Wheeler 1995, JASA 97, 3099", "needs_files": True,
         "size": f"{VOWEL_TOKENS} tokens of 139 talkers"},
        {"name": "vowels7", "description": "the 7-vowel subset (ae ah aw er ih iy uw) of `vowels` "
         "used in the McMahon lab's physical networks, same features and split",
         "source": "Hillenbrand et al. 1995; subset of Wright et al. 2022, Onodera et al. 2024",
         "needs_files": True, "size": "7 of the 12 vowels"},
        {"name": "vowels-audio", "description": "the same 12 vowels as raw audio: 0.1 s around "
         f"the steady state at {AUDIO_RATE // 1000} kHz ({AUDIO_SAMPLES} samples, unit mean "
         "power), men and women, talker-disjoint split",
         "source": "Hillenbrand et al. 1995 recordings, as used by Hughes et al. 2019",
         "needs_files": True, "size": "1116 recordings of 93 talkers"},
        {"name": "vowels3-audio", "description": "the 3 vowels ae, ei, iy of `vowels-audio`, the "
         "task of the wave RNN of Hughes et al. 2019", "source": "Hughes et al., Sci. Adv. 5, "
         "eaay6946 (2019)", "needs_files": True, "size": "3 of the 12 vowels"},
        {"name": "vowels7-audio", "description": "the 7-vowel subset of `vowels7` as audio",
         "source": "Hillenbrand et al. 1995", "needs_files": True, "size": "7 of the 12 vowels"},
    ]  # fmt: skip


def check_data_dir(data_dir: str | os.PathLike | None) -> None:
    """Raise DatasetError unless ``data_dir`` is None or an existing folder."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        state = "is not a folder" if Path(data_dir).expanduser().exists() else "does not exist"
        raise DatasetError(f"{option('data_dir')} {str(data_dir)!r} {state}")


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    limit_train: int | None = None,
) -> Dataset:
    """Load a dataset by name with its fixed train/validation/test split: a built-in one or one
    registered by an installed package (entry-point group ``physnn.datasets``).

    ``limit_train`` keeps the first k training samples (the validation and test sets stay whole).
    Raises DatasetError for an unknown name, a ``data_dir`` that is not a folder, missing or
    corrupt files, or a failed download.
    """
    check_dataset_name(name)
    check_data_dir(data_dir)
    if limit_train is not None and (isinstance(limit_train, bool) or limit_train < 1):
        raise DatasetError(f"limit_train must be a positive integer, got {limit_train!r}")
    if name in BUILTIN_DATASETS:
        data = _builtin(name, data_dir, download)
    else:
        folder = None if data_dir is None else Path(data_dir).expanduser()
        data = load_external(external_datasets()[name], folder)
    return keep_first(data, limit_train)


def keep_first(data: Dataset, limit_train: int | None) -> Dataset:
    """The dataset with only its first ``limit_train`` training samples (all if None)."""
    if limit_train is None:
        return data
    return dataclasses.replace(
        data, x_train=data.x_train[:limit_train], y_train=data.y_train[:limit_train]
    )


def _builtin(name: str, data_dir: str | os.PathLike | None, download: bool) -> Dataset:
    """A built-in dataset, read from its files (found or downloaded) or generated."""
    source, kept = SUBSETS.get(name, (name, None))
    if source == "digits":
        data = digits()
    else:
        folder = find_files(source, data_dir) or download_or_explain(source, data_dir, download)
        data = from_files(source, folder)
    return data if kept is None else keep_classes(data, name, kept)
