#!/usr/bin/env python3
"""Runs Patroni with the timings of a loopback world.

Patroni (since 3.1) raises ttl below 20 s to 20 and retry_timeout below 3 s to 3: floors
meant for real networks, where a DCS round trip can take seconds. The local world runs
every member on one machine's loopback, where the leader lease bounds how long a dead
primary blocks failover, so the floors here are 4 s and 1 s, what the world uses (loop_wait +
2 * retry_timeout <= ttl still holds, and Patroni's watchdog fences the old primary 1 s before
the lease expires).

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

And a second one: after the leader writes synchronous_standby_names it sleeps 2 s "for
PostgreSQL to enable synchronous mode" (Ha._process_multisync_replication) before it
reads which of the picked standbys pg_stat_replication confirms as synchronous and names
those in /sync. Only standbys named in /sync may be promoted, so `atlas up` waits for
them, and the sleep sat on every cold up and on the first sync assignment after each
failover. Here the leader reads that state every 50 ms and goes on as soon as every
picked standby is confirmed, still at most those 2 s. The order Patroni keeps is
unchanged: postgresql.conf first, then /sync, and /sync names only what Patroni's own
read after the wait confirms.

And PostgreSQL's start is watched more often: Patroni waits for a starting PostgreSQL by
running pg_isready once a second, first until the port opens (wait_for_port_open), then
until it accepts connections (wait_for_startup), and only then reports the member as
running; a clone that already streamed was listed 0.6-0.7 s later (traced at load 3),
the last link before the leader can make it synchronous. Those two waits poll every
0.1 s here (the same timeouts; PostgreSQL's other waits, such as stop, as installed), so while
PostgreSQL starts pg_isready runs up to ten times as often (each run a connection attempt, which a
PostgreSQL still starting may log as a line of its own).

And PostgreSQL is started through a small launcher. Patroni starts the postmaster from an
intermediate process that calls setsid(), starts postgres, reports its pid and exits (so
the postmaster is nobody's child, as with pg_ctl), and it makes that process with
multiprocessing's spawn: a new interpreter that imports Patroni again, 0.3-0.5 s on this
machine before postgres even starts, on each standby's and the bootstrapping leader's
start. Here the intermediate process is `python3 -I -S -c` with the same few lines, reporting
through multiprocessing's own Pipe as pg_ctl_start does (PostmasterProcess.start itself, its
environment and its checks, as installed; the spawn context runs any other target as before).

And the etcd DCS keeps less of its retry deadline in reserve. Taking the leader lock
(Etcd3.attempt_to_acquire_leader) refreshes the lease first and then raises "attempt to
acquire leader timeout" unless 1 s of the refresh's retry_timeout deadline is still left
(ensure_deadline; the same 1 s check sits before the put with a new lease in _update_leader
and _do_attempt_to_acquire_leader). The put itself runs on a fresh deadline (every retry
call resets it), so the check only bounds how slow the refresh may have been. Patroni's own
floor for retry_timeout is 3 s, where the refresh may take 2 s; at the retry_timeout of 1 s
a 4 s lease needs (loop_wait + 2 * retry_timeout <= ttl) less than 1 s is left as soon as
the refresh has taken any time at all, so no node could ever take the lock: after the
leader's region was killed eu logged "Error communicating with DCS" every second and was
never promoted, and the old leader came back as a standby of nobody. Here such a reserve is
at most half the deadline: the same 1 s from retry_timeout 2 up, 0.5 s at 1.

And each etcd request may be shorter than 1 s. The etcd client gives a request to one member
retry_timeout split over the members, but never less than 1 s
(AbstractEtcdClientWithFailover._calculate_timeouts), and when a request succeeds only on
another member it asks the members for the member list, again up to 1 s each. With a
follower region frozen and the leader's Patroni on that region's etcd member, the leader's
HA loop waited 1 s for its request and 1 s more for the member list, and its watchdog
(ttl - safety_margin = 3 s) killed the primary over a follower's fault (bench/failover, a
frozen eu: writes stalled 5.5 s, against 1.5-3 s at the 5 s lease). Here the floor is
ETCD_MIN_REQUEST_TIMEOUT (0.25 s), so at retry_timeout 1 each attempt gets a third of a
second: on loopback an etcd request takes milliseconds. The price: a request forwarded to
a frozen etcd leader (the witness's member) fails sooner, so a lease refresh that starts
just before etcd elects another leader can run out of its 1 s; bench/failover's frozen
witness rounds counted the primary demoting itself over it (next paragraph).

And a primary that cannot reach etcd for one loop keeps its role while its lease holds. When
an HA loop fails to reach the DCS, a primary demotes itself at once (Ha._handle_dcs_error),
though its lease, last refreshed at most a loop and a retry_timeout ago, still has seconds
to run and the watchdog fences it before the lease ends. With the etcd leader (the witness's
member) frozen, a refresh forwarded to it fails until the other two elect a new one (0.5-1
s): at retry_timeout 1 that demoted the primary in 5 of 20 frozen-witness rounds (writes
stalled 3.7-5.5 s, against 1.4-2 s otherwise). Here a primary whose lease, as last
refreshed, holds longer than the watchdog's margin (ttl - the watchdog's timeout) stays
primary and tries again at its next loop; past that margin, or when paused, not running,
not primary or without a running watchdog, Patroni's own handling. Its lease is not
extended and the watchdog is not fed: no other node can take the lock before the lease
expires, and the watchdog still kills PostgreSQL ttl - safety_margin after the last
successful refresh, nominally 1 s before the lease ends (less by what ran between etcd's
renewal and the keepalive, and the softdog's 0.1 s poll). What a primary that stays cut off
from etcd gets instead of a clean demote: the second failed loop ends about when the
watchdog fires, so its PostgreSQL is usually killed, not shut down (crash recovery when it
starts again), 1 s later than Patroni would have demoted it. Commits are safe either way:
with synchronous_mode_strict and both standbys synchronous, nothing commits without eu, and
eu is promoted only once the lease has expired.

And a node about to be promoted first receives the WAL the witness holds beyond it. Every commit
waits for both standbys, but the primary sends its WAL to each on its own, so when it dies the
witness (tagged nofailover, never promoted) can hold WAL the promoted node never received. That
WAL was never acknowledged, so nothing is lost; but PostgreSQL refuses a new timeline that forks
before its replay position, so the witness had to be rewound (pg_rewind, after the new primary's
checkpoint, over several HA loops) before it streamed again, and with synchronous_mode_strict no
commit returned meanwhile: 6.9-10.1 s more in 5 of 160 bench/failover rounds. Here, before
Postgresql.promote, the node asks each nofailover member's REST API for its WAL position; when one
on its timeline is ahead, it replicates from that member (Postgresql.follow, a reload) until it
has received as much, at most CATCH_UP_LIMIT s, and then promotes. Its new timeline then forks
after everything the witness replayed, and the witness follows it without a rewind. MHA does the
same for MySQL: the new primary first applies what the most advanced replica holds. What it takes
in is the old primary's WAL, transactions whose commit no client saw acknowledged (their outcome
is unknown to their clients either way).

Everything else is Patroni as installed.

usage: patroni-loopback.py CONFIG
"""
import functools
import inspect
import json
import logging
import multiprocessing
import subprocess
import sys
import threading
import time

