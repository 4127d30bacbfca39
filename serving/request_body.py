"""JSON request bodies read by the routes themselves, so that size and content-type limits apply before parsing.

FastAPI's own body parsing would accept any size and answer a non-JSON body with a 422; these give 413 and 415.
The OpenAPI request body of such a route is still generated from its pydantic models (`openapi_body`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request
from pydantic import TypeAdapter


def json_body(max_bytes: int) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning the parsed JSON body; HTTPException 415/413/400 with a clear message otherwise."""

    async def read(request: Request) -> Any:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise HTTPException(415, f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            raise HTTPException(413, f"body larger than {max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, f"body larger than {max_bytes} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise HTTPException(400, "empty body: expected a JSON object")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, f"malformed JSON: {exc}") from None

    return read


def _inline_refs(schema: dict) -> dict:
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/$defs/"):
                return walk(defs[ref.split("/")[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def openapi_body(body_type: Any) -> dict:
    """`openapi_extra` declaring the JSON request body of `body_type` (a pydantic model or a union of them)."""
    schema = _inline_refs(TypeAdapter(body_type).json_schema())
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
