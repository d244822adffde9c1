"""The gate commands a gone server left without an outcome, closed by a server that
lives on.

A server closes at its start the commands its previous run left open (``AuditLog.start``);
a server that dies and never starts again would leave them open for ever. So the one
server that finds it gone (``Servers.on_gone``) closes them as its start would have:
each as ``timeout``, the same ledger entry, once (the store checks, in the transaction
that writes, that no outcome and no new start of that server came first).

It waits first: the commands that server recorded up to the moment it was found gone
are closed only once the centre's command timeout (and a margin) has passed since. A
server that was not dead but cut off from Redis goes on running its commands meanwhile,
and ends each by its deadline with its own outcome, which the store then finds: its
outcome stands, and nothing is closed under it. Only a command whose outcome it could
not record by then (its store was cut off too) is closed as ``timeout``; should it
record one later, the ledger shows both, the close first, and the lane's answer is not
lost. The commands it records after it was found gone are its own to close: when it is
back on Redis it counts as alive again, and if it dies later it is found gone again.
"""

from __future__ import annotations

import asyncio
import logging

from ..audit import AuditLog
from ..errors import StoreError
from .servers import ServerInfo, Servers

log = logging.getLogger("seat.cluster")

# Past the command timeout: a ledger write and the two servers' clocks' drift.
MARGIN_S = 2.0


class Stranded:
    def __init__(self, servers: Servers, audit: AuditLog, command_timeout_s: float) -> None:
        self.audit = audit
        self.wait_s = command_timeout_s + MARGIN_S
        servers.on_gone(self._gone)

    async def _gone(self, info: ServerInfo) -> None:
        if info.name == self.audit.server:
            # A run of this server's own name: its previous one, whose requests this
            # run's start closed (two live servers never share a name).
            return
        upto = await self.audit.store.audit_count()
        log.info("cluster.stranded.waiting server=%s name=%s upto=%d", info.server, info.name, upto)
        # Until every command that server may still be running has passed its deadline:
        # a point in time, which no message announces.
        await asyncio.sleep(self.wait_s)
        try:
            closed = await self.audit.close_stranded(info.name, info.started, upto)
        except StoreError as exc:  # its next start closes them
            log.error(
                "cluster.stranded.unclosed server=%s code=%s detail=%s",
                info.server,
                exc.code,
                exc.detail,
            )
            return
        log.warning(
            "cluster.stranded.closed server=%s name=%s closed=%d",
            info.server,
            info.name,
            len(closed),
        )