from patroni.__main__ import main as patroni_main
import patroni.api  # noqa: F401  (first, as Patroni does: ha imported on its own is a circular import)
from patroni import ha as patroni_ha
from patroni import postgresql as patroni_postgresql
from patroni import utils as patroni_utils
from patroni.collections import CaseInsensitiveSet
from patroni.config import Config
from patroni.dcs import etcd as patroni_etcd
from patroni.postgresql import Postgresql
from patroni.postgresql import postmaster as patroni_postmaster
from patroni.postgresql.misc import PostgresqlRole, format_lsn
from patroni.postgresql.sync import SyncHandler
from patroni.utils import Retry

logger = logging.getLogger('patroni.postgresql.postmaster')
ha_logger = logging.getLogger('patroni.ha')

FLOORS = {'ttl': 4, 'retry_timeout': 1}
# the fixed sleep in Ha.process_unhealthy_cluster and in Ha._process_multisync_replication,
# and how often the waits that replace it look
FIXED_SLEEP = 2
POLL = 0.05
# Patroni's pg_isready interval while PostgreSQL starts, and the one used here
STARTUP_CHECK_INTERVAL = 1
STARTUP_POLL = 0.1

_adjust = Config._Config__get_and_maybe_adjust_int_value


def _adjust_with_loopback_floors(self, config, param, min_value):
    return _adjust(self, config, param, min(min_value, FLOORS.get(param, min_value)))


