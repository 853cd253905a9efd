"""The file formats of the built-in datasets' sources, parsed into numpy arrays.

The gzip-compressed IDX files of (fashion-)MNIST, the tables ``vowdata.dat`` (formants) and
``timedata.dat`` (steady-state times) of Hillenbrand et al. (1995), and their 16 kHz recordings
(``audio/<token>.wav``). Every reader raises :class:`DatasetError` for a file it cannot parse.
"""

from __future__ import annotations

import gzip
import wave
import zlib
from pathlib import Path

import numpy as np

from physnn.errors import DatasetError

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip
VOWEL_TABLE = "vowdata.dat"
TIME_TABLE = "timedata.dat"
AUDIO_FOLDER = "audio"
VOWEL_TOKENS = 1668  # rows of vowdata.dat: 45 men, 48 women, 27 boys, 19 girls × 12 vowels


def vowel_rows(folder: Path) -> list[list[str]]:
    """The 1668 token rows of ``vowdata.dat``: name (e.g. ``m01ae``) and its 15 measurements."""
    rows = []
    with (folder / VOWEL_TABLE).open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 16 and len(parts[0]) == 5 and parts[0][0] in "mwbg":
                rows.append(parts)
    if len(rows) != VOWEL_TOKENS:
        raise DatasetError(
            f"{folder / VOWEL_TABLE} has {len(rows)} tokens, expected {VOWEL_TOKENS}"
        )
    return rows


def recorded_tokens(folder: Path) -> list[str]:
    """The tokens with a recording: the men's and women's (the children's audio is lost)."""
    return [r[0] for r in vowel_rows(folder) if r[0][0] in "mw"]


def steady_state_ms(folder: Path) -> dict[str, float]:
    """Token → steady-state time (ms): the mean of the two judges' times in ``timedata.dat``."""
    times = {}
    with (folder / TIME_TABLE).open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 5 and len(parts[0]) == 5 and parts[0][0] in "mwbg":
                times[parts[0]] = (float(parts[3]) + float(parts[4])) / 2
    return times


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz, 16-bit mono recording as float64 in [−1, 1)."""
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (16_000, 2, 1):
                raise DatasetError(f"{path} is not 16 kHz 16-bit mono audio")
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise DatasetError(f"{path} is not a readable WAV file ({err})") from err
    return np.frombuffer(frames, "<i2").astype(np.float64) / 32768.0


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, h, w) and labels (n,) as uint8, checked to have the same n."""
    images, labels = read_idx(images_path, ndim=3), read_idx(labels_path, ndim=1)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    return images, labels


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse a gzip-compressed IDX file of uint8 (magic 0x0803 images, 0x0801 labels)."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path} is not a readable gzip file ({err})") from err
    magic = 0x0800 + ndim
    header = 4 + 4 * ndim
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise DatasetError(f"{path} is not an IDX file with magic number 0x{magic:04X}")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(shape)):
        raise DatasetError(f"{path} holds {len(data) - header} bytes, not the {shape} it declares")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)
