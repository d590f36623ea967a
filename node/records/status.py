"""Record states the node keeps (never sent by a client)."""

from __future__ import annotations

from enum import StrEnum


class RegistrationStatus(StrEnum):
    ACTIVE = "Active"
    DEREGISTERED = "Deregistered"
    # the consumer revoked the consent it was registered under (UC-05.05); shown as
    # "Suspended – Consent Revoked" (ontology/fmar.ttl code:RegistrationStatus)
    SUSPENDED_CONSENT_REVOKED = "SuspendedConsentRevoked"


class ValidationStatus(StrEnum):
    PENDING = "Pending"
    VERIFIED = "Verified"
    QUERY = "Query"


class Action(StrEnum):
    """What a write does: the audit entry's `fmar:action` and a column of the policy table."""

    REGISTER = "register"
    UPDATE = "update"
    PATCH = "patch"
    SET_VALIDATION_STATUS = "set-validation-status"
    DISPUTE_STATUS = "dispute-status"  # a verified dispute notice (node/kinds/dispute_notices.py)
    DEREGISTER = "deregister"
    SUSPEND = "suspend"  # on a consent's revocation (node/kinds/consents.py)
    CREATE_CATEGORY = "create-category"
    UPDATE_CATEGORY = "update-category"
    DEPRECATE_CATEGORY = "deprecate-category"
    CREATE_LIMIT = "create-connection-limit"
    UPDATE_LIMIT = "update-connection-limit"
    DELETE_LIMIT = "delete-connection-limit"
    # switching (node/switching/): requests by people, steps by the nodes themselves
    REQUEST_SWITCH = "request-switch"
    OBJECT_SWITCH = "object-switch"
    WITHDRAW_SWITCH = "withdraw-switch"
    ADVANCE_SWITCH = "advance-switch"
    SWITCH_OUT = "switch-out"
    SWITCH_IN = "switch-in"
    TRANSFER_SWITCH = "transfer-switch"
