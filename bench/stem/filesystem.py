"""Workload 2, stem side: N filesystem onion services in one set_hidden_service_conf (directories created 0700 first).

usage: filesystem.py CONTROL N PARENT_DIR
"""
import os
import sys

from common import controller, timed

address, n, parent = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def work():
    with controller(address) as c:
        conf = {}
        for i in range(n):
            d = os.path.join(parent, 'fs%d' % i)
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
            conf[d] = {'HiddenServicePort': [(80, '127.0.0.1', 9000)]}
        c.set_hidden_service_conf(conf)


timed(work)
