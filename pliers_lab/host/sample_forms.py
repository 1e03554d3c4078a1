"""Sample forms and a seeded generator of synthetic submissions (notebooks, benchmarks).

Three forms: a contact form (default workflow), a job application (a hiring workflow
with roles) and an expense claim (automatic approval up to 100, manager approval above,
then finance pays). ``synthetic(form_id, n, seed)`` yields answers that pass the form and
the example plugins; ``invalid_rate`` mixes in answers that do not.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["CONTACT", "EXPENSE_CLAIM", "JOB_APPLICATION", "SAMPLE_FORMS", "install", "synthetic"]

_HONEYPOT = {"name": "website", "label": "Website", "type": "text", "ui": {"hidden": True}}

CONTACT: dict[str, Any] = {
    "id": "contact",
    "name": "Contact us",
    "fields": [
        {
            "name": "name",
            "label": "Your name",
            "type": "text",
            "required": True,
            "validation": {"min": 2, "max": 100},
        },
        {"name": "email", "label": "E-mail", "type": "email", "required": True},
        {"name": "phone", "label": "Phone", "type": "phone", "countryCode": "US"},
        {"name": "company", "label": "Company", "type": "text", "validation": {"max": 100}},
        {
            "name": "topic",
            "label": "Topic",
            "type": "select",
            "required": True,
            "options": ["sales", "support", "partnership", "other"],
        },
        {
            "name": "message",
            "label": "Message",
            "type": "text",
            "required": True,
            "validation": {"min": 10, "max": 2000},
        },
        _HONEYPOT,
    ],
    "settings": {
        "notifications": [
            {
                "channel": "email",
                "to": "support@pliers.dev",
                "on": "submit",
                "subject": "New {{topic}} message from {{name}}",
                "body": "{{name}} <{{email}}> wrote:\n\n{{message}}",
            }
        ]
    },
    "metadata": {
        "transformPipeline": [
            {"type": "normalize_phone", "field": "phone"},
            {"type": "enrich_company", "field": "email"},
        ]
    },
}

JOB_APPLICATION: dict[str, Any] = {
    "id": "job-application",
    "name": "Job application",
    "fields": [
        {
            "name": "fullName",
            "label": "Full name",
            "type": "text",
            "required": True,
            "validation": {"min": 2, "max": 100},
        },
        {"name": "email", "label": "E-mail", "type": "email", "required": True},
        {"name": "phone", "label": "Phone", "type": "phone", "countryCode": "GB"},
        {
            "name": "position",
            "label": "Position",
            "type": "select",
            "required": True,
            "options": ["engineer", "designer", "product-manager", "support"],
        },
        {
            "name": "yearsExperience",
            "label": "Years of experience",
            "type": "number",
            "required": True,
            "validation": {"min": 0, "max": 50},
        },
        {"name": "startDate", "label": "Earliest start", "type": "date"},
        {"name": "address", "label": "Address", "type": "text", "validation": {"max": 200}},
        {"name": "resume", "label": "CV", "type": "file", "validation": {"max": 5_000_000}},
        {
            "name": "coverLetter",
            "label": "Cover letter",
            "type": "text",
            "validation": {"max": 5000},
        },
        _HONEYPOT,
    ],
    "statusDefinitions": [
        {
            "name": "applied",
            "category": "pending",
            "isInitial": True,
            "allowedTransitions": [{"toStatus": "screening", "auto": True}],
        },
        {
            "name": "screening",
            "category": "active",
            "allowedTransitions": [
                {"toStatus": "interview", "requiredRoles": ["recruiter"]},
                {"toStatus": "rejected", "requiredRoles": ["recruiter"]},
            ],
        },
        {
            "name": "interview",
            "category": "active",
            "allowedTransitions": [
                {"toStatus": "offer", "requiredRoles": ["hiring-manager"]},
                {"toStatus": "rejected", "requiredRoles": ["recruiter", "hiring-manager"]},
            ],
        },
        {
            "name": "offer",
            "category": "active",
            "allowedTransitions": [
                {"toStatus": "hired", "requiredRoles": ["hiring-manager"]},
                {"toStatus": "rejected", "requiredRoles": ["hiring-manager"]},
            ],
        },
        {"name": "hired", "category": "completed", "isFinal": True},
        {"name": "rejected", "category": "cancelled", "isFinal": True},
    ],
    "settings": {
        "notifications": [
            {
                "channel": "email",
                "to": "{{email}}",
                "on": "submit",
                "subject": "Your application for {{position}}",
                "body": "Dear {{fullName}},\n\nthank you for applying; we will be in touch.",
            },
            {
                "channel": "email",
                "to": "{{email}}",
                "on": "status:offer",
                "subject": "An offer for you",
                "body": "Dear {{fullName}},\n\nwe would like to offer you the {{position}}"
                " position.",
            },
        ]
    },
    "metadata": {
        "transformPipeline": [
            {"type": "normalize_phone", "field": "phone"},
            {"type": "geocode_address", "field": "address"},
        ]
    },
}

EXPENSE_CLAIM: dict[str, Any] = {
    "id": "expense-claim",
    "name": "Expense claim",
    "fields": [
        {
            "name": "employee",
            "label": "Employee",
            "type": "text",
            "required": True,
            "validation": {"min": 2, "max": 100},
        },
        {"name": "email", "label": "E-mail", "type": "email", "required": True},
        {
            "name": "amount",
            "label": "Amount",
            "type": "number",
            "required": True,
            "validation": {"min": 0.01, "max": 10000},
        },
        {
            "name": "currency",
            "label": "Currency",
            "type": "select",
            "required": True,
            "options": ["USD", "EUR", "GBP"],
        },
        {
            "name": "category",
            "label": "Category",
            "type": "select",
            "required": True,
            "options": ["travel", "meals", "equipment", "training", "other"],
        },
        {"name": "date", "label": "Date of expense", "type": "date", "required": True},
        {
            "name": "description",
            "label": "Description",
            "type": "text",
            "required": True,
            "validation": {"min": 5, "max": 500},
        },
        {
            "name": "card",
            "label": "Company card",
            "type": "creditcard",
            "acceptedCardTypes": ["visa", "mastercard"],
        },
        {"name": "receipt", "label": "Receipt", "type": "file"},
    ],
    "statusDefinitions": [
        {
            "name": "submitted",
            "category": "pending",
            "isInitial": True,
            "allowedTransitions": [
                {
                    "toStatus": "approved",
                    "auto": True,
                    "conditions": [{"field": "amount", "op": "lte", "value": 100}],
                },
                {"toStatus": "pending_approval", "auto": True},
            ],
        },
        {
            "name": "pending_approval",
            "category": "pending",
            "allowedTransitions": [
                {"toStatus": "approved", "requiredRoles": ["manager"]},
                {"toStatus": "rejected", "requiredRoles": ["manager"]},
            ],
        },
        {
            "name": "approved",
            "category": "active",
            "allowedTransitions": [{"toStatus": "paid", "requiredRoles": ["finance"]}],
        },
        {"name": "paid", "category": "completed", "isFinal": True},
        {"name": "rejected", "category": "cancelled", "isFinal": True},
    ],
    "settings": {
        "notifications": [
            {
                "channel": "sms",
                "to": "+15555550100",
                "on": "status:pending_approval",
                "body": "Expense claim {{submission.id}} from {{employee}}"
                " ({{amount}} {{currency}}) awaits approval",
            },
            {
                "channel": "email",
                "to": "{{email}}",
                "on": "status:approved",
                "subject": "Expense claim approved",
                "body": "Your claim of {{amount}} {{currency}} ({{description}}) was approved.",
            },
        ]
    },
    "metadata": {},
}

SAMPLE_FORMS: dict[str, dict[str, Any]] = {
    f["id"]: f for f in (CONTACT, JOB_APPLICATION, EXPENSE_CLAIM)
}


def install(host: Host, names: list[str] | None = None) -> list[str]:
    """Create the sample forms the host lacks; returns the ids of all requested ones."""
    wanted = names or list(SAMPLE_FORMS)
    existing = set(host.forms.ids())
    for name in wanted:
        if name not in existing:
            host.create_form(copy.deepcopy(SAMPLE_FORMS[name]))
    return wanted


# --------------------------------------------------------------------------- generator

_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Tim",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Berners-Lee",
]
_DOMAINS = [
    "acme.com",
    "globex.com",
    "initech.com",
    "umbrella.com",
    "hooli.com",
    "example.org",
    "gmail.com",
]
_CITIES = [
    "1 Main St, London",
    "5 Rue de Rivoli, 75001 Paris",
    "Unter den Linden 1, Berlin",
    "350 5th Ave, New York",
    "221B Baker St, London",
]
_WORDS = [
    "please",
    "call",
    "me",
    "back",
    "about",
    "pricing",
    "for",
    "our",
    "team",
    "the",
    "integration",
    "works",
    "well",
    "but",
    "we",
    "need",
    "help",
    "with",
    "exports",
]


def _luhn_digit(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        n = int(char)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return str((10 - total % 10) % 10)


def _card(rng: random.Random) -> dict[str, str]:
    prefix = rng.choice(["4", "51", "52", "55"])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(15 - len(prefix)))
    number = body + _luhn_digit(body)
    expiry = date.today() + timedelta(days=rng.randint(200, 1400))
    return {
        "number": " ".join(number[i : i + 4] for i in range(0, 16, 4)),
        "expiry": expiry.strftime("%m/%y"),
    }


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first.lower()}.{last.lower().replace('-', '')}@{rng.choice(_DOMAINS)}"
    return f"{first} {last}", email


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _contact(rng: random.Random) -> dict[str, Any]:
    name, email = _person(rng)
    answer: dict[str, Any] = {
        "name": name,
        "email": email,
        "topic": rng.choice(["sales", "support", "partnership", "other"]),
        "message": _sentence(rng, rng.randint(6, 30)),
    }
    if rng.random() < 0.7:
        answer["phone"] = f"({rng.randint(201, 989)}) 555-{rng.randint(100, 9999):04d}"
    return answer


def _job(rng: random.Random) -> dict[str, Any]:
    name, email = _person(rng)
    answer: dict[str, Any] = {
        "fullName": name,
        "email": email,
        "position": rng.choice(["engineer", "designer", "product-manager", "support"]),
        "yearsExperience": rng.randint(0, 30),
        "startDate": (date.today() + timedelta(days=rng.randint(14, 120))).isoformat(),
        "address": rng.choice(_CITIES),
        "coverLetter": _sentence(rng, rng.randint(10, 40)),
        "resume": {
            "name": f"{name.split()[1].lower()}-cv.pdf",
            "size": rng.randint(40_000, 900_000),
            "contentType": "application/pdf",
        },
    }
    if rng.random() < 0.8:
        answer["phone"] = f"020 7946 {rng.randint(0, 9999):04d}"
    return answer


def _expense(rng: random.Random) -> dict[str, Any]:
    name, email = _person(rng)
    answer: dict[str, Any] = {
        "employee": name,
        "email": email,
        "amount": round(rng.choice([rng.uniform(5, 100), rng.uniform(100, 3000)]), 2),
        "currency": rng.choice(["USD", "EUR", "GBP"]),
        "category": rng.choice(["travel", "meals", "equipment", "training", "other"]),
        "date": (date.today() - timedelta(days=rng.randint(0, 60))).isoformat(),
        "description": _sentence(rng, rng.randint(3, 12)),
    }
    if rng.random() < 0.5:
        answer["card"] = _card(rng)
    return answer


_MAKERS = {"contact": _contact, "job-application": _job, "expense-claim": _expense}


def _spoil(rng: random.Random, answer: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """An answer that breaks one rule of the form (a required field or an e-mail)."""
    bad = dict(answer)
    required = [f["name"] for f in form["fields"] if f.get("required")]
    if rng.random() < 0.5:
        bad.pop(rng.choice(required), None)
    else:
        bad["email"] = "not-an-address"
    return bad


def synthetic(
    form_id: str, n: int, seed: int = 0, *, invalid_rate: float = 0.0
) -> Iterator[dict[str, Any]]:
    """``n`` answers for sample form ``form_id``, the same for the same seed."""
    maker = _MAKERS.get(form_id)
    if maker is None:
        raise KeyError(f"no generator for form {form_id!r}; samples: {', '.join(_MAKERS)}")
    rng = random.Random(seed)
    for _ in range(n):
        answer = maker(rng)
        if invalid_rate and rng.random() < invalid_rate:
            answer = _spoil(rng, answer, SAMPLE_FORMS[form_id])
        yield answer
