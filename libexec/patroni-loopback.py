#!/usr/bin/env python3
"""Runs Patroni with the timing floors of a loopback world.

Patroni (since 3.1) raises ttl below 20 s to 20 and retry_timeout below 3 s to 3: floors
meant for real networks, where a DCS round trip can take seconds. The local world runs
every member on one machine's loopback, where the leader lease bounds how long a dead
primary blocks failover, so it keeps a 5 s lease (loop_wait + 2 * retry_timeout <= ttl
still holds, and Patroni's watchdog fences the old primary 1 s before the lease expires).

One fixed wait is shortened as well. A node that may not take the leader lock (the
witness, tagged nofailover) and finds the leader key gone sleeps 2 s "to give somebody
time to take the leader lock" (Ha.process_unhealthy_cluster) before it follows the new
leader. With synchronous_mode_strict every commit on the new leader waits for that
standby, so the sleep added ~1.8 s to each failover. Here the node follows as soon as a
new leader holds the lock AND its PostgreSQL is out of recovery (its REST API reports
pg_is_in_recovery() false), still at most those 2 s. Not earlier: a standby that connects
while the new leader is still promoting gets a cascading walsender, which PostgreSQL never
counts as synchronous (syncrep.c), and commits can stall until another standby arrives.

Everything else is Patroni as installed.

usage: patroni-loopback.py CONFIG
"""
import json
import sys
import threading
import time

from patroni.__main__ import main as patroni_main
import patroni.api  # noqa: F401  (first, as Patroni does: ha imported on its own is a circular import)
from patroni import ha as patroni_ha
from patroni.config import Config

FLOORS = {'ttl': 5, 'retry_timeout': 2}
# the sleep in Ha.process_unhealthy_cluster, and how often the wait for a new primary looks
LEADER_RACE_SLEEP = 2
NEW_PRIMARY_POLL = 0.05

_adjust = Config._Config__get_and_maybe_adjust_int_value


def _adjust_with_loopback_floors(self, config, param, min_value):
    return _adjust(self, config, param, min(min_value, FLOORS.get(param, min_value)))


Config._Config__get_and_maybe_adjust_int_value = _adjust_with_loopback_floors

# the Ha object whose process_unhealthy_cluster is running on this thread, if any
_unhealthy = threading.local()


def _new_primary_ready(ha, timeout):
    """True once another node holds the leader lock and its PostgreSQL is out of recovery."""
    try:
        cluster = ha.dcs.get_cluster()  # etcd3: served from the watch cache
    except Exception:
        return False
    leader = cluster.leader
    if not leader or not leader.name or leader.name == ha.state_handler.name or not leader.member.api_url:
        return False
    try:
        response = ha.patroni.request(leader.member, timeout=timeout, retries=0)
        return response.status == 200 and json.loads(response.data.decode('utf-8')).get('role') == 'primary'
    except Exception:
        return False


def _wait_for_new_primary(ha, limit):
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or _new_primary_ready(ha, min(0.5, remaining)):
            return
        time.sleep(min(NEW_PRIMARY_POLL, max(0, deadline - time.monotonic())))


class _HaModuleTime:
    """patroni.ha's `time`: the real module, except for the leader-race sleep."""

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        ha = getattr(_unhealthy, 'ha', None)
        if ha is None or seconds != LEADER_RACE_SLEEP:
            return time.sleep(seconds)
        _wait_for_new_primary(ha, seconds)


_process_unhealthy_cluster = patroni_ha.Ha.process_unhealthy_cluster


def _process_unhealthy_cluster_marked(self):
    _unhealthy.ha = self
    try:
        return _process_unhealthy_cluster(self)
    finally:
        _unhealthy.ha = None


patroni_ha.time = _HaModuleTime()
patroni_ha.Ha.process_unhealthy_cluster = _process_unhealthy_cluster_marked

if __name__ == '__main__':
    sys.argv[0] = 'patroni'
    sys.exit(patroni_main())
