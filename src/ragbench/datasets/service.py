"""Datasets: create (from an upload or a BEIR folder), list, read, delete, load.

A dataset row is one *version* of a named test collection. The version is the
sha256 of the normalised content (see :mod:`ragbench.datasets.storage`), so:

* the same content under the same name is the same row (re-uploading it
  returns that row, and brings it back if it was deleted);
* changed content (new qrels, a fixed query) under the same name is a new row;
  older rows stay as they were, and evaluations keep the id they used;
* the same content under another name is another row sharing the stored folder.

Creating follows one order, so that a failure leaves nothing half-stored:
parse and check every file (:mod:`~ragbench.datasets.collection`), write the
normalised folder into a staging folder, rename it to ``datasets/<version>``,
then insert the row; if the insert fails, the folder this call created is
removed again.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ragbench.config import Settings
from ragbench.core.errors import FormatError
from ragbench.core.io.beir import BeirDataset
from ragbench.database import utcnow
from ragbench.datasets import storage
from ragbench.datasets.collection import Collection, InputFile, read_collection
from ragbench.datasets.models import Dataset
from ragbench.datasets.stats import collection_stats
from ragbench.datasets.upload import (
    DEFAULT_LIMITS,
    Upload,
    UploadLimits,
    extract_member,
    locate_beir,
    open_archive,
    save_stream,
)
from ragbench.errors import BadRequest, Conflict, NotFound, Unprocessable

# A split names a file (qrels/<split>.tsv): no separators, no leading dot.
_SPLIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_MAX = 200


def create_dataset_from_upload(
        session: Session, *, name: str, settings: Settings, split: str = "test",
        archive: Upload | None = None, qrels: Upload | None = None,
        queries: Upload | None = None, corpus: Upload | None = None,
        limits: UploadLimits = DEFAULT_LIMITS) -> tuple[Dataset, bool]:
    """Store an uploaded collection: either ``archive`` (a BEIR zip) or TREC-style
    files (``qrels`` and ``queries``, optionally ``corpus``).

    Returns ``(dataset, created)``; ``created`` is False when this name already
    had a version with exactly this content (that row is returned)."""
    name, split = _check_name(name), _check_split(split)
    trec_files = {"qrels": qrels, "queries": queries, "corpus": corpus}
    if archive is not None and any(trec_files.values()):
        raise BadRequest("send either an archive (BEIR zip) or qrels/queries/corpus files, "
                         "not both", details={"field": "archive"})
    if archive is None and (qrels is None or queries is None):
        missing = [f for f in ("qrels", "queries") if trec_files[f] is None]
        raise Unprocessable(f"send a BEIR zip as 'archive', or TREC files 'qrels' and "
                            f"'queries' (missing: {', '.join(missing)})",
                            details={"field": missing[0]})
    with storage.staging(settings.data_dir) as work:
        incoming = work / "incoming"
        incoming.mkdir()
        if archive is not None:
            collection = _read_archive(archive, incoming, split=split, limits=limits)
            source_format = "beir"
        else:
            files = {field: _save(upload, incoming / field, limits)
                     for field, upload in trec_files.items() if upload is not None}
            collection = read_collection(qrels=files["qrels"], queries=files["queries"],
                                         corpus=files.get("corpus"), split=split)
            source_format = "trec"
        return _store(session, name=name, collection=collection, source_format=source_format,
                      work=work, settings=settings)


def create_dataset_from_folder(session: Session, *, name: str, folder: str | Path,
                               split: str = "test", settings: Settings) -> Dataset:
    """Store the BEIR folder ``folder`` (``corpus.jsonl``, ``queries.jsonl``,
    ``qrels/<split>.tsv``) with the same checks and versioning as an upload.

    An identical version already stored under ``name`` is returned as it is."""
    name, split = _check_name(name), _check_split(split)
    root = Path(folder)
    if not root.is_dir():
        raise Unprocessable(f"{root} is not a folder", details={"file": str(root)})
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (root / required).is_file():
            raise Unprocessable(f"{root} has no {required}",
                                details={"file": str(root / required)})
    if not (root / "qrels" / f"{split}.tsv").is_file():
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        raise Unprocessable(f"{root} has no qrels for split {split!r}; splits found: "
                            f"{', '.join(splits) or 'none'}",
                            details={"file": str(root / "qrels"), "field": "split",
                                     "splits": splits})

    def named(*parts: str) -> InputFile:
        return InputFile(root.joinpath(*parts), str(root.joinpath(*parts)))

    collection = read_collection(qrels=named("qrels", f"{split}.tsv"),
                                 queries=named("queries.jsonl"), corpus=named("corpus.jsonl"),
                                 split=split, qrels_format="beir", record_format="jsonl")
    with storage.staging(settings.data_dir) as work:
        dataset, _ = _store(session, name=name, collection=collection, source_format="beir",
                            work=work, settings=settings)
    return dataset


def get_dataset(session: Session, *, dataset_id: int, include_deleted: bool = False) -> Dataset:
    """The dataset version ``dataset_id``; NotFound if missing or (by default) deleted."""
    row = session.get(Dataset, dataset_id)
    if row is None or (row.deleted_at is not None and not include_deleted):
        raise NotFound(f"no dataset with id {dataset_id}", details={"dataset_id": dataset_id})
    return row


def list_datasets(session: Session, *, name: str | None = None, limit: int = 100,
                  offset: int = 0) -> list[Dataset]:
    """Versions not deleted, newest first; ``name`` keeps one collection's versions."""
    query = select(Dataset).where(Dataset.deleted_at.is_(None))
    if name is not None:
        query = query.where(Dataset.name == name)
    query = query.order_by(Dataset.created_at.desc(), Dataset.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def list_versions(session: Session, *, dataset_id: int) -> list[Dataset]:
    """Every version (not deleted) of the collection that ``dataset_id`` belongs to,
    newest first."""
    dataset = get_dataset(session, dataset_id=dataset_id)
    return list_datasets(session, name=dataset.name, limit=10_000)


def delete_dataset(session: Session, *, dataset_id: int) -> Dataset:
    """Soft delete: set ``deleted_at``; the version disappears from lists and lookups.

    Its files stay on disk: evaluations and comparisons that used this version
    keep referring to it (and :func:`load_collection` still loads it), and
    another name may share the same content-addressed folder."""
    dataset = get_dataset(session, dataset_id=dataset_id)
    dataset.deleted_at = utcnow()
    session.flush()
    return dataset


def dataset_folder(dataset: Dataset, *, settings: Settings) -> Path:
    return settings.data_dir / dataset.storage_path


def load_collection(session: Session, *, dataset_id: int, settings: Settings) -> BeirDataset:
    """The stored collection of ``dataset_id``: ``.corpus`` (empty when the upload
    had none), ``.queries`` (the judged queries, with text), ``.qrels``.

    Deleted versions load too, for the evaluations that used them; check with
    :func:`get_dataset` before starting new work on a dataset."""
    dataset = get_dataset(session, dataset_id=dataset_id, include_deleted=True)
    folder = dataset_folder(dataset, settings=settings)
    if not folder.is_dir():
        raise Conflict(f"the files of dataset {dataset_id} are missing ({dataset.storage_path} "
                       "under the data folder)", details={"dataset_id": dataset_id})
    try:
        return storage.read_stored(folder, dataset.split)
    except (FormatError, OSError) as exc:
        raise Conflict(f"the stored files of dataset {dataset_id} cannot be read: {exc}",
                       details={"dataset_id": dataset_id}) from None


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > _NAME_MAX:
        raise Unprocessable(f"name must be 1 to {_NAME_MAX} characters",
                            details={"field": "name"})
    return name


def _check_split(split: str) -> str:
    split = (split or "").strip()
    if not _SPLIT.fullmatch(split):
        raise Unprocessable(f"split {split!r} must be a plain name (letters, digits, '.', '_',"
                            " '-'; at most 64)", details={"field": "split"})
    return split


def _save(upload: Upload, folder: Path, limits: UploadLimits) -> InputFile:
    folder.mkdir()
    name = upload.filename or folder.name
    path = folder / "data"
    save_stream(upload.stream, path, filename=name, limits=limits)
    return InputFile(path, name)


def _read_archive(archive: Upload, incoming: Path, *, split: str,
                  limits: UploadLimits) -> Collection:
    filename = archive.filename or "archive"
    zip_path = incoming / "archive.zip"
    save_stream(archive.stream, zip_path, filename=filename, limits=limits)
    with open_archive(zip_path, filename=filename, limits=limits) as zf:
        members = locate_beir(zf, filename=filename, split=split)
        files = {}
        for field, member in (("corpus", members.corpus), ("queries", members.queries),
                              ("qrels", members.qrels)):
            path = incoming / f"{field}.member"
            extract_member(zf, member, path, filename=filename, limits=limits)
            files[field] = InputFile(path, member)
    zip_path.unlink()  # the extracted members are all that is needed from here on
    return read_collection(qrels=files["qrels"], queries=files["queries"], corpus=files["corpus"],
                           split=split, qrels_format="beir", record_format="jsonl")


def _store(session: Session, *, name: str, collection: Collection, source_format: str,
           work: Path, settings: Settings) -> tuple[Dataset, bool]:
    staged = work / "normalised"
    version = storage.write_normalised(staged, collection.dataset)
    stats = collection_stats(collection.dataset, has_corpus=collection.has_corpus,
                             queries_in_file=collection.queries_in_file)
    _, created_folder = storage.publish(staged, settings.data_dir, version)
    try:
        existing = session.scalar(select(Dataset).where(Dataset.name == name,
                                                        Dataset.version == version))
        if existing is not None:
            if existing.deleted_at is not None:
                existing.deleted_at = None
                session.flush()
            return existing, False
        dataset = Dataset(name=name, version=version, source_format=source_format,
                          split=collection.dataset.split, num_documents=stats["documents"],
                          num_queries=stats["queries"], num_judgments=stats["judgments"],
                          stats=stats, storage_path=storage.relative_path(version))
        session.add(dataset)
        session.flush()
    except IntegrityError:
        if created_folder:
            storage.remove_version(settings.data_dir, version)
        raise Conflict(f"dataset {name!r} version {version[:12]} was stored by another request "
                       "at the same moment; send it again", details={"field": "name"}) from None
    except BaseException:
        if created_folder:
            storage.remove_version(settings.data_dir, version)
        raise
    return dataset, True
