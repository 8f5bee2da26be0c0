"""The lead's own data: a LinkedIn form response (``leadFormResponses``) read against its form (``leadForms``).

A response only carries ``questionId``s; which question asks for the email, the job title or the company is
said by the form definition's ``predefinedField``. Peerscore reads the form's questions (fetched from the REST
API, or embedded as ``form`` in a record pushed on Kafka) and also accepts ``predefinedField`` on an answer
itself, for pipelines that already joined the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from peerscore.ingest.errors import InvalidEvent, join_path
from peerscore.ingest.fields import epoch_ms, identifier, mapping, object_list, urn

MAX_ANSWER_CHARS = 1000

PREDEFINED_FIELDS = {
    "EMAIL": "email",
    "WORK_EMAIL": "email",
    "FIRST_NAME": "first_name",
    "LAST_NAME": "last_name",
    "JOB_TITLE": "title",
    "SENIORITY": "seniority",
    "JOB_FUNCTION": "function",
    "COMPANY_NAME": "company",
    "COMPANY_SIZE": "company_size",
    "INDUSTRY": "industry",
    "COUNTRY": "country",
}
"""LinkedIn predefined question → Peerscore attribute. Other predefined fields (phone, address, education…) are
not scoring inputs and are not carried: Peerscore keeps no personal data it does not use."""

_FIRST_NUMBER = re.compile(r"\d[\d,.]*")


@dataclass(frozen=True)
class FormQuestion:
    predefined_field: str | None = None
    name: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LeadData:
    """What the member submitted, with predefined answers already named by Peerscore attribute."""

    submitter: str | None = None
    submitted_at: datetime | None = None
    test_lead: bool = False
    campaign: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    custom_answers: Mapping[str, str] = field(default_factory=dict)
    consents: Mapping[str, bool] = field(default_factory=dict)


def _localized(value: Any) -> str | None:
    """LinkedIn texts are plain strings or ``{"localized": {"en_US": "…"}}``: the first localisation."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        localized = value.get("localized")
        if isinstance(localized, Mapping):
            for text in localized.values():
                if isinstance(text, str) and text.strip():
                    return text.strip()
    return None


def parse_form(form: Any, path: str = "form") -> dict[str, FormQuestion]:
    """``questionId`` (as text) → question, from a ``leadForms`` entity (``content.questions``)."""
    if form is None:
        return {}
    if not isinstance(form, Mapping):
        raise InvalidEvent.at(path, "must be an object")
    content = mapping(form, "content", path)
    where = join_path(path, "content") if content else path
    questions: dict[str, FormQuestion] = {}
    for index, question in enumerate(object_list(content or form, "questions", where)):
        at = f"{join_path(where, 'questions')}[{index}]"
        question_id = identifier(question, "questionId", at, required=True)
        assert question_id is not None
        predefined = question.get("predefinedField")
        details = mapping(question, "questionDetails", at)
        choices = details.get("multipleChoiceQuestionDetails")
        options: dict[str, str] = {}
        if isinstance(choices, Mapping) and isinstance(choices.get("options"), list):
            for option in choices["options"]:
                if isinstance(option, Mapping) and isinstance(option.get("id"), int | str):
                    text = _localized(option.get("text"))
                    if text is not None:
                        options[str(option["id"])] = text[:MAX_ANSWER_CHARS]
        questions[question_id] = FormQuestion(
            predefined_field=predefined if isinstance(predefined, str) else None,
            name=_localized(question.get("name")),
            options=options,
        )
    return questions


def _answer_text(details: Mapping[str, Any], question: FormQuestion, path: str) -> str | None:
    text_answer = mapping(details, "textQuestionAnswer", path)
    if text_answer:
        value = text_answer.get("answer")
        if value is not None and not isinstance(value, str):
            raise InvalidEvent.at(join_path(path, "textQuestionAnswer.answer"), "must be a string")
        text = (value or "").strip()[:MAX_ANSWER_CHARS]
        return text or None
    choice_answer = mapping(details, "multipleChoiceAnswer", path)
    if choice_answer:
        options = choice_answer.get("options")
        if not isinstance(options, list) or not all(isinstance(o, int | str) for o in options):
            raise InvalidEvent.at(join_path(path, "multipleChoiceAnswer.options"), "must be a list of option ids")
        labels = [question.options.get(str(o), str(o)) for o in options]
        return ", ".join(labels)[:MAX_ANSWER_CHARS] or None
    return None  # an answer kind Peerscore does not read (file upload…): not an error


def parse_lead_data(response: Mapping[str, Any], questions: Mapping[str, FormQuestion], path: str = "") -> LeadData:
    """Read a ``leadFormResponses`` entity; strict on structure, silent on answer kinds it does not use."""
    form_response = mapping(response, "formResponse", path)
    form_path = join_path(path, "formResponse")
    attributes: dict[str, str] = {}
    custom: dict[str, str] = {}
    for index, answer in enumerate(object_list(form_response, "answers", form_path)):
        at = f"{join_path(form_path, 'answers')}[{index}]"
        question_id = identifier(answer, "questionId", at, required=True)
        assert question_id is not None
        question = questions.get(question_id, FormQuestion())
        own = answer.get("predefinedField")
        predefined = own if isinstance(own, str) else question.predefined_field
        text = _answer_text(mapping(answer, "answerDetails", at), question, join_path(at, "answerDetails"))
        if text is None:
            continue
        attribute = PREDEFINED_FIELDS.get(predefined or "")
        if attribute is not None:
            attributes.setdefault(attribute, text)
        elif predefined is None:
            custom[(question.name or f"question_{question_id}")[:128]] = text
    consents: dict[str, bool] = {}
    for index, consent in enumerate(object_list(form_response, "consentResponses", form_path)):
        at = f"{join_path(form_path, 'consentResponses')}[{index}]"
        consent_id = identifier(consent, "consentId", at, required=True)
        accepted = consent.get("accepted")
        if not isinstance(accepted, bool):
            raise InvalidEvent.at(join_path(at, "accepted"), "must be true or false")
        consents[str(consent_id)] = accepted
    test_lead = response.get("testLead", False)
    if not isinstance(test_lead, bool):
        raise InvalidEvent.at(join_path(path, "testLead"), "must be true or false")
    metadata = mapping(response, "leadMetadata", path)
    sponsored = mapping(metadata, "sponsoredLeadMetadata", join_path(path, "leadMetadata"))
    return LeadData(
        submitter=urn(response, "submitter", path),
        submitted_at=epoch_ms(response, "submittedAt", path),
        test_lead=test_lead,
        campaign=urn(sponsored, "campaign", join_path(path, "leadMetadata.sponsoredLeadMetadata")),
        attributes=attributes,
        custom_answers=custom,
        consents=consents,
    )


def employee_floor(company_size: str | None) -> int | None:
    """LinkedIn answers company size as a range ("51-200", "10,001+", "SIZE_51_TO_200"): its lower bound,
    a conservative count for fit rules. None when the text holds no number."""
    if company_size is None:
        return None
    found = _FIRST_NUMBER.search(company_size)
    if found is None:
        return None
    digits = found.group().replace(",", "").replace(".", "")
    return int(digits[:12]) if digits else None
