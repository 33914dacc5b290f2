"""The API's one error body, ``{"error": reason, "detail": ...}``, and how routes document it."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ApiError(BaseModel):
    """The one error body of the API: a stable reason to switch on, and a human detail."""

    error: str = Field(description="machine-readable reason, e.g. body_too_large")
    detail: Any = Field(description="what was wrong, for a person")


def documented(answers: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for error answers, each with the ``ApiError`` body."""
    return {code: {"description": text, "model": ApiError} for code, text in answers.items()}


def error(
    status: int, reason: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status, headers=headers)
