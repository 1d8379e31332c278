"""Workload 3, stem side: change many options at once with set_options.

usage: options.py CONTROL OPTIONS.json   (a JSON object: tor option name -> value as tor text)
"""
import json
import sys

from common import controller, timed

address, file = sys.argv[1], sys.argv[2]
with open(file) as f:
    options = json.load(f)


def work():
    with controller(address) as c:
        c.set_options(options)


timed(work)
