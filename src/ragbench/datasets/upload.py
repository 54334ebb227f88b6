"""Uploaded bytes onto disk, safely: streams copied with a size cap, and BEIR zip
archives checked member by member before anything is extracted.

An :class:`Upload` is what the HTTP layer hands over: the client's file name and
a readable binary stream (Starlette's spooled temporary file), copied to disk in
chunks so that a large corpus is never held in memory twice.

A BEIR zip holds ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``,
either at the top of the archive or inside one folder (BEIR's own zips hold
``scifact/corpus.jsonl`` ...). The archive is refused as a whole when any member
could escape the extraction folder (absolute path, ``..``, drive letter,
backslash, symbolic link), is encrypted, is itself an archive, or when the
members are too many or their declared sizes add up to more than the limit.
Only the three files needed are extracted, each counted again while it is
written (a header can lie about the size).
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ragbench.errors import Unprocessable

_CHUNK = 1 << 20
# Archives inside the archive are refused: extracting them would multiply the
# size limit, and no test-collection format needs them.
_NESTED_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar", ".zst")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")


@dataclass(frozen=True)
class UploadLimits:
    """Caps on what one upload may make the server write or unpack.

    ``max_bytes``: bytes of any one uploaded file, and the total uncompressed
    bytes of an archive's members; ``max_members``: entries in an archive
    (folders included)."""

    max_bytes: int = 4 * 1024**3
    max_members: int = 10_000


DEFAULT_LIMITS = UploadLimits()


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client gave it and its bytes as a stream."""

    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class BeirMembers:
    """Where the files of one split lie inside an archive (member names)."""

    corpus: str
    queries: str
    qrels: str
    splits: tuple[str, ...]


def save_stream(stream: BinaryIO, target: Path, *, filename: str, limits: UploadLimits) -> int:
    """Copy ``stream`` to ``target`` in 1 MiB chunks; refuse (422) past ``limits.max_bytes``.

    Returns the number of bytes written."""
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(_CHUNK):
            written += len(chunk)
            if written > limits.max_bytes:
                raise Unprocessable(f"{filename} is larger than the limit of "
                                    f"{limits.max_bytes} bytes", details={"file": filename})
            out.write(chunk)
    if written == 0:
        raise Unprocessable(f"{filename} is empty", details={"file": filename})
    return written


def open_archive(path: Path, *, filename: str, limits: UploadLimits) -> zipfile.ZipFile:
    """The zip at ``path`` after every member passed the safety checks (422 otherwise)."""
    if not zipfile.is_zipfile(path):
        raise Unprocessable(f"{filename} is not a zip archive", details={"file": filename})
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Unprocessable(f"{filename} is not a readable zip archive: {exc}",
                            details={"file": filename}) from None
    try:
        _check_members(archive, filename, limits)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_members(archive: zipfile.ZipFile, filename: str, limits: UploadLimits) -> None:
    infos = archive.infolist()
    if not any(not info.is_dir() for info in infos):
        raise Unprocessable(f"{filename} is empty (no files in the archive)",
                            details={"file": filename})
    if len(infos) > limits.max_members:
        raise Unprocessable(f"{filename} has {len(infos)} entries; the limit is "
                            f"{limits.max_members}", details={"file": filename})
    total, seen = 0, set()
    for info in infos:
        name = info.filename
        where = {"file": filename, "member": name}
        reason = _unsafe(info)
        if reason:
            raise Unprocessable(f"{filename}: member {name!r} {reason}", details=where)
        if name.rstrip("/") in seen:
            raise Unprocessable(f"{filename}: member {name!r} appears twice", details=where)
        seen.add(name.rstrip("/"))
        total += info.file_size
        if total > limits.max_bytes:
            raise Unprocessable(f"{filename} unpacks to more than the limit of "
                                f"{limits.max_bytes} bytes", details={"file": filename})


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be extracted, or None."""
    name = info.filename
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or "\\" in name or (parts and ":" in parts[0]):
        return "has an absolute path or a Windows path (path traversal)"
    if any(part == ".." for part in parts):
        return "points outside the archive folder ('..', path traversal)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if not info.is_dir() and name.lower().endswith(_NESTED_SUFFIXES):
        return "is an archive inside the archive (nested archives are refused)"
    return None


def _ignored(name: str) -> bool:
    """macOS resource forks and hidden files that zip tools add."""
    parts = PurePosixPath(name).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1].startswith("._"))


def locate_beir(archive: zipfile.ZipFile, *, filename: str, split: str) -> BeirMembers:
    """Find the BEIR folder in ``archive``: the one folder holding ``queries.jsonl``."""
    # Normalised name ("./a//b" -> "a/b") -> the member's name as stored.
    files = {str(PurePosixPath(i.filename)): i.filename for i in archive.infolist()
             if not i.is_dir() and not _ignored(i.filename)}
    roots = sorted(str(PurePosixPath(n).parent) for n in files
                   if PurePosixPath(n).name == "queries.jsonl")
    if not roots:
        raise Unprocessable(
            f"{filename} holds no queries.jsonl: expected corpus.jsonl, queries.jsonl and "
            "qrels/<split>.tsv at the top of the archive or inside one folder",
            details={"file": filename, "found": sorted(files)[:20]})
    if len(roots) > 1:
        raise Unprocessable(f"{filename} holds several BEIR folders ({', '.join(roots)}); "
                            "upload one collection per archive", details={"file": filename})
    root = PurePosixPath(roots[0])

    def member(*parts: str) -> str:
        return str(root.joinpath(*parts))

    if member("corpus.jsonl") not in files:
        raise Unprocessable(f"{filename} has no {member('corpus.jsonl')}",
                            details={"file": filename, "field": "corpus"})
    qrels_folder = member("qrels")
    splits = tuple(sorted(PurePosixPath(n).stem for n in files
                          if str(PurePosixPath(n).parent) == qrels_folder and n.endswith(".tsv")))
    if split not in splits:
        found = ", ".join(splits) if splits else f"none (no {qrels_folder}/*.tsv)"
        raise Unprocessable(f"{filename} has no qrels for split {split!r}; splits found: {found}",
                            details={"file": filename, "field": "split", "splits": list(splits)})
    return BeirMembers(corpus=files[member("corpus.jsonl")],
                       queries=files[member("queries.jsonl")],
                       qrels=files[member("qrels", f"{split}.tsv")], splits=splits)


def extract_member(archive: zipfile.ZipFile, name: str, target: Path, *, filename: str,
                   limits: UploadLimits) -> None:
    """Write one member to ``target``, counting the bytes actually inflated."""
    where = {"file": filename, "member": name}
    written = 0
    try:
        with archive.open(name) as src, open(target, "wb") as out:
            head = src.read(_CHUNK)
            if head.startswith(_ARCHIVE_MAGIC):
                raise Unprocessable(f"{filename}: member {name!r} is itself an archive "
                                    "(nested archives are refused)", details=where)
            chunk = head
            while chunk:
                written += len(chunk)
                if written > limits.max_bytes:
                    raise Unprocessable(f"{filename}: member {name!r} inflates past the limit "
                                        f"of {limits.max_bytes} bytes", details=where)
                out.write(chunk)
                chunk = src.read(_CHUNK)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        # CRC mismatch, truncated data, unsupported compression method
        raise Unprocessable(f"{filename}: member {name!r} cannot be read: {exc}",
                            details=where) from None
