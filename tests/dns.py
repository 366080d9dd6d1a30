# SPDX-License-Identifier: Apache-2.0
"""A DNS responder on loopback for tests: TXT answers from a dict, and faults on demand.

It answers over UDP with dnspython's message module, counts the queries it
gets per name, and can stay silent (the client times out) or answer SERVFAIL.
"""

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 300


@dataclass
class Responder(asyncio.DatagramProtocol):
    """TXT records by name ('_dmarc.example.org' -> its strings); other names are NXDOMAIN."""

    records: dict[str, list[str]] = field(default_factory=dict)
    silent: bool = False  # drop every query: the resolver times out
    servfail: bool = False
    queries: Counter[str] = field(default_factory=Counter)
    port: int = 0
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        name = query.question[0].name.to_text(omit_final_dot=True).lower()
        self.queries[name] += 1
        if self.silent or self.transport is None:
            return
        self.transport.sendto(self._answer(query, name).to_wire(), addr)

    def _answer(self, query: dns.message.Message, name: str) -> dns.message.Message:
        response = dns.message.make_response(query)
        if self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif query.question[0].rdtype == dns.rdatatype.TXT:
            quoted = [" ".join(_quoted(text[start:start + 255])
                               for start in range(0, max(len(text), 1), 255))
                      for text in self.records[name]]
            response.answer.append(dns.rrset.from_text_list(
                query.question[0].name, TTL, dns.rdataclass.IN, dns.rdatatype.TXT, quoted))
        return response

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def start_responder(records: dict[str, list[str]] | None = None) -> Responder:
    """A responder listening on 127.0.0.1 on a free UDP port."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: Responder(dict(records or {})), local_addr=("127.0.0.1", 0))
    assert protocol.transport is not None
    protocol.port = protocol.transport.get_extra_info("sockname")[1]
    return protocol


def start_background_responder() -> Responder:
    """An empty responder (every name NXDOMAIN) on a thread of its own, for the whole run.

    Processes and event loops of any test can ask it, so no test depends on
    the machine's resolver or the internet.
    """
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="dns-responder", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(start_responder(), loop).result(timeout=10)
