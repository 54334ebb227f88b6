from __future__ import annotations

from fastapi import APIRouter, status

from ragbench.auth import service
from ragbench.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from ragbench.dependencies import Admin, SessionDep

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, session: SessionDep, _: Admin):
    row, plaintext = service.create_key(session, name=body.name, role=body.role)
    return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=plaintext)


@router.get("", response_model=list[ApiKeyRead])
def list_keys(session: SessionDep, _: Admin):
    return service.list_keys(session)


@router.delete("/{key_id}", response_model=ApiKeyRead)
def revoke_key(key_id: int, session: SessionDep, _: Admin):
    return service.revoke_key(session, key_id=key_id)
