"""Workload 1, stem side: N new detached ephemeral v3 onion services, each private key saved to a 0600 file.

usage: ephemeral.py CONTROL N KEYDIR
"""
import os
import sys

from common import controller, timed

address, n, keydir = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def work():
    with controller(address) as c:
        os.makedirs(keydir, mode=0o700, exist_ok=True)
        for _ in range(n):
            r = c.create_ephemeral_hidden_service({80: 9000}, key_type='NEW', key_content='ED25519-V3', detached=True, await_publication=False)
            fd = os.open(os.path.join(keydir, r.service_id + '.key'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write('%s:%s\n' % (r.private_key_type, r.private_key))


timed(work)
