"""Repositories: every tenant-owned query goes through one that requires an organization id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from appliance.errors import NotFound
from appliance.store.models import AuditEntry, Base, TenantMixin

T = TypeVar("T", bound=Base)


class TenantRepo(Generic[T]):
    """Queries on one tenant-owned table, always scoped to `organization_id`.

    An object of another organization is reported exactly like a missing one (NotFound), so ids from another
    tenant reveal nothing.
    """

    def __init__(self, session: Session, model: type[T], organization_id: int) -> None:
        if not issubclass(model, TenantMixin):
            raise TypeError(f"{model.__name__} is not tenant-owned")
        if not isinstance(organization_id, int):
            raise TypeError("organization_id is required for tenant-owned queries")
        self.session: Session = session
        self.model: type[T] = model
        self.organization_id: int = organization_id

    def _scoped(self) -> Select[T]:
        return select(self.model).where(self.model.organization_id == self.organization_id)  # type: ignore[attr-defined,return-value]

    def get(self, obj_id: Any) -> T:
        obj = self.session.get(self.model, obj_id)
        if obj is None or obj.organization_id != self.organization_id:  # type: ignore[attr-defined]
            raise NotFound(f"{self.model.__tablename__} {obj_id} not found")
        return obj

    def find(self, *criteria: Any, order_by: Any = None, limit: int | None = None, offset: int = 0) -> Sequence[T]:
        stmt = self._scoped().where(*criteria)
        if order_by is not None:
            stmt = stmt.order_by(order_by)
        stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self.session.scalars(stmt).all()

    def first(self, *criteria: Any) -> T | None:
        return self.session.scalars(self._scoped().where(*criteria).limit(1)).first()

    def add(self, **fields: Any) -> T:
        obj: T = self.model(organization_id=self.organization_id, **fields)
        self.session.add(obj)
        self.session.flush()
        return obj

    def delete(self, obj_id: Any) -> None:
        self.session.delete(self.get(obj_id))
        self.session.flush()


def _entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    body = json.dumps(
        [prev_hash, entry.organization_id, entry.actor, entry.action, entry.target, entry.detail,
         entry.ts.replace(tzinfo=None).isoformat(timespec="microseconds")],
        sort_keys=True, default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


class AuditLog:
    """Append-only audit trail; each entry's hash covers its content and its predecessor's hash."""

    def __init__(self, session: Session) -> None:
        self.session: Session = session

    def append(self, action: str, *, actor: str = "system", target: str = "",
               organization_id: int | None = None, detail: dict[str, Any] | None = None) -> AuditEntry:
        last = self.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
        prev = last.hash if last else ""
        entry = AuditEntry(organization_id=organization_id, actor=actor, action=action, target=target,
                           detail=detail or {}, prev_hash=prev)
        from appliance.store.models import utcnow

        entry.ts = utcnow()
        entry.hash = _entry_hash(prev, entry)
        self.session.add(entry)
        self.session.flush()
        return entry

    def verify(self) -> tuple[bool, int | None]:
        """(True, None) if the chain is intact, else (False, id of the first entry that does not match)."""
        prev = ""
        for entry in self.session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
            if entry.prev_hash != prev or entry.hash != _entry_hash(prev, entry):
                return False, entry.id
            prev = entry.hash
        return True, None
