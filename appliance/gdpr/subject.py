"""Whose data: a data subject (a phone number, or a contact and its number) and every row that is about them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from appliance.errors import VocalIQError
from appliance.logs import mask_number
from appliance.store.models import (
    Appointment,
    Call,
    CallEventRow,
    Contact,
    Message,
    Recording,
    Turn,
    WebhookDelivery,
)
from appliance.store.repositories import TenantRepo

MIN_DIGITS = 6  # shorter "numbers" (extensions) would match far too much free text


class InvalidSubject(VocalIQError):
    """Neither a usable phone number nor a contact was given."""

    exit_code = 2


def phone_variants(number: str) -> tuple[str, ...]:
    """The spellings one number is stored under: as given, E.164, digits only, 00-prefixed, national."""
    raw = number.strip()
    compact = re.sub(r"[\s\-./()]", "", raw)
    digits = re.sub(r"\D", "", compact)
    if len(digits) < MIN_DIGITS:
        raise InvalidSubject(f"not a phone number: {mask_number(raw)!r} (need at least {MIN_DIGITS} digits)")
    out = [raw, compact, digits]
    if compact.startswith("+"):
        out += ["00" + digits]
    elif compact.startswith("00"):
        out += ["+" + digits[2:], digits[2:]]
    try:
        parsed = phonenumbers.parse(compact if compact.startswith("+") else "+" + digits.removeprefix("00"))
        out += [phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
                re.sub(r"\D", "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))]
    except phonenumbers.NumberParseException:
        pass
    return tuple(v for v in dict.fromkeys(out) if len(re.sub(r"\D", "", v)) >= MIN_DIGITS)


@dataclass(frozen=True, slots=True)
class Subject:
    organization_id: int
    phones: tuple[str, ...]
    contact_ids: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        """For audit entries and logs: never the full number."""
        canonical = next((p for p in self.phones if p.startswith("+") and p[1:].isdigit()), None)
        shown = mask_number(canonical or self.phones[0]) if self.phones else ""
        contacts = ",".join(str(c) for c in self.contact_ids)
        return "; ".join(p for p in (f"phone:{shown}" if shown else "", f"contact:{contacts}" if contacts else "") if p)


def resolve(session: Session, organization_id: int, *, phone: str | None = None,
            contact_id: int | None = None) -> Subject:
    """The subject for a phone number and/or a contact of this organization (its number is included)."""
    if not phone and contact_id is None:
        raise InvalidSubject("give a phone number or a contact id")
    phones: list[str] = list(phone_variants(phone)) if phone else []
    contact_ids: list[int] = []
    if contact_id is not None:
        contact = TenantRepo(session, Contact, organization_id).get(contact_id)
        contact_ids.append(contact.id)
        if contact.phone:
            phones += [v for v in phone_variants(contact.phone) if v not in phones]
    if phones:
        more = session.scalars(select(Contact.id).where(Contact.organization_id == organization_id,
                                                        Contact.phone.in_(phones))).all()
        contact_ids += [c for c in more if c not in contact_ids]
    return Subject(organization_id, tuple(phones), tuple(contact_ids))


@dataclass(slots=True)
class Footprint:
    """Every stored row about one subject, in one organization."""

    calls: list[Call] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    events: list[CallEventRow] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    deliveries: list[WebhookDelivery] = field(default_factory=list)

    @property
    def call_ids(self) -> list[str]:
        return [c.id for c in self.calls]

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("calls", "turns", "events", "recordings", "appointments", "messages", "contacts", "deliveries")}


def collect(session: Session, subject: Subject) -> Footprint:
    """Calls from or to the number, everything hanging off them, and the back-office rows naming the subject."""
    org, phones = subject.organization_id, list(subject.phones)
    fp = Footprint()
    fp.calls = list(session.scalars(select(Call).where(
        Call.organization_id == org, or_(Call.caller.in_(phones), Call.callee.in_(phones)))
        .order_by(Call.started_at))) if phones else []
    ids = fp.call_ids
    if ids:
        fp.turns = list(session.scalars(select(Turn).where(Turn.organization_id == org, Turn.call_id.in_(ids))
                                        .order_by(Turn.call_id, Turn.index)))
        fp.events = list(session.scalars(select(CallEventRow).where(CallEventRow.organization_id == org,
                                                                    CallEventRow.call_id.in_(ids))
                                         .order_by(CallEventRow.id)))
        fp.recordings = list(session.scalars(select(Recording).where(Recording.organization_id == org,
                                                                     Recording.call_id.in_(ids))))
    fp.appointments = list(session.scalars(select(Appointment).where(Appointment.organization_id == org, or_(
        Appointment.phone.in_(phones), Appointment.call_id.in_(ids), Appointment.contact_id.in_(subject.contact_ids)))
        .order_by(Appointment.starts_at)))
    fp.messages = list(session.scalars(select(Message).where(Message.organization_id == org, or_(
        Message.phone.in_(phones), Message.call_id.in_(ids))).order_by(Message.id)))
    fp.contacts = list(session.scalars(select(Contact).where(Contact.organization_id == org, or_(
        Contact.phone.in_(phones), Contact.id.in_(subject.contact_ids))).order_by(Contact.id)))
    fp.deliveries = [d for d in session.scalars(select(WebhookDelivery).where(WebhookDelivery.organization_id == org)
                                                .order_by(WebhookDelivery.id))
                     if mentions(d.payload, phones, ids)]
    return fp


def mentions(payload: object, phones: list[str], call_ids: list[str]) -> bool:
    """A webhook payload that names the subject's number or one of their calls."""
    text = json.dumps(payload, default=str)
    return any(p in text for p in phones) or any(f'"{c}"' in text for c in call_ids)


def inside(path: str, root: Path) -> Path | None:
    """`path` if it lies under `root` (a recording row never makes us read or delete a file elsewhere)."""
    resolved = Path(path).resolve()
    return resolved if resolved.is_relative_to(root.resolve()) else None
