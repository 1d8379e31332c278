"""Shared by the stem side of the benchmark: connect the idiomatic stem way, time the work in-process."""
import json
import sys
import time

from stem.control import Controller


def controller(address):
    """unix:PATH or tcp:HOST:PORT, authenticated (cookie found through PROTOCOLINFO, as stem does)."""
    if address.startswith('unix:'):
        c = Controller.from_socket_file(address[len('unix:'):])
    else:
        host, port = address[len('tcp:'):].rsplit(':', 1)
        c = Controller.from_port(address=host, port=int(port))
    c.authenticate()
    return c


def timed(work):
    """Run work(), print {"total": ms} on stdout: the in-process time, connection and authentication included."""
    t = time.perf_counter()
    extra = work() or {}
    print(json.dumps(dict(total=(time.perf_counter() - t) * 1000, **extra)))
    sys.stdout.flush()
