"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, an ephemeral port.

It keeps every message it accepts (envelope sender and recipients, the raw
bytes as received, after SMTP's dot-unstuffing, and the number of the
connection it came on), and can refuse chosen recipients with a chosen reply
("550 5.1.1 no such user", "451 4.3.0 try later"). Thread-safe: the server
runs in its own thread and the tests read from theirs.
"""

import itertools
import socket
import threading
import time

from aiosmtpd.controller import Controller


class Envelope:
    def __init__(self, mail_from, rcpt_tos, data, connection):
        self.received_at = time.monotonic()  # when it arrived (the send rate is measured on it)
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.data = data  # bytes
        self.connection = connection  # 1, 2, ...: which SMTP connection carried it


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        reply = self.server.refusals.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        with self.server.lock:
            number = getattr(session, "test_connection_number", None)
            if number is None:
                number = session.test_connection_number = next(self.server.counter)
            self.server.envelopes.append(Envelope(envelope.mail_from, list(envelope.rcpt_tos),
                                                  bytes(envelope.original_content or envelope.content),
                                                  number))
            self.server.arrived.notify_all()
        return "250 2.0.0 queued"


class SmtpServer:
    """start() / stop(); envelopes; refuse(address, reply); wait_for(n)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.envelopes = []
        self.refusals = {}
        self.counter = itertools.count(1)
        self._controller = None
        self.port = None

    def start(self):
        with socket.socket() as s:  # an ephemeral port, free now
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        handler = _Handler(self)
        self._controller = Controller(handler, hostname="127.0.0.1", port=self.port, decode_data=False)
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def refuse(self, address, reply):
        """Answers RCPT TO:<address> with reply (e.g. '550 5.1.1 no such user')."""
        with self.lock:
            self.refusals[address.lower()] = reply

    def messages(self):
        with self.lock:
            return list(self.envelopes)

    def clear(self):
        with self.lock:
            self.envelopes.clear()

    def wait_for(self, count, timeout_s=10):
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while len(self.envelopes) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
            return list(self.envelopes)

