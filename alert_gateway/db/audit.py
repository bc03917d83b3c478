"""Who viewed or changed a resident's record, or revealed a key-safe code (APPI audit trail)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from .types import enum_field


class AuditAction(StrEnum):
    """What was done to a resident's record."""

    VIEW = "view"  # the resident page, the edit form, the API directory read
    LIST = "list"  # a directory listing or a sweep's list: which residents is not recorded
    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    CONTACT_CHANGE = "contact_change"
    DEVICE_CHANGE = "device_change"
    IMPORT = "import"
    REVEAL_KEY_CODE = "reveal_key_code"
    ERASE = "erase"
    EXPORT = "export"  # the audit log itself, or a sweep's list of residents, was exported


class AuditEntry(SQLModel, table=True):
    """One audited access. No foreign key: the trail outlives an erased resident's record."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=120)  # operator:<name>, api:<token name>, cli
    action: str = enum_field(length=24)
    resident_id: str | None = Field(default=None, max_length=64, index=True)
    detail: str = ""  # field names or counts, never a value
