"""Checks libexec/patroni-loopback.py's wait for a new primary against stubs of Patroni's Ha.

Run with the interpreter Patroni is installed in: python3 test/python/patroni_loopback_check.py
Prints one line per passed check; an AssertionError fails it.
"""
import importlib.util
import inspect
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('patroni_loopback', os.path.join(HERE, '..', '..', 'libexec', 'patroni-loopback.py'))
loopback = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loopback)

from patroni import ha as patroni_ha  # noqa: E402  (after the module above imported Patroni in its order)


class Response:
    def __init__(self, role):
        self.status = 200
        self.data = json.dumps({'role': role, 'state': 'running'}).encode()


class Member:
    api_url = 'http://127.0.0.1:1/patroni'


class Leader:
    def __init__(self, name):
        self.name = name
        self.member = Member()


class Cluster:
    def __init__(self, leader):
        self.leader = leader


class StubHa:
    """A node named `me`; `script(t)` gives (leader name or None, that leader's role) t seconds after the start."""

    def __init__(self, script):
        self.started = time.monotonic()
        self.script = script
        self.state_handler = type('S', (), {'name': 'me'})()
        self.dcs = self
        self.patroni = self
        self.requests = 0

    def now(self):
        return time.monotonic() - self.started

    def get_cluster(self):
        name, _ = self.script(self.now())
        return Cluster(Leader(name) if name else None)

    def request(self, member, timeout, retries):
        self.requests += 1
        _, role = self.script(self.now())
        if role is None:
            raise ConnectionRefusedError('refused')
        return Response(role)


def leader_race_sleep(ha):
    """What process_unhealthy_cluster's `time.sleep(2)` does now, timed."""
    loopback._unhealthy.ha = ha
    try:
        start = time.monotonic()
        patroni_ha.time.sleep(2)
        return time.monotonic() - start
    finally:
        loopback._unhealthy.ha = None


# the sleep being replaced is still in the installed Patroni, in the branch of a node that may not promote
source = inspect.getsource(loopback._process_unhealthy_cluster)
assert 'time.sleep(2)' in source and 'nofailover' in source, 'Patroni no longer sleeps 2 s in process_unhealthy_cluster'
assert patroni_ha.Ha.process_unhealthy_cluster is loopback._process_unhealthy_cluster_marked
print('ok: the installed Patroni has the 2 s leader-race sleep, and it is wrapped')

# a new leader that is still promoting is not followed; once it is out of recovery it is, well before the 2 s
ha = StubHa(lambda t: ('pg-eu', 'replica' if t < 0.4 else 'primary'))
waited = leader_race_sleep(ha)
assert 0.4 <= waited < 1.0, waited
assert ha.requests > 1
print('ok: follows once the new leader is primary (waited %.2f s, %d requests)' % (waited, ha.requests))

# nobody takes the lock: the full 2 s, as Patroni would
waited = leader_race_sleep(StubHa(lambda t: (None, None)))
assert waited >= 1.99, waited
print('ok: no new leader: waits the whole 2 s (%.2f s)' % waited)

# a leader whose REST API refuses, or a lock this node itself holds, does not end the wait
waited = leader_race_sleep(StubHa(lambda t: ('pg-eu', None)))
assert waited >= 1.99, waited
waited = leader_race_sleep(StubHa(lambda t: ('me', 'primary')))
assert waited >= 1.99, waited
print('ok: an unreachable leader or its own lock: waits the whole 2 s')

# every other sleep in patroni.ha is the real one
start = time.monotonic()
patroni_ha.time.sleep(0.2)
assert time.monotonic() - start >= 0.2
loopback._unhealthy.ha = StubHa(lambda t: ('pg-eu', 'primary'))
start = time.monotonic()
patroni_ha.time.sleep(0.3)  # inside process_unhealthy_cluster, but not the 2 s one
assert time.monotonic() - start >= 0.3
loopback._unhealthy.ha = None
assert patroni_ha.time.time() > 0 and patroni_ha.time.monotonic() > 0
print('ok: other sleeps and time functions are untouched')
