"""Where a built-in dataset's files are: their names, accepted checksums, official mirrors and
the folders searched for them (see :mod:`physnn.data.datasets` for the order); and the check of
the files found, by SHA-256 before any use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from physnn.data.formats import AUDIO_FOLDER, FILES, TIME_TABLE, VOWEL_TABLE, recorded_tokens
from physnn.data.registry import check_dataset_name
from physnn.errors import DatasetError, option

DATASET_FILES: dict[str, tuple[str, ...]] = {
    "mnist": FILES,
    "fashion-mnist": FILES,
    "vowels": (VOWEL_TABLE,),
    "vowels-audio": (VOWEL_TABLE, TIME_TABLE),  # and audio/<token>.wav for the men and women
}
FOLDER_NAMES = {
    "vowels": ("vowels", "hillenbrand-vowels"),
    "vowels-audio": ("vowels-audio", "vowels", "hillenbrand-vowels"),
}

# Accepted SHA-256 of each file. Fashion-MNIST: the upstream release files and Debian's copies,
# which hold the same data with a normalized gzip header.
CHECKSUMS: dict[str, dict[str, set[str]]] = {
    "mnist": {
        FILES[0]: {"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
        FILES[1]: {"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
        FILES[2]: {"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
        FILES[3]: {"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
    },
    "fashion-mnist": {
        FILES[0]: {"3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                   "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
        FILES[1]: {"a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                   "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
        FILES[2]: {"346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                   "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
        FILES[3]: {"67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                   "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
    },
    "vowels": {
        VOWEL_TABLE: {"05a4a69e2c6b0f444077245b1427d12bc86f8d7a32ae7a4b63f7e06e5712e4b1"},
    },
    "vowels-audio": {
        VOWEL_TABLE: {"05a4a69e2c6b0f444077245b1427d12bc86f8d7a32ae7a4b63f7e06e5712e4b1"},
        TIME_TABLE: {"466b3ae1c02d1e8507da6146b1a019a2227646488cab4605c1b00437053bd250"},
    },
}  # fmt: skip
# The 1116 recordings are verified together: SHA-256 of the lines "<file name> <file SHA-256>\n"
# sorted by file name.
AUDIO_DIGEST = "90a5f750bd546e92f76620d5293fd1f45093dd94ae02900ac292e5229c0d0e9d"

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # The author's page that distributed the tables is gone; this mirror is pinned to a commit.
    "vowels": (
        "https://raw.githubusercontent.com/kleinschmidt/hdp-bayes-vowels/"
        "1ef03eac63323f33b8ee31af8bc5294042de2d00/hillenbrand-data/",
    ),
}
MIRRORS["vowels-audio"] = MIRRORS["vowels"]  # the tables; the recordings come from AUDIO_MIRRORS
# Hughes et al. 2019 ship the men's and women's recordings with their wave-RNN code.
AUDIO_MIRRORS = ("https://raw.githubusercontent.com/fancompute/wavetorch/master/data/vowels/",)
SYSTEM_PLACES = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}


def cache_root() -> Path:
    """The physnn cache folder: ``$PHYSNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/physnn``, else
    ``~/.cache/physnn``."""
    if os.environ.get("PHYSNN_CACHE_DIR"):
        return Path(os.environ["PHYSNN_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "physnn"


def data_search_paths(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders looked in for a dataset's files, in order (none for ``digits``)."""
    check_dataset_name(name)
    if name not in CHECKSUMS:
        return []
    paths: list[Path] = []
    for base in (data_dir, os.environ.get("PHYSNN_DATA_DIR")):
        if base:
            root = Path(base).expanduser()
            paths += [root] + [root / folder for folder in FOLDER_NAMES.get(name, (name,))]
    paths.append(cache_root() / "datasets" / name)
    paths += SYSTEM_PLACES.get(name, ())
    return list(dict.fromkeys(paths))  # without repeats, order kept


_VERIFIED: set[tuple[str, int, int]] = set()  # (resolved path, size, mtime_ns) hashed and good


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(name: str, path: Path) -> None:
    """Raise DatasetError unless ``path`` has an accepted SHA-256 (hashed once per process)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    got = file_sha256(path)
    accepted = CHECKSUMS[name][path.name]
    if got not in accepted:
        raise DatasetError(
            f"checksum mismatch for {path}: SHA-256 {got}, "
            f"expected {' or '.join(sorted(accepted))}; "
            "the file is corrupt or not the original: delete it to download it again, "
            f"or point {option('data_dir')} at a good copy"
        )
    _VERIFIED.add(key)


def find_files(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    """The first searched folder holding all the dataset's files, verified; None if none does."""
    files = DATASET_FILES[name]
    for folder in data_search_paths(name, data_dir):
        if all((folder / f).is_file() for f in files):
            for f in files:
                verify(name, folder / f)
            if name == "vowels-audio" and not audio_complete(folder):
                continue
            return folder
    return None


def audio_complete(folder: Path) -> bool:
    """Whether ``folder/audio`` holds every recording; raise DatasetError if they do not have
    the published content (one digest over all the files, computed once per process)."""
    paths = [folder / AUDIO_FOLDER / f"{t}.wav" for t in recorded_tokens(folder)]
    if not all(p.is_file() for p in paths):
        return False
    stats = [p.stat() for p in paths]
    key = (str((folder / AUDIO_FOLDER).resolve()), sum(st.st_size for st in stats),
           max(st.st_mtime_ns for st in stats))  # fmt: skip
    if key in _VERIFIED:
        return True
    manifest = "".join(f"{p.name} {file_sha256(p)}\n" for p in sorted(paths))
    got = hashlib.sha256(manifest.encode()).hexdigest()
    if got != AUDIO_DIGEST:
        raise DatasetError(
            f"the recordings in {folder / AUDIO_FOLDER} are not the original ones (digest {got}, "
            f"expected {AUDIO_DIGEST}): delete that folder to download them again, or point "
            f"{option('data_dir')} at a good copy"
        )
    _VERIFIED.add(key)
    return True
