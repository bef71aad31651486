#!/usr/bin/env python3
"""Runs Patroni with the timing floors of a loopback world.

Patroni (since 3.1) raises ttl below 20 s to 20 and retry_timeout below 3 s to 3: floors
meant for real networks, where a DCS round trip can take seconds. The local world runs
every member on one machine's loopback, where the leader lease bounds how long a dead
primary blocks failover, so it keeps a 6 s lease (loop_wait + 2 * retry_timeout <= ttl
still holds, and Patroni's watchdog fences the old primary before the lease expires).
Only these two floors change; everything else is Patroni as installed.

usage: patroni-loopback.py CONFIG
"""
import sys

from patroni.config import Config

FLOORS = {'ttl': 6, 'retry_timeout': 2}
_adjust = Config._Config__get_and_maybe_adjust_int_value


def _adjust_with_loopback_floors(self, config, param, min_value):
    return _adjust(self, config, param, min(min_value, FLOORS.get(param, min_value)))


Config._Config__get_and_maybe_adjust_int_value = _adjust_with_loopback_floors

if __name__ == '__main__':
    from patroni.__main__ import main
    sys.argv[0] = 'patroni'
    sys.exit(main())
