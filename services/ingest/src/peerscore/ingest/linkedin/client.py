"""Fetching a lead's full data from the LinkedIn Marketing REST API (``leadFormResponses`` and ``leadForms``).

Thin I/O around the pure parsers in :mod:`.answers`: what comes back is read by exactly the code that reads a
lead pushed on Kafka. Form definitions are immutable per version, so they are cached in memory.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from peerscore.ingest.linkedin.answers import FormQuestion, LeadData, parse_form, parse_lead_data
from peerscore.ingest.linkedin.leads import RESPONSE_URN_PREFIX, LeadNotification
from peerscore.ingest.settings import LinkedInSettings

_FORM_ID = re.compile(r"urn:li:leadGenForm:(\d+)")


class LinkedInUnavailable(Exception):
    """LinkedIn did not answer usefully (network, timeout, 429, 5xx, auth): worth a retry later."""


def _response_id(response_urn: str) -> str:
    return response_urn.removeprefix(RESPONSE_URN_PREFIX)


def form_id(form_urn: str | None) -> str | None:
    """``urn:li:leadGenForm:123`` or ``urn:li:versionedLeadGenForm:(urn:li:leadGenForm:123,4)`` → ``"123"``."""
    if not form_urn:
        return None
    found = _FORM_ID.search(form_urn)
    return found.group(1) if found else None


class LinkedInLeadClient:
    def __init__(self, settings: LinkedInSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._forms: OrderedDict[str, dict[str, FormQuestion]] = OrderedDict()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._settings.api_base_url.rstrip("/") + "/",
            timeout=self._settings.fetch_timeout_s,
            transport=self._transport,
            headers={
                "Authorization": f"Bearer {self._settings.access_token.get_secret_value()}",
                "LinkedIn-Version": self._settings.api_version,
                "X-Restli-Protocol-Version": "2.0.0",
            },
        )

    async def _get(self, client: httpx.AsyncClient, path: str) -> Mapping[str, Any] | None:
        """The JSON object at ``path``; None on 404; :class:`LinkedInUnavailable` for anything else unusable."""
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            raise LinkedInUnavailable(f"request failed: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LinkedInUnavailable(f"LinkedIn answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise LinkedInUnavailable("LinkedIn answered with a body that is not JSON") from None
        if not isinstance(body, Mapping):
            raise LinkedInUnavailable("LinkedIn answered with JSON that is not an object")
        return body

    async def _questions(self, client: httpx.AsyncClient, form_urn: str | None) -> dict[str, FormQuestion]:
        key = form_id(form_urn)
        if key is None:
            return {}
        cached = self._forms.get(key)
        if cached is not None:
            self._forms.move_to_end(key)
            return cached
        form = await self._get(client, f"leadForms/{key}")
        questions = parse_form(form, "leadForms") if form is not None else {}
        self._forms[key] = questions
        while len(self._forms) > self._settings.form_cache_size:
            self._forms.popitem(last=False)
        return questions

    async def lead_data(self, notification: LeadNotification) -> LeadData | None:
        """The lead's data, or None when LinkedIn no longer has the response (deleted since).

        Raises :class:`~peerscore.ingest.errors.InvalidEvent` when LinkedIn's answer cannot be read.
        """
        async with self._client() as client:
            response = await self._get(
                client, "leadFormResponses/" + quote(_response_id(notification.response_urn), safe="")
            )
            if response is None:
                return None
            form_urn = notification.form_urn
            own_form = response.get("versionedLeadGenFormUrn")
            if isinstance(own_form, str):
                form_urn = own_form
            questions = await self._questions(client, form_urn)
        return parse_lead_data(response, questions, "leadFormResponses")
