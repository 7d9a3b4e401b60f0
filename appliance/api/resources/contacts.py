"""Contacts (the built-in CRM): who a caller is, found by the agent's lookup_caller tool by phone number.

Phone numbers are stored compact (`+4930 123-45` → `+493012345`) so the lookup by caller ID matches, and a
number belongs to one contact per organization.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from appliance.api.resources import UtcDatetime
from appliance.errors import Conflict
from appliance.store.models import Contact
from appliance.store.repositories import TenantRepo

_SEPARATORS = re.compile(r"[\s()./-]")


def compact_phone(value: str | None) -> str | None:
    if value is None:
        return None
    compact = _SEPARATORS.sub("", value)
    if compact and not re.fullmatch(r"\+?[0-9]{3,20}", compact):
        raise ValueError("a phone number is digits with an optional leading + (spaces, dashes, dots allowed)")
    return compact


class ContactChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: EmailStr | None = None
    notes: str | None = Field(None, max_length=10_000)
    external_ref: str | None = Field(None, max_length=200, description="the contact's id in an external CRM")

    _phone = field_validator("phone")(compact_phone)


class ContactCreate(ContactChanges):
    name: str = Field(min_length=1, max_length=200)


class ContactOut(BaseModel):
    id: int
    name: str
    phone: str
    email: str
    notes: str
    external_ref: str
    created_at: UtcDatetime


def contact_out(row: Contact) -> ContactOut:
    return ContactOut(id=row.id, name=row.name, phone=row.phone, email=row.email, notes=row.notes,
                      external_ref=row.external_ref, created_at=row.created_at)


def _phone_taken(session: Session, org_id: int, phone: str, other_than: int | None) -> int | None:
    if not phone:
        return None
    stmt = select(Contact.id).where(Contact.organization_id == org_id, Contact.phone == phone)
    if other_than is not None:
        stmt = stmt.where(Contact.id != other_than)
    with session.no_autoflush:
        return session.scalars(stmt.limit(1)).first()


def list_contacts(session: Session, org_id: int, *, q: str | None = None, limit: int = 100,
                  offset: int = 0) -> list[Contact]:
    criteria: list[Any] = []
    if q:
        needle = f"%{q.lower().replace('%', '').replace('_', '')}%"
        criteria.append(or_(func.lower(Contact.name).like(needle), Contact.phone.like(needle),
                            func.lower(Contact.email).like(needle)))
    return list(TenantRepo(session, Contact, org_id).find(*criteria, order_by=Contact.name, limit=limit,
                                                          offset=offset))


def get_contact(session: Session, org_id: int, contact_id: int) -> Contact:
    return TenantRepo(session, Contact, org_id).get(contact_id)


def create_contact(session: Session, org_id: int, body: ContactCreate) -> Contact:
    phone = body.phone or ""
    if (existing := _phone_taken(session, org_id, phone, None)) is not None:
        raise Conflict(f"contact {existing} has this phone number")
    return TenantRepo(session, Contact, org_id).add(
        name=body.name, phone=phone, email=str(body.email or ""), notes=body.notes or "",
        external_ref=body.external_ref or "")


def update_contact(session: Session, org_id: int, contact_id: int,
                   changes: ContactChanges) -> tuple[Contact, list[str]]:
    row = get_contact(session, org_id, contact_id)
    fields = {k: v for k, v in changes.model_dump(exclude_unset=True).items() if v is not None}
    if "phone" in fields and (existing := _phone_taken(session, org_id, fields["phone"], contact_id)) is not None:
        raise Conflict(f"contact {existing} has this phone number")
    for key, value in fields.items():
        setattr(row, key, str(value))
    return row, sorted(fields)


def delete_contact(session: Session, org_id: int, contact_id: int) -> None:
    TenantRepo(session, Contact, org_id).delete(contact_id)
