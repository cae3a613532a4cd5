"""A real SMTP server for the browser tests: aiosmtpd on 127.0.0.1, writing
each message it accepts to DIR/NNNN.eml, so a test in another language reads
the mail (a portal sign-in link) the way a member would.

Usage: /usr/bin/python3 smtp_sink.py DIR PORTFILE  (writes the port to PORTFILE, runs until killed)
"""
import itertools
import os
import signal
import socket
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = next(self.count)
        path = os.path.join(self.folder, f"{n:04d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Rcpt-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)  # whole files only: readers never see half a message
        return "250 2.0.0 queued"


def main():
    folder, port_file = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    with socket.socket() as s:  # an ephemeral port, free now (the controller checks its port by connecting)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