Config._Config__get_and_maybe_adjust_int_value = _adjust_with_loopback_floors


class _LoopbackRetry(Retry):
    """Patroni's Retry, keeping at most half of its deadline in reserve for a last request (ensure_deadline)."""

    def copy(self):
        retry = super().copy()
        retry.__class__ = _LoopbackRetry
        return retry

    def ensure_deadline(self, timeout, raise_ex=None):
        if self.deadline:
            timeout = min(timeout, self.deadline / 2)
        return super().ensure_deadline(timeout, raise_ex)


# the etcd DCS's retries (AbstractEtcd.__init__'s `Retry(deadline=retry_timeout, ...)`; each operation runs on a copy)
patroni_etcd.Retry = _LoopbackRetry

# the shortest per-member etcd request, in seconds (Patroni's is 1 s)
ETCD_MIN_REQUEST_TIMEOUT = 0.25


def _calculate_timeouts_loopback(self, etcd_nodes, timeout=None):
    """AbstractEtcdClientWithFailover._calculate_timeouts with ETCD_MIN_REQUEST_TIMEOUT for Patroni's 1 s floor."""
    per_node_timeout = timeout = float(timeout or self.read_timeout)
    max_retries = 4 - min(etcd_nodes, 3)
    per_node_retries = 1
    while etcd_nodes > 0:
        per_node_timeout = float(timeout) / etcd_nodes
        if per_node_timeout >= ETCD_MIN_REQUEST_TIMEOUT:
            while (per_node_retries < max_retries
                   and per_node_timeout / (per_node_retries + 1) >= ETCD_MIN_REQUEST_TIMEOUT):
                per_node_retries += 1
            per_node_timeout /= per_node_retries
            break
        etcd_nodes -= 1
        max_retries = 1
    return etcd_nodes, per_node_timeout, per_node_retries - 1


_calculate_timeouts_installed = patroni_etcd.AbstractEtcdClientWithFailover._calculate_timeouts
patroni_etcd.AbstractEtcdClientWithFailover._calculate_timeouts = _calculate_timeouts_loopback

_handle_dcs_error = patroni_ha.Ha._handle_dcs_error


def _handle_dcs_error_within_lease(self):
    """Ha._handle_dcs_error, but a primary whose last lease refresh still holds, short of the watchdog's
    margin, stays primary and tries again at its next loop; past that, Patroni's own handling (demote)."""
    watchdog = self.watchdog.active_config
    left = self._leader_expiry - time.time()
    if (left > watchdog.ttl - watchdog.timeout and self.watchdog.is_running and not self.is_paused()
            and self.state_handler.is_running() and self.state_handler.is_primary()):
        ha_logger.warning('DCS not accessible; the lease holds %.1f s more, the watchdog fences before it ends', left)
        return 'DCS is not accessible; still the leader while its lease holds (%.1f s)' % left
    return _handle_dcs_error(self)


# the node's Ha object (one per Patroni)
_node = {'ha': None}
# the innermost marked Ha method running on this thread (a _MarkedCall), if any: its 2 s sleep is
# replaced (process_unhealthy_cluster can reach _process_multisync_replication through enforce_primary_role)
_marked = threading.local()


def _is_primary(ha, member, timeout):
    """True when member's REST API says its PostgreSQL is out of recovery (Patroni's GET /patroni runs
    pg_is_in_recovery())."""
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
        time.sleep(min(POLL, max(0, deadline - time.monotonic())))


def _wait_for_new_primary(ha, limit):
    def ready(timeout):
        member = _other_leader(ha)
        return member is not None and _is_primary(ha, member, timeout)

    _wait_for(ready, limit)


