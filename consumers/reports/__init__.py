"""Materialised views over the topics: the report aggregator and the campaign registry."""

from consumers.reports.aggregator import ReportAggregator
from consumers.reports.campaigns import CallbackTarget, CampaignView
from consumers.reports.view import PublishFailed, ViewRunner

__all__ = ["CallbackTarget", "CampaignView", "PublishFailed", "ReportAggregator", "ViewRunner"]
