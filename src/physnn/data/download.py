"""Downloads of a built-in dataset's missing files into the cache, each verified before it is
renamed into place; or, when that is off or fails, an error that says how to get them.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.request
from pathlib import Path
from typing import BinaryIO

from physnn.data.formats import AUDIO_FOLDER, recorded_tokens
from physnn.data.sources import (
    AUDIO_MIRRORS,
    CHECKSUMS,
    DATASET_FILES,
    MIRRORS,
    audio_complete,
    cache_root,
    data_search_paths,
    file_sha256,
    verify,
)
from physnn.errors import DatasetError, option
from physnn.files import temporary_beside
from physnn.progress import tqdm

DOWNLOAD_TIMEOUT_S = 30.0


def _mirrors(name: str) -> tuple[str, ...]:
    """Base URLs to download from: ``$PHYSNN_DATA_MIRROR`` (one or more, space-separated; may be
    ``file://``) overrides the official sources."""
    override = os.environ.get("PHYSNN_DATA_MIRROR", "").split()
    return tuple(url.rstrip("/") + "/" for url in override) or MIRRORS[name]


def download_or_explain(name: str, data_dir: str | os.PathLike | None, download: bool) -> Path:
    """Download the missing files into the cache, or raise a DatasetError saying how to get them."""
    target = cache_root() / "datasets" / name
    errors: list[str] = []
    if download:
        for mirror in _mirrors(name):
            try:
                for f in DATASET_FILES[name]:
                    if not (target / f).is_file():
                        _fetch(name, mirror + f, target / f)
                    verify(name, target / f)
                if name == "vowels-audio":
                    _fetch_audio(target)
                return target
            except (OSError, ValueError, http.client.HTTPException, DatasetError) as err:
                errors.append(f"{mirror}: {err}")
    searched = ", ".join(str(p) for p in data_search_paths(name, data_dir))
    hint = " or `apt-get install dataset-fashion-mnist`" if name == "fashion-mnist" else ""
    tried = f" (download failed: {'; '.join(errors)})" if errors else " (download disabled)"
    raise DatasetError(
        f"dataset {name!r} not found in {searched}{tried}; get {', '.join(DATASET_FILES[name])} "
        f"from {' or '.join(MIRRORS[name])}{hint}, and pass {option('data_dir')} or set "
        "PHYSNN_DATA_DIR"
    )


def _fetch_audio(target: Path) -> None:
    """Download the missing recordings into ``target/audio`` (``$PHYSNN_DATA_MIRROR``: from its
    ``audio/`` folder), then verify them all together."""
    override = os.environ.get("PHYSNN_DATA_MIRROR", "").split()
    base = override[0].rstrip("/") + f"/{AUDIO_FOLDER}/" if override else AUDIO_MIRRORS[0]
    folder = target / AUDIO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    missing = [t for t in recorded_tokens(target) if not (folder / f"{t}.wav").is_file()]
    # disable=None: bars only when stderr is a terminal, never in a redirected log
    for token in tqdm(missing, desc="recordings", leave=False, file=sys.stderr, disable=None):
        fd, tmp = temporary_beside(folder / f"{token}.wav", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_url(base + f"{token}.wav", out, desc=f"{token}.wav")
            os.replace(tmp, folder / f"{token}.wav")
        finally:
            Path(tmp).unlink(missing_ok=True)
    if not audio_complete(target):
        raise DatasetError(f"the download left recordings missing in {folder}")


def _fetch(name: str, url: str, dest: Path) -> None:
    """Download to a temporary file, verify it, then rename it into place atomically."""
    fd, tmp = temporary_beside(dest, suffix=".part")
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url(url, out, desc=dest.name)
        got = file_sha256(tmp_path)
        accepted = CHECKSUMS[name][dest.name]
        if got not in accepted:
            raise DatasetError(
                f"downloaded {url} has SHA-256 {got}, expected {' or '.join(sorted(accepted))}"
            )
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def _copy_url(url: str, out: BinaryIO, desc: str) -> None:
    """Stream ``url`` into the open binary file ``out`` with a progress bar on stderr (when it
    is a terminal)."""
    request = urllib.request.Request(url, headers={"User-Agent": "physnn"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=desc,
            leave=False,
            file=sys.stderr,
            disable=None,  # only on a terminal
        ) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))
