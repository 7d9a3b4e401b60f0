"""Contacts of the caller's organization (the built-in CRM; external CRMs come later). Audit entries name the
contact by id only: names and numbers are personal data and stay out of the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from appliance.api.deps import Principal, audit, get_session, require
from appliance.api.resources import contacts as svc

router = APIRouter(prefix="/contacts", tags=["crm"])
Reader = Annotated[Principal, Depends(require("content:read"))]
Writer = Annotated[Principal, Depends(require("content:write"))]
Db = Annotated[Session, Depends(get_session, scope="function")]


@router.get("")
def list_contacts(principal: Reader, session: Db,
                  q: Annotated[str | None, Query(max_length=100, description="part of name, phone or email")] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[svc.ContactOut]:
    return [svc.contact_out(r) for r in svc.list_contacts(session, principal.org_id, q=q, limit=limit,
                                                          offset=offset)]


@router.post("", status_code=201, responses={409: {}})
def create_contact(body: svc.ContactCreate, principal: Writer, session: Db) -> svc.ContactOut:
    row = svc.create_contact(session, principal.org_id, body)
    audit(session, principal, "contact.create", f"contact:{row.id}")
    return svc.contact_out(row)


@router.get("/{contact_id}", responses={404: {}})
def get_contact(contact_id: int, principal: Reader, session: Db) -> svc.ContactOut:
    return svc.contact_out(svc.get_contact(session, principal.org_id, contact_id))


@router.patch("/{contact_id}", responses={404: {}, 409: {}})
def update_contact(contact_id: int, body: svc.ContactChanges, principal: Writer, session: Db) -> svc.ContactOut:
    row, changed = svc.update_contact(session, principal.org_id, contact_id, body)
    audit(session, principal, "contact.update", f"contact:{contact_id}", {"fields": changed})
    return svc.contact_out(row)


@router.delete("/{contact_id}", status_code=204, responses={404: {}})
def delete_contact(contact_id: int, principal: Writer, session: Db) -> None:
    svc.delete_contact(session, principal.org_id, contact_id)
    audit(session, principal, "contact.delete", f"contact:{contact_id}")
