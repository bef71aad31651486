"""Checks libexec/patroni-loopback.py's waits for a new primary against stubs of Patroni's Ha and Postgresql.

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

    def __init__(self, name):
        self.name = name


class Leader:
    def __init__(self, name):
        self.name = name
        self.member = Member(name)


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
from patroni.postgresql import Postgresql  # noqa: E402
assert Postgresql.follow is loopback._follow_once_primary
print('ok: the installed Patroni has the 2 s leader-race sleep; it and Postgresql.follow are wrapped')

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

# Postgresql.follow re-points replication only once the member is out of recovery
follows = []
loopback._postgresql_follow = lambda self, member, *args, **kwargs: follows.append((time.monotonic(), member, args, kwargs))
node = type('Pg', (), {'name': 'me'})()


def follow(ha, member, *args, **kwargs):
    loopback._node['ha'] = ha
    follows.clear()
    start = time.monotonic()
    loopback._follow_once_primary(node, member, *args, **kwargs)
    (at, followed, passed_args, passed_kwargs), = follows
    return at - start, followed, passed_args, passed_kwargs


ha = StubHa(lambda t: ('pg-eu', 'replica' if t < 0.4 else 'primary'))
leader = Leader('pg-eu')
waited, followed, args, kwargs = follow(ha, leader, 'replica', do_reload=True)
assert 0.4 <= waited < 1.0 and ha.requests > 1, (waited, ha.requests)
assert followed is leader and args == ('replica',) and kwargs == {'do_reload': True}
print('ok: follow() of a promoting leader waits until it is primary (%.2f s), then passes everything on' % waited)

for member in (None, Leader('me'), Member('me')):
    ha = StubHa(lambda t: ('pg-eu', 'replica'))
    waited, followed, _, _ = follow(ha, member)
    assert waited < 0.1 and ha.requests == 0 and followed is member, (member, waited, ha.requests)
waited, _, _, _ = follow(StubHa(lambda t: ('pg-eu', 'primary')), Member('pg-eu'))
assert waited < 0.1, waited
print('ok: follow() of nobody, of itself or of a primary does not wait')

waited, _, _, _ = follow(StubHa(lambda t: ('pg-eu', None)), Leader('pg-eu'))
assert 1.99 <= waited < 2.5, waited
print('ok: follow() of a member whose REST API does not answer goes on after 2 s (%.2f s)' % waited)
