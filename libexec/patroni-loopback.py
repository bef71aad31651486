#!/usr/bin/env python3
"""Runs Patroni with the timing floors of a loopback world.

Patroni (since 3.1) raises ttl below 20 s to 20 and retry_timeout below 3 s to 3: floors
meant for real networks, where a DCS round trip can take seconds. The local world runs
every member on one machine's loopback, where the leader lease bounds how long a dead
primary blocks failover, so it keeps a 5 s lease (loop_wait + 2 * retry_timeout <= ttl
still holds, and Patroni's watchdog fences the old primary 1 s before the lease expires).

Replication follows a new leader only once it is out of recovery, and no later. A
standby that connects while the new leader is still promoting gets a cascading
walsender, which PostgreSQL never counts as synchronous (syncrep.c); the priority is
computed when the walsender starts and on a reload, so it can stay 0 after the
promotion, and with synchronous_mode_strict no commit returns until another standby
arrives (a 12 s stall in bench/failover). So before PostgreSQL is re-pointed at
another member (Postgresql.follow), this waits until that member's REST API reports
pg_is_in_recovery() false, at most 2 s.

And one fixed wait is shortened: a node that may not take the leader lock (the
witness, tagged nofailover) and finds the leader key gone sleeps 2 s "to give
somebody time to take the leader lock" (Ha.process_unhealthy_cluster) before it
follows. With synchronous_mode_strict every commit on the new leader waits for that
standby, so the sleep added ~1.8 s to each failover. Here the node goes on as soon as
another node holds the lock and is out of recovery, still at most those 2 s.

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
from patroni.postgresql import Postgresql

FLOORS = {'ttl': 5, 'retry_timeout': 2}
# the sleep in Ha.process_unhealthy_cluster, and how often the wait for a new primary looks
LEADER_RACE_SLEEP = 2
NEW_PRIMARY_POLL = 0.05

_adjust = Config._Config__get_and_maybe_adjust_int_value


def _adjust_with_loopback_floors(self, config, param, min_value):
    return _adjust(self, config, param, min(min_value, FLOORS.get(param, min_value)))


Config._Config__get_and_maybe_adjust_int_value = _adjust_with_loopback_floors

# the node's Ha object (one per Patroni), and whether its process_unhealthy_cluster is running on this thread
_node = {'ha': None}
_unhealthy = threading.local()


def _is_primary(ha, member, timeout):
    """True when member's REST API says its PostgreSQL is out of recovery (Patroni's GET /patroni runs pg_is_in_recovery())."""
    try:
        response = ha.patroni.request(member, timeout=timeout, retries=0)
        return response.status == 200 and json.loads(response.data.decode('utf-8')).get('role') == 'primary'
    except Exception:
        return False


def _other_leader(ha):
    """The member holding the leader lock, unless it is this node or there is none."""
    try:
        leader = ha.dcs.get_cluster().leader  # etcd3: served from the watch cache
    except Exception:
        return None
    if not leader or not leader.name or leader.name == ha.state_handler.name or not leader.member.api_url:
        return None
    return leader.member


def _wait_for(ready, limit):
    """Calls ready(timeout) until it is true or limit seconds have passed."""
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or ready(min(0.5, remaining)):
            return
        time.sleep(min(NEW_PRIMARY_POLL, max(0, deadline - time.monotonic())))


def _wait_for_new_primary(ha, limit):
    def ready(timeout):
        member = _other_leader(ha)
        return member is not None and _is_primary(ha, member, timeout)

    _wait_for(ready, limit)


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


_ha_init = patroni_ha.Ha.__init__


def _ha_init_kept(self, *args, **kwargs):
    _ha_init(self, *args, **kwargs)
    _node['ha'] = self


_postgresql_follow = Postgresql.follow


def _follow_once_primary(self, member, *args, **kwargs):
    """Postgresql.follow, once the member to replicate from is out of recovery (at most 2 s)."""
    ha = _node['ha']
    target = getattr(member, 'member', member)  # a Leader wraps its Member
    if ha is not None and target is not None and getattr(target, 'name', None) not in (None, self.name) \
            and getattr(target, 'api_url', None):
        _wait_for(lambda timeout: _is_primary(ha, target, timeout), LEADER_RACE_SLEEP)
    return _postgresql_follow(self, member, *args, **kwargs)


patroni_ha.time = _HaModuleTime()
patroni_ha.Ha.process_unhealthy_cluster = _process_unhealthy_cluster_marked
patroni_ha.Ha.__init__ = _ha_init_kept
Postgresql.follow = _follow_once_primary

if __name__ == '__main__':
    sys.argv[0] = 'patroni'
    sys.exit(patroni_main())
