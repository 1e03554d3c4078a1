"""advanced-validation: checks phone, credit-card and e-mail fields.

Two hooks, both in ``validate`` mode:

- ``form.validate`` checks the form *definition*: phone fields should say which country
  they expect, credit-card fields should list the card types they accept.
- ``submission.beforeValidate`` checks the *answers*: phone numbers are plausible
  E.164-style numbers, cards pass the Luhn check, are of an accepted type and not expired,
  and e-mail addresses are well formed and (for business forms) not from a consumer domain.

Card numbers never appear in messages; only their last four digits do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pliers_lab import HookContext, hook

Issue = dict[str, Any]
Field = dict[str, Any]

# --------------------------------------------------------------------------- phones


class Country(NamedTuple):
    """What we know about one country's numbering plan (deliberately small)."""

    calling_code: str
    trunk_prefix: str  # dropped from national numbers before adding the calling code
    nsn_lengths: tuple[int, int]  # national significant number, min and max digits
    mobile_prefixes: tuple[str, ...]  # NSN prefixes of mobile (non-fixed) lines


COUNTRIES: dict[str, Country] = {
    "US": Country("1", "1", (10, 10), ()),  # NANP does not tell mobile from fixed
    "CA": Country("1", "1", (10, 10), ()),
    "GB": Country("44", "0", (9, 10), ("7",)),
    "IE": Country("353", "0", (7, 9), ("8",)),
    "DE": Country("49", "0", (6, 13), ("15", "16", "17")),
    "FR": Country("33", "0", (9, 9), ("6", "7")),
    "NL": Country("31", "0", (9, 9), ("6",)),
    "ES": Country("34", "", (9, 9), ("6", "7")),
    "IT": Country("39", "", (6, 11), ("3",)),  # Italy keeps the leading 0 of fixed lines
    "AU": Country("61", "0", (9, 9), ("4",)),
    "IN": Country("91", "0", (10, 10), ("6", "7", "8", "9")),
    "JP": Country("81", "0", (9, 10), ("70", "80", "90")),
}
_BY_CALLING_CODE: dict[str, str] = {}
for _iso, _country in COUNTRIES.items():
    _BY_CALLING_CODE.setdefault(_country.calling_code, _iso)

_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
_NOT_DIGIT = re.compile(r"\D")
#: Words in a phone field's name or label that mark it as a business number.
BUSINESS_WORDS = ("business", "company", "office", "work")


class Phone(NamedTuple):
    e164: str
    country: str | None  # ISO code when the calling code is one we know
    nsn: str


def parse_phone(raw: str, default_country: str) -> Phone | str:
    """The number in E.164 form, or the reason it is not a plausible phone number."""
    text = raw.strip()
    if not _PHONE_CHARS.match(text):
        return "may contain only digits, spaces, '-', '.', '(', ')' and a leading '+'"
    digits = _NOT_DIGIT.sub("", text)
    if text.startswith("+") or digits.startswith("00"):
        return _international(digits if text.startswith("+") else digits[2:])
    country = COUNTRIES[default_country]
    prefix = country.trunk_prefix
    if prefix and digits.startswith(prefix) and len(digits) - len(prefix) >= country.nsn_lengths[0]:
        digits = digits[len(prefix) :]
    return _check_nsn(digits, default_country)


def _international(digits: str) -> Phone | str:
    for size in (3, 2, 1):  # calling codes are prefix-free, so the first match is the one
        iso = _BY_CALLING_CODE.get(digits[:size])
        if iso is not None:
            return _check_nsn(digits[size:], iso)
    if not 8 <= len(digits) <= 15:
        return "must have 8 to 15 digits including the country code"
    return Phone("+" + digits, None, digits)


def _check_nsn(nsn: str, iso: str) -> Phone | str:
    country = COUNTRIES[iso]
    low, high = country.nsn_lengths
    if not low <= len(nsn) <= high:
        span = f"{low}" if low == high else f"{low} to {high}"
        return f"a {iso} number needs {span} digits after the country code, got {len(nsn)}"
    if country.calling_code == "1" and nsn[0] in "01":
        return "a North American area code cannot start with 0 or 1"
    return Phone(f"+{country.calling_code}{nsn}", iso, nsn)


def is_mobile(phone: Phone) -> bool:
    """True when the number is a mobile line in a country whose plan tells us so."""
    prefixes = COUNTRIES[phone.country].mobile_prefixes if phone.country else ()
    return bool(prefixes) and phone.nsn.startswith(prefixes)