def _wait_for_sync_confirmed(ha, picked, limit):
    """Until pg_stat_replication confirms every picked standby as synchronous, at most limit seconds.

    A check is not started when less time is left than the previous one took: Patroni's own read after this
    wait then starts at the limit, as after its sleep, not one query later."""
    state_handler = ha.state_handler
    deadline = time.monotonic() + limit
    took = 0
    try:
        while picked:
            remaining = deadline - time.monotonic()
            if remaining <= took:
                time.sleep(max(0, remaining))
                return
            began = time.monotonic()
            # Patroni caches pg_stat_replication per HA cycle; each look needs a fresh one
            state_handler.reset_cluster_info_state(None)
            if picked <= state_handler.sync_handler.current_state(ha.cluster).sync_confirmed:
                return
            took = time.monotonic() - began
            time.sleep(min(POLL, max(0, deadline - time.monotonic())))
        time.sleep(limit)  # nothing noted as picked: Patroni's sleep as it is
    except Exception:
        # Broad on purpose: a failed read raises Patroni's PostgresConnectionException (an error it caches),
        # or psycopg's OperationalError, which it re-raises uncached; whatever it was, the rest of the 2 s, then
        # Patroni's own read after the wait, a fresh one, reports it (or succeeds) as it would have after its sleep
        time.sleep(max(0, deadline - time.monotonic()))
    finally:
        # Patroni's read after the wait is a fresh one: after its sleep it is too when the reload changed
        # synchronous_standby_names (set_synchronous_standby_names resets the cache); when the value was already
        # set it would have read the HA cycle's cached state, here it reads PostgreSQL again, which is only newer
        state_handler.reset_cluster_info_state(None)


def _leader_race_wait(call, seconds):
    _wait_for_new_primary(call.ha, seconds)


def _sync_assignment_wait(call, seconds):
    _wait_for_sync_confirmed(call.ha, call.assigned, seconds)


class _MarkedCall:
    """A running Ha method whose FIXED_SLEEP is replaced by wait(call, seconds)."""

    def __init__(self, ha, wait):
        self.ha = ha
        self.wait = wait
        self.assigned = None  # the standbys this call last passed to set_synchronous_standby_names


class _HaModuleTime:
    """patroni.ha's `time`: the real module, except for the 2 s sleep of a marked call."""

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        call = getattr(_marked, 'call', None)
        if call is None or seconds != FIXED_SLEEP:
            return time.sleep(seconds)
        call.wait(call, seconds)


def _marking(method, wait):
    """method, run with its FIXED_SLEEP replaced by wait (the previous mark restored after it)."""

    @functools.wraps(method)
    def marked(self, *args, **kwargs):
        outer = getattr(_marked, 'call', None)
        _marked.call = _MarkedCall(self, wait)
        try:
            return method(self, *args, **kwargs)
        finally:
            _marked.call = outer

    return marked


_process_unhealthy_cluster = patroni_ha.Ha.process_unhealthy_cluster
_process_unhealthy_cluster_marked = _marking(_process_unhealthy_cluster, _leader_race_wait)

_process_multisync_replication = patroni_ha.Ha._process_multisync_replication
_process_multisync_replication_marked = _marking(_process_multisync_replication, _sync_assignment_wait)

_set_synchronous_standby_names = SyncHandler.set_synchronous_standby_names


def _set_synchronous_standby_names_noted(self, sync, *args, **kwargs):
    """SyncHandler.set_synchronous_standby_names, noting the names for the marked call that passes them."""
    call = getattr(_marked, 'call', None)
    if call is not None:
        call.assigned = CaseInsensitiveSet(sync)
    return _set_synchronous_standby_names(self, sync, *args, **kwargs)


# whether Postgresql.wait_for_port_open or wait_for_startup is running on this thread
_starting = threading.local()


def _is_starting_wait():
    return getattr(_starting, 'depth', 0) > 0


class _PostgresqlModuleTime:
    """patroni.postgresql's `time`: the real module, except for wait_for_startup's 1 s sleep."""

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        return time.sleep(STARTUP_POLL if _is_starting_wait() and seconds == STARTUP_CHECK_INTERVAL else seconds)


def _polling_loop(timeout, interval=1):
    """patroni.postgresql's polling_loop: wait_for_port_open's checks every STARTUP_POLL, the others as they are."""
    if _is_starting_wait() and interval == STARTUP_CHECK_INTERVAL:
        interval = STARTUP_POLL
    return patroni_utils.polling_loop(timeout, interval)


def _startup_wait(method):
    @functools.wraps(method)
    def marked(self, *args, **kwargs):
        _starting.depth = getattr(_starting, 'depth', 0) + 1
        try:
            return method(self, *args, **kwargs)
        finally:
            _starting.depth -= 1

    return marked


