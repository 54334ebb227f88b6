"""The service's exception tree; ONE handler (:func:`install_handler`) maps it to HTTP.

::

    AppError                 catch to handle any refusal of the service
    ├── BadRequest (400)     the request is malformed beyond schema validation
    ├── Unauthorized (401)   no or unknown API key
    ├── Forbidden (403)      the key's role may not do this
    ├── NotFound (404)       no such system / dataset / evaluation / comparison
    ├── Conflict (409)       the state forbids it (name taken, evaluation not done)
    └── Unprocessable (422)  input understood but refused: failed validation checks,
                             a dataset file with errors (details say file:line, field)

Services raise these (never fastapi's HTTPException), so they work the same from the
CLI, jobs and tests. The body is always ``{"error": {"code", "message", "details"}}``;
``ragbench.core`` errors (``FormatError``, ``MeasureError`` ...) map to 422 too.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unprocessable(AppError):
    status_code = 422
    code = "unprocessable"


def install_handler(app) -> None:
    """Register the one handler that turns AppError / core errors into JSON responses."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from ragbench.core.errors import RagbenchError

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, AppError):
            details = None
            if getattr(exc, "source", None) is not None:
                details = {"file": exc.source, "line": getattr(exc, "line", None),
                           "field": getattr(exc, "field", None)}
            exc = Unprocessable(str(exc), details=details)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    app.add_exception_handler(AppError, handle)
    app.add_exception_handler(RagbenchError, handle)
