"""Typed commands the engine accepts (decoded from the input topics or the HTTP API)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.model import Campaign, CampaignStatus, LeadInput


@dataclass(frozen=True, slots=True)
class UpsertCampaign:
    campaign: Campaign


@dataclass(frozen=True, slots=True)
class SetStatus:
    campaign_uuid: str
    status: CampaignStatus


@dataclass(frozen=True, slots=True)
class SetActive:
    campaign_uuid: str
    active: bool


@dataclass(frozen=True, slots=True)
class DeleteCampaign:
    campaign_uuid: str


@dataclass(frozen=True, slots=True)
class AddLead:
    lead: LeadInput


@dataclass(frozen=True, slots=True)
class Dnc:
    add: bool
    campaign_uuid: str
    customer_ids: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()


Command = UpsertCampaign | SetStatus | SetActive | DeleteCampaign | AddLead | Dnc
