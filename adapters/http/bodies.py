"""Request bodies of the seed API, as pydantic models (they also feed /openapi.json).

Bodies ignore fields they do not know (the seeds' objects carry many we do not act on, and
a client round-trips GET output into PUT). Every string and list is bounded.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from proto import messages as m

Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_PARAM_CHARS = 1024


def _scalar(value: Any) -> Any:
    """A template value: string, number, boolean or null (the script reads it aloud)."""
    if isinstance(value, str):
        if len(value) > MAX_PARAM_CHARS:
            raise ValueError(f"String length must be less than or equal to {MAX_PARAM_CHARS}")
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ValueError("Invalid type. Expected: string, number, boolean or null")


Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"],
                    "maxLength": MAX_PARAM_CHARS}),
]
Params = Annotated[dict[Key, Scalar], Field(max_length=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- seed 000 --------------------------------------------------------------------------
class ImportBody(_Body):
    """POST /v3/autocall/import. The list/lead fields are this project's extension (they
    show in the lead report)."""

    campaign_uuid: m.Id
    phone_number: m.RawPhone
    param: Params
    list_uuid: m.ShortText = ""
    list_name: m.ShortText = ""
    lead_name: m.ShortText = ""
    lead_code: m.ShortText = ""
    contract_number: m.ShortText = ""


# ---- seed 001 --------------------------------------------------------------------------
CampaignType = Literal["autodialer", "autocall", "inbound", "manual"]


class CampaignBody(m.CampaignSpec):
    """POST /v3/campaign and PUT /v3/campaign/{uuid}: the seed 001 campaign object.

    campaign_uuid comes from the path (PUT) or is generated (POST); queue_code, created_at
    and updated_at are the server's. The engine's own settings (template_text, audio_file,
    min_recall_duration, time_zone, caller_id, policy, callback_format) are accepted too.
    """

    campaign_uuid: m.ShortText = ""
    type: CampaignType


class ActiveBody(_Body):
    active: StrictBool


# ---- seed 002 --------------------------------------------------------------------------
QueueCode = Annotated[str, StringConstraints(min_length=1, max_length=128)]
CUSTOMERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 10_000,
    "items": {
        "type": "object",
        "required": ["id", "mobiles"],
        "properties": {
            "id": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 128},
                             {"type": "integer"}]},
            "mobiles": {"type": "array", "minItems": 1, "maxItems": 10,
                        "items": {"type": "string", "minLength": 1, "maxLength": 32}},
        },
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    },
}


class QueueBody(_Body):
    """POST /v2/autocall/queue. Customers are validated one by one (a bad one is listed in
    ``fail``, the others are imported), so here they are only bounded."""

    queue_code: QueueCode
    template: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    concurrent_call: Annotated[int, Field(ge=1, le=10_000)] | None = None
    max_recall_count: Annotated[int, Field(ge=0, le=100)] | None = None
    min_recall_duration: Annotated[int, Field(ge=0, le=86_400)] | None = None
    customers: Annotated[
        list[dict[str, Any]], Field(max_length=10_000), WithJsonSchema(CUSTOMERS_SCHEMA)
    ] = []


class Customer(BaseModel):
    """One seed 002 customer: id, mobiles, and any other field (→ the lead's params)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | int
    mobiles: Annotated[list[m.RawPhone], Field(min_length=1, max_length=10)]


class CustomerRef(_Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | int


class QueueDncBody(_Body):
    queue_code: QueueCode
    customers: Annotated[list[CustomerRef], Field(max_length=10_000)]


class QueueRefBody(_Body):
    queue_code: QueueCode


# ---- seed 003 --------------------------------------------------------------------------
VbotId = Annotated[str, StringConstraints(min_length=1, max_length=128)] | int


class VbotField(_Body):
    key: Key
    value: Scalar = None


class VbotPhone(_Body):
    fields: Annotated[list[VbotField], Field(min_length=1, max_length=100)]


class VbotCreateBody(_Body):
    """POST /api/campaign/create: clone a template campaign, load its phones, run it.

    The seed spells three fields one way in its example (vbotId, groupCode, campaignId)
    and another in its request table (vbot_id, project_code, campaignID): both are taken.
    """

    vbotId: VbotId = Field(validation_alias=AliasChoices("vbotId", "vbot_id"))
    groupCode: VbotId = Field(validation_alias=AliasChoices("groupCode", "project_code"))
    campaignId: VbotId = Field(validation_alias=AliasChoices("campaignId", "campaignID"))
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    phones: Annotated[list[VbotPhone], Field(min_length=1, max_length=10_000)]
