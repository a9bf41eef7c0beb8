"""The portal's worker API, from the worker's side (CONTRACT.md): bearer token, HMAC-signed
bodies, and retries with back-off while the portal is down."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import requests

log = logging.getLogger(__name__)

T = TypeVar("T")


class PortalUnavailable(Exception):
    """The portal could not be reached or answered 5xx: try again later."""


class PortalRefused(Exception):
    """The portal answered 4xx: retrying the same request will not help."""

    def __init__(self, status: int, message: str):
        super().__init__(f"portal answered {status}: {message}")
        self.status = status


def sign(body: bytes, token: str) -> str:
    """The X-Dlgrade-Signature value of `body`."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class PortalClient:
    def __init__(self, base_url: str, token: str, worker_name: str, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.worker_name = worker_name
        self.timeout_s = timeout_s
        self._session: requests.Session | None = None
        self._session_pid = 0

    @property
    def session(self) -> requests.Session:
        # one session per process: prefork children must not share the parent's sockets
        if self._session is None or self._session_pid != os.getpid():
            self._session = requests.Session()
            self._session_pid = os.getpid()
        return self._session

    def _request(self, method: str, path: str, *, body: bytes | None = None,
                 content_type: str | None = None, params: dict | None = None,
                 stream: bool = False, timeout_s: float | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["X-Dlgrade-Signature"] = sign(body, self.token)
            headers["Content-Type"] = content_type or "application/json"
        try:
            resp = self.session.request(
                method, self.base_url + path, data=body, headers=headers, params=params,
                stream=stream, timeout=timeout_s or self.timeout_s,
            )
        except requests.RequestException as exc:
            self._session = None  # drop pooled sockets to a portal that went away
            raise PortalUnavailable(f"{method} {path}: {exc}") from exc
        if resp.status_code >= 500:
            raise PortalUnavailable(f"{method} {path}: portal answered {resp.status_code}")
        if resp.status_code >= 400:
            raise PortalRefused(resp.status_code, f"{method} {path}: {resp.text[:500]}")
        return resp

    def get_json(self, path: str, params: dict | None = None) -> Any:
        return self._request("GET", path, params=params).json()

    def download(self, path: str, dest: Path) -> str:
        """Stream `path` into `dest`; returns the sha256 hex of what was written."""
        digest = hashlib.sha256()
        resp = self._request("GET", path, stream=True)
        try:
            with open(dest, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    digest.update(chunk)
                    fh.write(chunk)
        except requests.RequestException as exc:
            raise PortalUnavailable(f"GET {path}: {exc}") from exc
        finally:
            resp.close()
        return digest.hexdigest()

    def post_json(self, path: str, payload: dict, timeout_s: float | None = None) -> Any:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        resp = self._request("POST", path, body=body, timeout_s=timeout_s)
        return resp.json() if resp.content else {}

    def put_bytes(self, path: str, data: bytes, content_type: str, params: dict | None = None) -> Any:
        resp = self._request("PUT", path, body=data, content_type=content_type, params=params)
        return resp.json() if resp.content else {}


def with_backoff(call: Callable[[], T], *, deadline_s: float, first_s: float = 1.0,
                 cap_s: float = 60.0, what: str = "portal call",
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `call`, retrying on PortalUnavailable with 1 s doubling to 60 s, for `deadline_s`.

    Re-raises the last PortalUnavailable once the deadline has passed; PortalRefused is never
    retried.
    """
    start = time.monotonic()
    delay = first_s
    while True:
        try:
            return call()
        except PortalUnavailable as exc:
            left = deadline_s - (time.monotonic() - start)
            if left <= 0:
                raise
            log.warning("%s failed (%s); retrying in %.0f s", what, exc, min(delay, left))
            sleep(min(delay, left))
            delay = min(delay * 2, cap_s)
