"""The I/O layer: listeners, inbound and outbound connections, UDP, timers, the event loop.

asyncio Protocols on uvloop when it is installed. This layer knows nothing of pipelines: owners
hand it handler objects (see :mod:`pipework.net.conn`).
"""

from .conn import Connection, Handler
from .errors import error_name
from .loop import loop_factory, run
from .outbound import Outbound
from .source_pool import SourcePool
from .tasks import spawn
from .tcp import TcpListener, join_address, split_address
from .udp import UdpListener, UdpOutbound, UdpSession

__all__ = [
    "Connection",
    "Handler",
    "Outbound",
    "SourcePool",
    "TcpListener",
    "UdpListener",
    "UdpOutbound",
    "UdpSession",
    "error_name",
    "join_address",
    "loop_factory",
    "run",
    "spawn",
    "split_address",
]
