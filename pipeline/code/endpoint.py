"""The model server: which hosts may receive segments, and one chat-completions request.

Segments are pseudonymised, but they are still a study's data: they go to this machine only
(127.0.0.0/8, ::1, ``localhost``) unless ``llm.allow_remote`` says otherwise. The check is
on the URL as written; a name that merely resolves to this machine counts as remote, so the
rule cannot be bent by DNS. The API key (``CDA_LLM_API_KEY``) is sent as a bearer token and
appears in no message, log line or file.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from pipeline.code.reply import BadReply
from pipeline.core.config import LlmConfig
from pipeline.core.errors import CdaError

API_KEY = "CDA_LLM_API_KEY"
# a server that answers these will answer every segment the same way: stop, say what to fix
FATAL_STATUS = {401: "the API key was refused", 403: "access forbidden", 404: "no such path"}


def host_of(base_url: str) -> str:
    """The host of ``base_url``; a URL that is not http(s)://host/... is refused."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CdaError(
            f"llm.base_url '{base_url}' is not an http(s) URL",
            hint="write the server's API root, e.g. http://127.0.0.1:11434/v1 (Ollama)",
        )
    if parts.username or parts.password:
        raise CdaError(
            "llm.base_url holds credentials",
            hint=f"remove them from cda.yaml; put the key in {API_KEY} (environment or .env)",
        )
    return parts.hostname


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ::1."""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(settings: LlmConfig) -> str:
    """The host segments will go to, refused unless loopback or ``llm.allow_remote``."""
    host = host_of(settings.base_url)
    if not is_loopback(host) and not settings.allow_remote:
        raise CdaError(
            f"llm.base_url points at {host}, not this machine: segments would leave it",
            hint="run the model locally (127.0.0.1, ::1, localhost), or set llm.allow_remote: "
            "true in cda.yaml if the study's data agreement allows sending pseudonymised "
            "text to that host",
        )
    return host


@dataclass
class Endpoint:
    """An open connection to the server, for one run."""

    settings: LlmConfig
    api_key: str | None
    http: httpx.Client

    @classmethod
    def open(cls, settings: LlmConfig, *, api_key: str | None) -> Endpoint:
        check_endpoint(settings)
        return cls(settings, api_key, httpx.Client(timeout=settings.timeout_s))

    def close(self) -> None:
        self.http.close()

    @property
    def url(self) -> str:
        return self.settings.base_url.rstrip("/") + "/chat/completions"

    def request_body(self, messages: list[dict], response_format: dict) -> dict:
        body = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "response_format": response_format,
            "stream": False,
        }
        if self.settings.seed is not None:
            body["seed"] = self.settings.seed
        return body

    def complete(self, body: dict) -> dict:
        """POST one request; the decoded response, or :class:`BadReply` (worth a retry), or
        :class:`CdaError` when no request can succeed (no server, refused key)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = self.http.post(self.url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise BadReply("timeout", f"no reply within {self.settings.timeout_s:g} s") from None
        except httpx.ConnectError:
            raise CdaError(
                f"no model server answers at {self.settings.base_url}",
                hint="start it (e.g. `ollama serve`) or fix llm.base_url in cda.yaml; "
                "the segments coded so far are kept",
            ) from None
        except httpx.HTTPError as exc:
            raise BadReply("connection", type(exc).__name__) from None
        if response.status_code in FATAL_STATUS:
            raise CdaError(
                f"{self.url} answered HTTP {response.status_code}: "
                f"{FATAL_STATUS[response.status_code]}",
                hint=f"check llm.base_url and llm.model in cda.yaml, and {API_KEY}; "
                "the segments coded so far are kept",
            )
        if response.status_code >= 400:
            raise BadReply(f"HTTP {response.status_code}", response.text[:80])
        try:
            return json.loads(response.content)
        except ValueError:
            raise BadReply("malformed response", "the response body is not JSON") from None
