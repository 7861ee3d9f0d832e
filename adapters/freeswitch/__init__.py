"""FreeSWITCH over ESL with greenswitch: the engine's CallControl."""

from adapters.freeswitch.dialstring import DialPlan, originate_command
from adapters.freeswitch.switch import FreeSwitchPool, NodeConfig

__all__ = ["DialPlan", "FreeSwitchPool", "NodeConfig", "originate_command"]
