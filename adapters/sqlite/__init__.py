"""SQLite storage: the campaign registry and the report view (materialised from topics)."""

from adapters.sqlite.campaigns import CampaignStore
from adapters.sqlite.db import SqliteDb
from adapters.sqlite.reports import Counts, ReportStore, TimeRange, Totals

__all__ = ["CampaignStore", "Counts", "ReportStore", "SqliteDb", "TimeRange", "Totals"]
