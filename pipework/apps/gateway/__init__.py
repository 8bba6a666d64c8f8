"""``pipework gateway CONFIG.yaml``: listeners, routes, upstreams and policies from a YAML file.

The gateway is a script like any other, written with the public script API only (``import
pipework as pw``): :mod:`.config` reads the file and makes the upstreams, routers and layouts a
user would write by hand. docs/gateway.md is the file's reference, each feature with the nginx
configuration that does the same.
"""

from .config import Gateway, declare, load

__all__ = ["Gateway", "declare", "load"]
