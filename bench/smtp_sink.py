"""An SMTP server that takes mail and counts it, for bench/outbox.sh (Debian python3-aiosmtpd).

    smtp_sink.py serve PORT COUNT     take COUNT messages on 127.0.0.1:PORT, then print
                                      "COUNT messages in S s" (first to last) and exit
    smtp_sink.py client PORT COUNT    send COUNT messages of a campaign's size to PORT with
                                      smtplib over one connection: the server's own ceiling
"""

import smtplib
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self, count):
        self.count = count
        self.seen = 0
        self.first = None
        self.last = None
        self.done = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.seen += 1
        if self.seen >= self.count:
            self.done.set()
        return "250 2.0.0 queued"


def serve(port, count):
    counter = Counter(count)
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    counter.done.wait()
    controller.stop()
    span = counter.last - counter.first
    print(f"{count} messages in {span:.2f} s: {count / span if span else 0:.0f} messages/s", flush=True)


def client(port, count):
    body = ("From: news@shop.example\r\nTo: m@bench.example\r\nSubject: Hello Member1\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
            + "You have 120 points. Leave: http://localhost:8080/u/u1.1.abcdefghijklmnopqrstuv\r\n" * 20)
    start = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            smtp.sendmail("news@shop.example", [f"m{n}@bench.example"], body)
    span = time.monotonic() - start
    print(f"{count} messages in {span:.2f} s: {count / span:.0f} messages/s", flush=True)


if __name__ == "__main__":
    mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    (serve if mode == "serve" else client)(port, count)