def is_business_field(field: Field) -> bool:
    words = f"{field.get('name', '')} {field.get('label', '')}".lower()
    return any(word in words for word in BUSINESS_WORDS)


# --------------------------------------------------------------------------- cards

CARD_TYPES = ("visa", "mastercard", "amex", "discover", "diners", "jcb")
_EXPIRY = re.compile(r"^(0[1-9]|1[0-2])/(\d{2})$")
_CARD_SEPARATORS = re.compile(r"[ -]")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum every payment card number carries."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def card_type(digits: str) -> str | None:
    """The card scheme from the IIN (first digits) and the length, or None."""
    n = len(digits)

    def prefix_in(low: int, high: int) -> bool:
        width = len(str(low))
        return n >= width and low <= int(digits[:width]) <= high

    if digits[:2] in ("34", "37") and n == 15:
        return "amex"
    if prefix_in(3528, 3589) and 16 <= n <= 19:
        return "jcb"
    if (prefix_in(300, 305) or digits[:2] in ("36", "38", "39")) and 14 <= n <= 19:
        return "diners"
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (prefix_in(51, 55) or prefix_in(2221, 2720)) and n == 16:
        return "mastercard"
    if (digits[:4] == "6011" or prefix_in(644, 649) or digits[:2] == "65") and 16 <= n <= 19:
        return "discover"
    return None


def mask(digits: str) -> str:
    """How a card is named in messages: never more than its last four digits."""
    return f"card ending in {digits[-4:]}" if len(digits) >= 4 else "card"


def months_left(expiry: str, now: datetime) -> int | None:
    """Whole months from this month to the expiry month (0 = expires this month)."""
    match = _EXPIRY.match(expiry.strip())
    if match is None:
        return None
    month, year = int(match.group(1)), 2000 + int(match.group(2))
    return (year * 12 + month) - (now.year * 12 + now.month)


# --------------------------------------------------------------------------- e-mail

# fmt: off
CONSUMER_DOMAINS = frozenset({
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com",
    "protonmail.com",
})
# fmt: on
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


# --------------------------------------------------------------------------- helpers


_CHECKED = ("phone", "email", "creditcard")
_TEXT_FORMATS = ("phone", "email")


def kind_of(field: Field) -> str | None:
    """'phone', 'email' or 'creditcard' for the fields this plugin checks."""
    ftype = field.get("type")
    if ftype in _CHECKED:
        return str(ftype)
    if ftype == "text" and field.get("format") in _TEXT_FORMATS:
        return str(field["format"])
    return None


def label(field: Field) -> str:
    return repr(field.get("label") or field.get("name") or field.get("id"))


def accepted_types(field: Field, config: dict[str, Any]) -> list[str]:
    """Types both the configuration and (when it lists any) the field accept."""
    allowed = list(config["acceptedCreditCardTypes"])
    listed = field.get("acceptedCardTypes")
    return [t for t in allowed if t in listed] if listed else allowed


class Report:
    """The errors and warnings of one hook call, in the shape of a validate hook."""

    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, field: Field, code: str, message: str) -> None:
        self.errors.append({"field": field.get("name"), "code": code, "message": message})

    def warn(self, field: Field, code: str, message: str) -> None:
        self.warnings.append({"field": field.get("name"), "code": code, "message": message})

    def result(self) -> dict[str, Any]:
        return {"valid": not self.errors, "errors": self.errors, "warnings": self.warnings}


# --------------------------------------------------------------------------- hooks


@hook("form.validate")
def check_form(ctx: HookContext) -> dict[str, Any]:
    """Check the definition of phone and credit-card fields."""
    report, configured = Report(), ctx.config["acceptedCreditCardTypes"]
    for field in ctx.data["form"].get("fields", []):
        kind, what = kind_of(field), f"{field.get('type')} field {label(field)}"
        if kind == "phone":
            code = field.get("countryCode")
            if not code:
                default = ctx.config["defaultCountryCode"]
                report.warn(
                    field,
                    "phone_country_code_missing",
                    f"{what} has no countryCode; numbers without a '+' prefix "
                    f"will be read as {default} numbers",
                )
            elif code not in COUNTRIES:
                report.error(
                    field,
                    "phone_country_code_unsupported",
                    f"{what} has countryCode {code!r}; supported: " + ", ".join(sorted(COUNTRIES)),
                )
        elif kind == "creditcard":
            listed = field.get("acceptedCardTypes") or []
            unknown = [t for t in listed if t not in CARD_TYPES]
            refused = [t for t in listed if t in CARD_TYPES and t not in configured]
            if not listed:
                report.warn(
                    field,
                    "card_types_missing",
                    f"{what} lists no acceptedCardTypes; the configured types "
                    f"({', '.join(configured)}) will apply",
                )
            if unknown:
                report.error(
                    field,
                    "card_type_unknown",
                    f"{what} lists unknown card types {unknown}; known: " + ", ".join(CARD_TYPES),
                )
            if refused:
                report.warn(
                    field,
                    "card_type_not_accepted",
                    f"{what} lists {', '.join(refused)}, which the plugin "
                    "configuration does not accept; such cards will be refused",
                )
    return report.result()


