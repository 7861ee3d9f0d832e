"""The project's exception tree: one root, behaviour as class attributes."""

from __future__ import annotations


class DialerError(Exception):
    """Root of every error this project raises on purpose."""

    retriable: bool = False


class InvalidTransition(DialerError):
    """A state machine was asked for a transition its table does not allow."""


class UnknownCampaign(DialerError):
    """A command named a campaign the engine does not own."""


class CampaignConflict(DialerError):
    """The command is valid but the campaign's current state forbids it."""


class UnsafeDialValue(DialerError):
    """A value bound for a switch command failed validation (injection guard)."""


class CallControlError(DialerError):
    """The switch refused or failed a command."""

    retriable = True


class NotConnected(CallControlError):
    """No live connection to the switch: the command was not sent."""


class CommandTimeout(CallControlError):
    """The switch did not answer a command within its deadline."""
