"""``/api/v1/datasets``: upload (multipart form), list, read, versions, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from ragbench.datasets import service
from ragbench.datasets.schemas import DatasetRead
from ragbench.datasets.upload import Upload
from ragbench.dependencies import Editor, SessionDep, SettingsDep, Viewer

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def _upload(file: UploadFile | None) -> Upload | None:
    if file is None:
        return None
    return Upload(filename=file.filename or "", stream=file.file)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetRead,
             responses={200: {"model": DatasetRead,
                              "description": "This name already has a version with "
                                             "exactly this content: that one is returned"}})
def upload_dataset(
    response: Response, session: SessionDep, settings: SettingsDep, _: Editor,
    name: Annotated[str, Form(description="Collection name (versions share it)")],
    split: Annotated[str, Form(description="Which qrels/<split>.tsv to take")] = "test",
    archive: Annotated[UploadFile | None, File(
        description="BEIR zip: corpus.jsonl, queries.jsonl, qrels/<split>.tsv, at the "
                    "top or inside one folder")] = None,
    qrels: Annotated[UploadFile | None, File(description="TREC qrels")] = None,
    queries: Annotated[UploadFile | None, File(
        description="TSV 'qid<TAB>text' or BEIR queries.jsonl")] = None,
    corpus: Annotated[UploadFile | None, File(
        description="Optional: BEIR corpus.jsonl or TSV 'docid<TAB>text'")] = None,
):
    """Upload a test collection: a BEIR zip as ``archive``, or TREC files."""
    dataset, created = service.create_dataset_from_upload(
        session, name=name, split=split, settings=settings, archive=_upload(archive),
        qrels=_upload(qrels), queries=_upload(queries), corpus=_upload(corpus))
    if not created:
        response.status_code = status.HTTP_200_OK
    return dataset


@router.get("", response_model=list[DatasetRead])
def list_datasets(session: SessionDep, _: Viewer, name: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Annotated[int, Query(ge=0)] = 0):
    return service.list_datasets(session, name=name, limit=limit, offset=offset)


@router.get("/{dataset_id}", response_model=DatasetRead)
def get_dataset(dataset_id: int, session: SessionDep, _: Viewer):
    return service.get_dataset(session, dataset_id=dataset_id)


@router.get("/{dataset_id}/versions", response_model=list[DatasetRead])
def list_versions(dataset_id: int, session: SessionDep, _: Viewer):
    return service.list_versions(session, dataset_id=dataset_id)


@router.delete("/{dataset_id}", response_model=DatasetRead)
def delete_dataset(dataset_id: int, session: SessionDep, _: Editor):
    """Soft delete: hidden from lists; files kept for the evaluations that used it."""
    return service.delete_dataset(session, dataset_id=dataset_id)
