"""Secrets never printed: masking for ``vigil config show``, and a log filter that every
process installs. A secret is a ``SecretStr`` setting, the password of a URL (``clickhouse.url``,
an RTSP camera URL), or a ``kafka.client_options`` entry whose name says it is one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

MASK = "**********"
# librdkafka option names that hold credentials (sasl.password, ssl.key.password,
# sasl.oauthbearer.client.secret, ssl.keystore.password, sasl.oauthbearer.config, ...)
SECRET_OPTION = re.compile(r"(password|secret|token|credential|oauthbearer\.config|\.pem$)", re.I)
# scheme://user:password@ — the password part, wherever it appears in a line
URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?=@)")
MIN_SECRET = 4  # shorter values would mask ordinary words in log lines


def mask_url(text: str) -> str:
    """``clickhouse://vigil:pw@host`` -> ``clickhouse://vigil:**********@host``."""
    return URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def masked(data: Any, key: str = "") -> Any:
    """A ``model_dump(mode="json")`` tree with every secret replaced by the mask."""
    if isinstance(data, dict):
        return {k: masked(v, str(k)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [masked(v, key) for v in data]
    if isinstance(data, str):
        return MASK if SECRET_OPTION.search(key) else mask_url(data)
    return data


def secret_values(settings: BaseModel) -> set[str]:
    """Every secret a settings object holds, as plain text, for the log filter."""
    found: set[str] = set()

    def walk(value: Any, key: str) -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
            # "user:password" (schema registry basic auth): the password alone leaks too
            found.update(value.get_secret_value().split(":", 1)[1:])
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), name)
        elif isinstance(value, dict):
            for k, v in value.items():
                if SECRET_OPTION.search(str(k)) and isinstance(v, str):
                    found.add(v)
                else:
                    walk(v, str(k))
        elif isinstance(value, list | tuple | set | frozenset):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            password = urlsplit(value).password if "://" in value else None
            if password:
                found.add(password)

    walk(settings, "")
    return {s for s in found if len(s) >= MIN_SECRET}


class SecretFilter(logging.Filter):
    """Masks known secret values and URL passwords in every record a handler emits,
    tracebacks included; installed on the handler so records of every logger pass it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # longest first, so a secret containing another is masked whole
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return mask_url(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
            record.exc_info = None  # formatters would render the raw traceback again
        return True
