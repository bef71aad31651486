#!/usr/bin/env python3
"""Runs Patroni with the timing floors of a loopback world.

Patroni (since 3.1) raises ttl below 20 s to 20 and retry_timeout below 3 s to 3: floors
meant for real networks, where a DCS round trip can take seconds. The local world runs
every member on one machine's loopback, where the leader lease bounds how long a dead
primary blocks failover, so it keeps a 6 s lease (loop_wait + 2 * retry_timeout <= ttl
still holds, and Patroni's watchdog fences the old primary before the lease expires).

It also shortens one fixed wait. A node that may not become leader (the witness, tagged
nofailover) and finds the leader key gone sleeps 2 s in Ha.process_unhealthy_cluster, "to
give somebody time to take the leader lock", and only then follows whoever took it. After a
leader is killed, its lease expires and wakes every node at once; the new primary takes the
lock ~0.2 s later, but with synchronous_mode_strict none of its commits returns until this
standby streams from it, so the fixed sleep cost ~1.8 s of every failover. Here that sleep ends
as soon as Patroni's own wake-up event fires (the etcd3 watch sets it when the leader key
changes), and still after at most the same 2 s. Which node is promoted does not change.

usage: patroni-loopback.py CONFIG
"""
import sys
import time

from patroni.config import Config

FLOORS = {'ttl': 6, 'retry_timeout': 2}
_adjust = Config._Config__get_and_maybe_adjust_int_value


def _adjust_with_loopback_floors(self, config, param, min_value):
    return _adjust(self, config, param, min(min_value, FLOORS.get(param, min_value)))


Config._Config__get_and_maybe_adjust_int_value = _adjust_with_loopback_floors


class _HaTime:
    """The time module as patroni.ha sees it: the real one, except the sleep of process_unhealthy_cluster."""

    def __init__(self, process_unhealthy_cluster):
        self._process_unhealthy_cluster = process_unhealthy_cluster

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        caller = sys._getframe(1)
        if caller.f_code is not self._process_unhealthy_cluster:
            return time.sleep(seconds)
        # the event Patroni's HA loop itself naps on between cycles: set when the leader key changes
        caller.f_locals['self'].dcs.event.wait(seconds)
        return None


def wait_for_leader_lock_not_fixed_time():
    """Make process_unhealthy_cluster's 2 s sleep end when the leader key changes."""
    import patroni.postgresql  # noqa: F401 -- Patroni's own import order: patroni.ha alone is a circular import
    import patroni.ha

    patroni.ha.time = _HaTime(patroni.ha.Ha.process_unhealthy_cluster.__code__)


if __name__ == '__main__':
    from patroni.__main__ import main
    wait_for_leader_lock_not_fixed_time()
    sys.argv[0] = 'patroni'
    sys.exit(main())