@hook("submission.beforeValidate")
async def check_submission(ctx: HookContext) -> dict[str, Any]:
    """Check the phone, card and e-mail answers of a submission."""
    form, submission = ctx.data["form"], ctx.data["submission"]
    answers = submission.get("data", {})
    config, now = ctx.config, None
    report = Report()
    for field in form.get("fields", []):
        ftype = field.get("type")  # ``kind_of``, inlined: it runs for every field
        if ftype not in _CHECKED:
            if ftype != "text" or field.get("format") not in _TEXT_FORMATS:
                continue
            ftype = field["format"]
        kind, value = ftype, answers.get(field.get("name"))
        if value is None or value == "":
            continue  # presence is the core validator's job (field.required)
        if kind == "phone":
            check_phone(report, field, value, config)
        elif kind == "creditcard":
            if now is None:  # only cards need the date
                now = datetime.fromtimestamp(ctx.timestamp, tz=UTC)
            check_card(report, field, value, config, now)
        else:
            check_email(report, field, value, config)
    if report.errors:
        fields = sorted({e["field"] for e in report.errors})
        ctx.logger.info("invalid answers", submission=submission.get("id"), fields=fields)
    return report.result()


def check_phone(report: Report, field: Field, value: Any, config: dict[str, Any]) -> None:
    if not isinstance(value, str):
        report.error(field, "phone_invalid", f"{label(field)} must be text")
        return
    country = field.get("countryCode")
    parsed = parse_phone(value, country if country in COUNTRIES else config["defaultCountryCode"])
    if isinstance(parsed, str):
        report.error(field, "phone_invalid", f"{label(field)} {parsed}")
    elif is_business_field(field) and is_mobile(parsed):
        report.warn(
            field,
            "phone_not_fixed_line",
            f"{label(field)} looks like a mobile number ({parsed.e164}); "
            "a fixed business line is expected",
        )


def check_card(
    report: Report, field: Field, value: Any, config: dict[str, Any], now: datetime
) -> None:
    what = label(field)
    if not isinstance(value, dict) or not isinstance(value.get("number"), str):
        report.error(field, "card_format", f"{what} must be an object {{number, expiry}}")
        return
    digits = _CARD_SEPARATORS.sub("", value["number"])
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        report.error(field, "card_number_invalid", f"{what}: a card number has 12 to 19 digits")
        return
    card = mask(digits)
    if not luhn_ok(digits):
        report.error(field, "card_checksum", f"{what}: {card} is not a valid card number")
        return
    scheme, allowed = card_type(digits), accepted_types(field, config)
    if scheme not in allowed:
        report.error(
            field,
            "card_type_not_accepted",
            f"{what}: {card} ({scheme or 'unknown type'}) is not accepted; "
            f"accepted: {', '.join(allowed) or 'none'}",
        )
    expiry = str(value.get("expiry", ""))
    left = months_left(expiry, now)
    if left is None:
        report.error(field, "card_expiry_invalid", f"{what}: expiry must be MM/YY")
    elif left < 0:
        report.error(field, "card_expired", f"{what}: {card} expired ({expiry})")
    elif left < 3:
        report.warn(field, "card_expiring", f"{what}: {card} expires soon ({expiry})")


def check_email(report: Report, field: Field, value: Any, config: dict[str, Any]) -> None:
    address = value.strip() if isinstance(value, str) else ""
    if not _EMAIL.match(address):
        report.error(field, "email_invalid", f"{label(field)} is not a valid e-mail address")
        return
    domain = address.rsplit("@", 1)[1].lower()
    if domain in CONSUMER_DOMAINS:
        strict = bool(config["strictBusinessEmail"])
        (report.error if strict else report.warn)(
            field,
            "email_consumer_domain",
            f"{label(field)} uses the consumer domain {domain}; a business address is "
            + ("required" if strict else "preferred"),
        )