_wait_for_port_open = Postgresql.wait_for_port_open
_wait_for_startup = Postgresql.wait_for_startup

# pg_ctl_start's work (setsid, start postgres with no inherited descriptors, send its pid or None), without
# Patroni: what it writes is what multiprocessing's Connection.send writes (a 4-byte length, then the pickle)
_LAUNCH_POSTMASTER = """
import os, pickle, struct, subprocess, sys
report = int(sys.argv[1])
os.setsid()
try:
    pid = subprocess.Popen(sys.argv[2:], close_fds=True).pid
except Exception as e:
    sys.stderr.write('Failed to execute %s: %r\\n' % (sys.argv[2:], e))
    pid = None
message = pickle.dumps(pid)
os.write(report, struct.pack('!i', len(message)) + message)
"""


class _PostmasterLauncher:
    """What PostmasterProcess.start does with ctx.Process(target=pg_ctl_start, args=(conn, cmdline, env))."""

    def __init__(self, conn, cmdline, env):
        self.conn = conn  # the writing end of the spawn context's own Pipe
        self.cmdline = cmdline
        self.env = env
        self.proc = None

    def start(self):
        try:
            fd = self.conn.fileno()
            self.proc = subprocess.Popen([sys.executable, '-I', '-S', '-c', _LAUNCH_POSTMASTER, str(fd)]
                                         + self.cmdline, env=self.env, pass_fds=(fd,))
        except Exception:
            # as pg_ctl_start when postgres cannot be started: log it and send None (start then returns None)
            logger.exception('Failed to start the postmaster launcher for %s', self.cmdline)
            self.conn.send(None)
        finally:
            # the launcher holds the writing end now; the reading end is PostmasterProcess.start's, closed with
            # it as with multiprocessing's own Process (a launcher that dies before it reports: EOFError there too)
            self.conn.close()

    def join(self):
        if self.proc is not None:
            self.proc.wait()


class _PostmasterSpawnContext:
    """multiprocessing's spawn context as PostmasterProcess.start uses it: its Pipe as it is (the launcher
    writes what Connection.send would), its Process too, except that pg_ctl_start runs in the launcher."""

    def __init__(self):
        self._spawn = multiprocessing.get_context('spawn')

    def __getattr__(self, name):
        return getattr(self._spawn, name)

    def Process(self, *args, **kwargs):
        bound = inspect.signature(self._spawn.Process).bind(*args, **kwargs)
        target = bound.arguments.get('target')
        if target is patroni_postmaster.pg_ctl_start and set(bound.arguments) == {'target', 'args'}:
            return _PostmasterLauncher(*bound.arguments['args'])
        return self._spawn.Process(*args, **kwargs)


class _PostmasterModuleMultiprocessing:
    """patroni.postgresql.postmaster's `multiprocessing`: the real module, except the spawn context for pg_ctl_start."""

    def __getattr__(self, name):
        return getattr(multiprocessing, name)

    def get_context(self, method=None):
        return _PostmasterSpawnContext() if method == 'spawn' else multiprocessing.get_context(method)


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
        _wait_for(lambda timeout: _is_primary(ha, target, timeout), FIXED_SLEEP)
    return _postgresql_follow(self, member, *args, **kwargs)


# How long a node about to be promoted replicates from a standby holding more WAL before it promotes anyway,
# and how long it waits for that standby's REST API. Both stay well inside the witness's own wait for the new
# leader to be primary (FIXED_SLEEP, _follow_once_primary: past it the witness would attach as a cascading,
# never synchronous, standby) and the new leader's watchdog margin (ttl - safety_margin, 3 s, should its lease
# refreshes fail meanwhile). The standby is followed without a replication slot (use_slots is false; a
# nofailover member keeps none for others, so with slots every catch-up would run out its limit).
CATCH_UP_LIMIT = 1
CATCH_UP_ASK_TIMEOUT = 0.25
_OWN_WAL_POSITION = ("SELECT pg_catalog.pg_wal_lsn_diff(GREATEST(pg_catalog.pg_last_wal_receive_lsn(),"
                     " pg_catalog.pg_last_wal_replay_lsn()), '0/0')::bigint")


def _standby_position(ha, member, timeout):
    """(timeline, WAL position) of a running standby, from its REST API (the greater of what it received and
    replayed, as Patroni compares members), or None."""
    try:
        response = ha.patroni.request(member, timeout=timeout, retries=0)
        data = json.loads(response.data.decode('utf-8'))
    except Exception:
        return None
    xlog = data.get('xlog') or {}
    if response.status != 200 or data.get('role') != 'replica' or data.get('state') != 'running':
        return None
    return data.get('timeline'), max(xlog.get('received_location') or 0, xlog.get('replayed_location') or 0)


def _own_wal_position(postgresql):
    rows = postgresql.query(_OWN_WAL_POSITION, retry=False)
    return rows[0][0] if rows and rows[0][0] is not None else 0


def _catch_up_before_promote(postgresql):
    """Replicates from a nofailover member that holds WAL beyond this node on its timeline, until this node
    has received as much or CATCH_UP_LIMIT s have passed."""
    ha = _node['ha']
    cluster = getattr(ha, 'cluster', None)
    members = [m for m in getattr(cluster, 'members', None) or []
               if m.name != postgresql.name and m.nofailover and m.api_url and m.conn_url]
    if not members:
        return
    try:
        timeline = postgresql.get_replica_timeline()
        own = _own_wal_position(postgresql)
    except Exception:
        return ha_logger.exception('Could not read this node\'s WAL position; promoting without a catch-up')
    # the same timeline number on one cluster is one primary's WAL: two primaries on one timeline is what the
    # leader lock and the watchdog exclude (Patroni's own rewind check relies on the same)
    ahead = None
    for member in members:
        position = _standby_position(ha, member, CATCH_UP_ASK_TIMEOUT)
        if position and timeline and position[0] == timeline and position[1] > own \
                and (ahead is None or position[1] > ahead[1]):
            ahead = (member, position[1])
    if ahead is None:
        return
    member, target = ahead
    ha_logger.info('%s holds WAL up to %s on timeline %s, %d bytes beyond this node: receiving it before the'
                   ' promotion', member.name, format_lsn(target), timeline, target - own)
    began = time.monotonic()
    try:
        _postgresql_follow(postgresql, member, PostgresqlRole.REPLICA, do_reload=True)
        while time.monotonic() - began < CATCH_UP_LIMIT and not postgresql.cancellable.is_cancelled:
            if _own_wal_position(postgresql) >= target:
                return ha_logger.info('received WAL up to %s from %s in %.2f s', format_lsn(target), member.name,
                                      time.monotonic() - began)
            time.sleep(POLL)
    except Exception:
        ha_logger.exception('Could not receive WAL from %s', member.name)
    if not postgresql.cancellable.is_cancelled:
        ha_logger.warning('WAL up to %s not received from %s within %.2f s; promoting without it',
                          format_lsn(target), member.name, time.monotonic() - began)


_promote = Postgresql.promote


def _promote_after_catch_up(self, wait_seconds, task, before_promote=None):
    """Postgresql.promote, once this node holds the WAL a nofailover member received beyond it (at most 1 s).

    A promote Patroni cancels meanwhile (the lock lost) stops the wait; the installed promote then returns False."""
    if self.role not in (PostgresqlRole.PROMOTED, PostgresqlRole.PRIMARY):
        _catch_up_before_promote(self)
    return _promote(self, wait_seconds, task, before_promote)


patroni_ha.time = _HaModuleTime()
patroni_ha.Ha.process_unhealthy_cluster = _process_unhealthy_cluster_marked
patroni_ha.Ha._process_multisync_replication = _process_multisync_replication_marked
SyncHandler.set_synchronous_standby_names = _set_synchronous_standby_names_noted
patroni_ha.Ha.__init__ = _ha_init_kept
patroni_ha.Ha._handle_dcs_error = _handle_dcs_error_within_lease
Postgresql.follow = _follow_once_primary
Postgresql.promote = _promote_after_catch_up
patroni_postgresql.time = _PostgresqlModuleTime()
patroni_postgresql.polling_loop = _polling_loop
Postgresql.wait_for_port_open = _startup_wait(_wait_for_port_open)
Postgresql.wait_for_startup = _startup_wait(_wait_for_startup)
patroni_postmaster.multiprocessing = _PostmasterModuleMultiprocessing()

if __name__ == '__main__':
    sys.argv[0] = 'patroni'
    sys.exit(patroni_main())
