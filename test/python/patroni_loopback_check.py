"""Checks libexec/patroni-loopback.py's waits (for a new primary, for confirmed synchronous standbys, for a
starting PostgreSQL, for the WAL a witness holds before a promotion) against stubs of Patroni's Ha,
SyncHandler and Postgresql, running Patroni's own methods.

Run with the interpreter Patroni is installed in: python3 test/python/patroni_loopback_check.py
Prints one line per passed check; an AssertionError fails it.

The waits run on a fake clock (FakeClock, in place of the `time` the script's waits, Patroni's polling_loop
and SyncHandler use): a sleep advances it at once and is recorded, so the checks assert which sleeps were
requested and when, on that clock, whatever the machine's load; only the launcher checks start processes.
"""
import importlib.util
import inspect
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('patroni_loopback',
                                              os.path.join(HERE, '..', '..', 'libexec', 'patroni-loopback.py'))
loopback = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loopback)

from patroni import ha as patroni_ha  # noqa: E402  (after the module above imported Patroni in its order)
from patroni.collections import CaseInsensitiveSet  # noqa: E402
from patroni.postgresql.misc import PostgresqlState  # noqa: E402
from patroni.exceptions import PostgresConnectionException  # noqa: E402
from patroni.postgresql import sync as patroni_sync  # noqa: E402
from patroni.postgresql.sync import SyncHandler, _SyncState  # noqa: E402
from patroni import utils as patroni_utils  # noqa: E402
from patroni.dcs import etcd as patroni_etcd  # noqa: E402
from patroni.dcs import etcd3 as patroni_etcd3  # noqa: E402

# the tolerance of a time on the fake clock (sums of float sleeps)
EPS = 1e-6


class FakeClock:
    """monotonic(), time() and sleep() of a clock that only moves when something sleeps (or a stub says a
    query took a while); sleeps records what was asked for."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def time(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds):
        self.now += seconds


clock = FakeClock()


def spawned_target(conn):
    """Run by a real spawned process (multiprocessing re-imports this file as __mp_main__)."""
    conn.send('spawned %d' % os.getpid())
    conn.close()


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
    """A node named `me`, tagged nofailover, that finds no leader key (Patroni's process_unhealthy_cluster
    then sleeps 2 s before it follows); `script(t)` gives (leader name or None, that leader's role) t seconds
    after the start."""

    def __init__(self, script):
        self.started = clock.monotonic()
        self.script = script
        self.state_handler = type('S', (), {'name': 'me'})()
        self.dcs = self
        self.patroni = self
        self.requests = 0
        self.cluster = type('C', (), {'failover': None})()
        self.nofailover = True
        self._rewind = type('R', (), {'trigger_check_diverged_lsn': lambda self: None})()
        self.followed_at = None

    def is_healthiest_node(self):
        return False

    def is_paused(self):
        return False

    def follow(self, *messages):
        self.followed_at = clock.monotonic()
        return messages[1]

    def now(self):
        return clock.monotonic() - self.started

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
    """Patroni's process_unhealthy_cluster on ha, timed until it follows (its `time.sleep(2)` as it is now)."""
    start = clock.monotonic()
    patroni_ha.Ha.process_unhealthy_cluster(ha)
    return ha.followed_at - start


class StubPostgresql:
    """The leader `me`'s Postgresql for Patroni's Ha._process_multisync_replication and SyncHandler:
    `confirmed(t)` gives the standbys pg_stat_replication confirms as synchronous t seconds after the start
    (or raises, PostgreSQL not answering). Like Patroni's, the state read from PostgreSQL is cached until
    reset_cluster_info_state()."""

    name = 'me'
    state = PostgresqlState.RUNNING
    supports_multiple_sync = True

    def __init__(self, confirmed, events, query_time=0):
        self.started = clock.monotonic()
        self.confirmed = confirmed
        self.events = events
        self.config = self
        self.sync_handler = StubSyncHandler(self)
        self.cached = None
        self.queries = 0
        self.query_starts = []
        self.query_time = query_time

    def set_synchronous_standby_names(self, value):  # Postgresql.config's: writes postgresql.conf, reloads
        self.events.append(('postgresql.conf', value, clock.monotonic()))
        return True

    def is_primary(self):
        return True

    def get_primary_timeline(self):
        return 0  # SyncHandler then leaves its own bookkeeping alone (stubbed in current_state)

    def reset_cluster_info_state(self, cluster):
        self.cached = None

    def read(self):
        """Like Patroni's _cluster_info_state_get: one query per reset, a failed one cached as an error
        (raised again on every read until the next reset)."""
        if self.cached is None:
            self.queries += 1
            self.query_starts.append(clock.monotonic())
            clock.advance(self.query_time)
            try:
                self.cached = ('ok', CaseInsensitiveSet(self.confirmed(clock.monotonic() - self.started)))
            except PostgresConnectionException as e:
                self.cached = ('error', str(e))
        if self.cached[0] == 'error':
            raise PostgresConnectionException(self.cached[1])
        return self.cached[1]


class StubSyncHandler(SyncHandler):
    """Patroni's SyncHandler (its set_synchronous_standby_names as installed, as wrapped) over StubPostgresql;
    both standbys always stream and are eligible, the ones confirmed come from the PostgreSQL stub."""

    def __init__(self, postgresql):
        self._postgresql = postgresql

    def current_state(self, cluster):
        return _SyncState('priority', 2, CaseInsensitiveSet(), self._postgresql.read(), CaseInsensitiveSet(STANDBYS))


STANDBYS = ['pg-b', 'pg-c']


class SyncStubHa:
    """The leader `me` of a cluster whose /sync key names no standby yet (right after bootstrap or a failover)."""

    def __init__(self, confirmed, query_time=0):
        self.events = []
        self.state_handler = StubPostgresql(confirmed, self.events, query_time)
        self.dcs = self
        self.cluster = object()

    def _maybe_enable_synchronous_mode(self):
        return type('Sync', (), {'leader': 'me', 'voters': [], 'version': 1})()

    def write_sync_state(self, leader, sync_standby, quorum, version):
        self.events.append(('/sync', sorted(sync_standby or []), clock.monotonic()))
        return True


def assign_sync(confirmed, run=lambda ha: patroni_ha.Ha._process_multisync_replication(ha), query_time=0):
    """Patroni's _process_multisync_replication on a fresh leader; (seconds from writing postgresql.conf to
    writing /sync, or None when /sync is not written; what /sync names; the leader stub)."""
    ha = SyncStubHa(confirmed, query_time)
    ha.ended = None
    try:
        run(ha)
    finally:
        ha.ended = clock.monotonic()
    kinds = [kind for kind, _, _ in ha.events]
    assert kinds in (['postgresql.conf', '/sync'], ['postgresql.conf']), kinds  # postgresql.conf first, then /sync
    assert ha.events[0][1] == '2 ("pg-b","pg-c")', ha.events[0]
    if len(kinds) == 1:
        return None, None, ha
    return ha.events[1][2] - ha.events[0][2], ha.events[1][1], ha


class StubEtcd3Client:
    """etcd's v3 API as Patroni's Etcd3 uses it to keep its lease and take the leader key; every call takes
    `took[name]` seconds on the fake clock (0.01 s unless told) and succeeds; `calls` records them."""

    ERROR_CLS = patroni_etcd3.Etcd3Error

    def __init__(self, took):
        self.took = took
        self.calls = []

    def configure(self, etcd3):
        pass

    def _call(self, name, result):
        clock.advance(self.took.get(name, 0.01))
        self.calls.append(name)
        return result

    def lease_keepalive(self, lease, retry=None):
        return self._call('lease_keepalive', '4')

    def lease_grant(self, ttl, retry=None):
        return self._call('lease_grant', 'new-lease')

    def put(self, key, value, lease=None, create_revision=None, mod_revision=None, retry=None):
        return self._call('put', {'header': {}})

    def txn(self, compare, success, failure=None, retry=None):
        return self._call('txn', {'succeeded': True})


def etcd3_dcs(retry_timeout, took):
    """Patroni's Etcd3, built by its own __init__ (so with the retry AbstractEtcd.__init__ makes for it, however
    Patroni makes it) over StubEtcd3Client, for retry_timeout, loop_wait 1, ttl 4, holding a lease last refreshed
    more than loop_wait ago."""
    client = StubEtcd3Client(took)
    mpp = type('Mpp', (), {'is_enabled': lambda self: False})()  # no Citus
    get_etcd_client = patroni_etcd3.Etcd3.get_etcd_client
    patroni_etcd3.Etcd3.get_etcd_client = lambda self, config, client_cls: client
    try:
        dcs = patroni_etcd3.Etcd3({'scope': 'atlas', 'name': 'pg-eu', 'ttl': 4, 'loop_wait': 1,
                                   'retry_timeout': retry_timeout, 'patronictl': True}, mpp)
    finally:
        patroni_etcd3.Etcd3.get_etcd_client = get_etcd_client
    dcs._lease = 'lease'
    dcs._last_lease_refresh = clock.time() - 2
    return dcs


def take_leader_lock(retry_timeout, took):
    """Patroni's Etcd3.attempt_to_acquire_leader: (what it returned or the error it raised, the client's calls)."""
    dcs = etcd3_dcs(retry_timeout, took)
    try:
        result = dcs.attempt_to_acquire_leader()
    except patroni_etcd3.Etcd3Error as e:
        result = e
    return result, dcs._abstract_client.calls


def check_leader_lock():
    """Taking the leader lock, and updating it with a new lease, at the loopback retry_timeout of 1 s."""
    patroni_etcd3.time = clock  # Etcd3._do_refresh_lease's clock (Retry's is patroni.utils')
    module = inspect.getsource(patroni_etcd3)  # the method's own source (its decorator does not keep __wrapped__)
    start = module.index('    def attempt_to_acquire_leader(self)')
    source = module[start:module.index('\n    def ', start + 1)]
    assert source.find('_do_refresh_lease') < source.find("ensure_deadline(1, Etcd3Error('attempt_to_acquire_leader") \
        < source.find('_do_attempt_to_acquire_leader'), source
    print('ok: the installed Patroni refreshes the lease, then needs 1 s of retry_timeout left to take the lock')

    # retry_timeout 1: a refresh of 10 ms leaves 0.99 s; Patroni as installed raises here, and no node is ever promoted
    result, calls = take_leader_lock(1, {})
    assert result is not None and not isinstance(result, Exception), (result, calls)
    assert calls == ['lease_keepalive', 'put'], calls
    print('ok: retry_timeout 1: the leader lock is taken after a 10 ms lease refresh (%s)' % ', '.join(calls))

    # the reserve is half the deadline: a refresh that leaves less than 0.5 s still gives up before the put
    result, calls = take_leader_lock(1, {'lease_keepalive': 0.6})
    assert isinstance(result, patroni_etcd3.Etcd3Error) and 'attempt_to_acquire_leader timeout' in str(result), result
    assert calls == ['lease_keepalive'], calls
    print('ok: retry_timeout 1: a refresh taking 0.6 s leaves too little; no put, Patroni\'s error (%s)' % result)

    # from retry_timeout 2 up the reserve is Patroni's 1 s
    for took, taken in ((0.9, True), (1.1, False)):
        result, calls = take_leader_lock(2, {'lease_keepalive': took})
        assert (not isinstance(result, Exception)) == taken and calls == (['lease_keepalive', 'put'] if taken
                                                                          else ['lease_keepalive']), (took, result)
    print('ok: retry_timeout 2: 1 s kept as installed (a 0.9 s refresh takes the lock, a 1.1 s one does not)')

    # a leader whose lease expired gets a new one and moves its leader key onto it (the 1 s check of _update_leader)
    dcs = etcd3_dcs(1, {})
    dcs._abstract_client.lease_keepalive = lambda lease, retry=None: dcs._abstract_client._call('lease_keepalive', None)
    leader = type('Leader', (), {'session': 'lease'})()
    assert dcs._update_leader(leader) is True, dcs._abstract_client.calls
    assert dcs._abstract_client.calls == ['lease_keepalive', 'lease_grant', 'txn'], dcs._abstract_client.calls
    assert dcs._lease == 'new-lease'
    print('ok: retry_timeout 1: a leader with a new lease moves its key onto it (%s)' % ', '.join(dcs._abstract_client.calls))


def check_etcd_request_timeouts():
    """The etcd client's time for a request to one member (and for the member list after a failover to
    another): a third of retry_timeout with three members (at least ETCD_MIN_REQUEST_TIMEOUT), where the
    installed Patroni gives each at least 1 s."""
    module = inspect.getsource(patroni_etcd.AbstractEtcdClientWithFailover)
    assert 'min_timeout = 1.0' in module, 'the installed Patroni no longer has its 1 s floor per etcd request'
    client = type('Client', (), {'read_timeout': 1})()
    installed = loopback._calculate_timeouts_installed
    ours = patroni_etcd.AbstractEtcdClientWithFailover._calculate_timeouts
    assert ours is loopback._calculate_timeouts_loopback
    assert installed(client, 3) == (1, 1.0, 0), installed(client, 3)
    nodes, per_node, retries = ours(client, 3)
    assert (nodes, retries) == (3, 0) and abs(per_node - 1 / 3) < EPS, (nodes, per_node, retries)
    print('ok: retry_timeout 1, three etcd members: %.2f s per request to a member (installed: 1 s)' % per_node)

    # above the floor both agree: a longer retry_timeout is Patroni's own split
    for timeout in (3, 6, 10):
        assert ours(client, 3, timeout) == installed(client, 3, timeout), timeout
    print('ok: from 3 s per pass over three members up, the same split as installed')


class DcsErrorStubHa:
    """What Ha._handle_dcs_error reads of a node, for a primary (running, not paused) with the loopback
    watchdog (ttl 4, safety margin 1: it fences 3 s after the last keepalive); demote() is recorded."""

    def __init__(self, lease_left, watchdog_running=True, primary=True, paused=False, running=True):
        self._leader_expiry = clock.time() + lease_left
        self.demoted = []
        self.failsafe_active = None
        self.keepalives = []
        config = type('WatchdogConfig', (), {'ttl': 4, 'timeout': 3})()
        self.watchdog = type('Watchdog', (), {'active_config': config, 'is_running': watchdog_running,
                                              'keepalive': lambda s: self.keepalives.append(clock.time())})()
        self.paused = paused
        self.state_handler = type('Postgresql', (), {'is_running': lambda s: running,
                                                     'is_primary': lambda s: primary})()
        self._failsafe = type('Failsafe', (), {'set_is_active': lambda s, v: setattr(self, 'failsafe_active', v)})()

    def is_paused(self):
        return self.paused

    def is_failsafe_mode(self):
        return False

    def demote(self, mode):
        self.demoted.append(mode)

    def _sync_replication_slots(self, dcs_failed):
        return []


def check_dcs_error_within_lease():
    """A primary that cannot reach etcd in one loop: kept while its lease holds past the watchdog's margin,
    demoted as installed once it does not."""
    assert patroni_ha.Ha._handle_dcs_error is loopback._handle_dcs_error_within_lease
    handle = patroni_ha.Ha._handle_dcs_error

    # what the rule stands on in the installed Patroni: the expiry is stamped ttl ahead by the same successful
    # update_lock that then feeds the watchdog, and a DCS error is handled by demoting 'offline'
    source = inspect.getsource(patroni_ha.Ha.set_is_leader)
    assert 'self._leader_expiry = time.time() + self.dcs.ttl if value else 0' in source, source
    source = inspect.getsource(patroni_ha.Ha.update_lock)
    assert source.find('self.set_is_leader(ret)') < source.find('if ret:') < source.find('self.watchdog.keepalive()'), \
        source
    assert "self.demote('offline')" in inspect.getsource(loopback._handle_dcs_error)
    print('ok: the installed Patroni stamps the leader expiry ttl ahead, then feeds the watchdog, on each refresh')

    # the installed handling demotes at once, whatever is left of the lease
    ha = DcsErrorStubHa(3.0)
    assert loopback._handle_dcs_error(ha) == 'demoted self because DCS is not accessible and I was a leader'
    assert ha.demoted == ['offline']
    print('ok: the installed Patroni demotes a primary on the first loop that cannot reach etcd, 3 s of lease left')

    # refreshed a loop and a failed retry_timeout ago (2 s of the 4 s lease left): kept, tried again
    ha = DcsErrorStubHa(2.0)
    result = handle(ha)
    assert ha.demoted == [] and result.startswith('DCS is not accessible; still the leader'), (result, ha.demoted)
    assert ha.keepalives == [] and ha._leader_expiry == clock.time() + 2.0  # neither fed nor extended
    print('ok: 2 s of lease left, the watchdog 1 s from fencing: still primary (%s)' % result)

    # within the watchdog's margin (it fences 1 s before the lease ends), without a watchdog, or not primary:
    # Patroni's own handling
    for ha in (DcsErrorStubHa(1.0), DcsErrorStubHa(0.5), DcsErrorStubHa(-1.0),
               DcsErrorStubHa(2.0, watchdog_running=False)):
        assert handle(ha) == 'demoted self because DCS is not accessible and I was a leader' \
            and ha.demoted == ['offline'], ha.demoted
    for ha in (DcsErrorStubHa(2.0, primary=False), DcsErrorStubHa(2.0, paused=True),
               DcsErrorStubHa(2.0, running=False)):
        assert handle(ha) == 'DCS is not accessible' and ha.demoted == [] and ha.keepalives == []
    print('ok: 1 s or less of lease left, or no running watchdog: demoted as installed; standby, paused or stopped: as installed')


class PositionResponse:
    """GET /patroni of a standby: its timeline and WAL positions."""

    def __init__(self, timeline, received, replayed, role='replica'):
        self.status = 200
        self.data = json.dumps({'role': role, 'state': 'running', 'timeline': timeline,
                                'xlog': {'received_location': received, 'replayed_location': replayed}}).encode()


class CatchUpMember:
    def __init__(self, name, nofailover):
        self.name = name
        self.nofailover = nofailover
        self.api_url = 'http://127.0.0.1:1/patroni'
        self.conn_url = 'postgres://127.0.0.1:2/postgres'


class CatchUpCancellable:
    """Postgresql.cancellable: cancelled (Patroni lost the lock) `cancelled_after` s of the fake clock after the
    start, or never."""

    def __init__(self, cancelled_after):
        self.started = clock.monotonic()
        self.cancelled_after = cancelled_after

    @property
    def is_cancelled(self):
        return self.cancelled_after is not None and clock.monotonic() - self.started >= self.cancelled_after


class CatchUpNode:
    """The Postgresql of `pg-eu`, a standby at timeline 5 about to be promoted: its WAL position is `own` until
    it follows another member and its walreceiver has restarted (`restart` s later), then grows by `rate` bytes
    a second of the fake clock (never past `cap`)."""

    def __init__(self, own, rate=0, cap=None, role='replica', restart=0, cancelled_after=None):
        self.name = 'pg-eu'
        self.role = role
        self.own = own
        self.rate = rate
        self.cap = cap
        self.restart = restart
        self.followed_at = None
        self.cancellable = CatchUpCancellable(cancelled_after)

    def get_replica_timeline(self):
        return 5

    def query(self, sql, retry=True):
        assert 'pg_last_wal_receive_lsn' in sql and retry is False, (sql, retry)
        if self.followed_at is None:
            return [(self.own,)]
        grown = self.own + int(self.rate * max(0, clock.monotonic() - self.followed_at - self.restart))
        return [(grown if self.cap is None else min(grown, self.cap),)]


class CatchUpHa:
    """A cluster of pg-eu (the node), pg-us and pg-witness (nofailover): `answers` maps a member's name to its
    GET /patroni (a PositionResponse, or None: refused)."""

    def __init__(self, answers):
        self.answers = answers
        self.patroni = self
        self.cluster = type('C', (), {'members': [CatchUpMember('pg-eu', False), CatchUpMember('pg-us', False),
                                                  CatchUpMember('pg-witness', True)]})()
        self.asked = []

    def request(self, member, timeout, retries):
        assert timeout == loopback.CATCH_UP_ASK_TIMEOUT and retries == 0, (timeout, retries)
        self.asked.append(member.name)
        answer = self.answers.get(member.name)
        if answer is None:
            raise ConnectionRefusedError('refused')
        return answer


def promote_with_catch_up(ha, node):
    """Postgresql.promote as wrapped, on node; returns (seconds until the installed promote ran, who node
    followed and how)."""
    loopback._node['ha'] = ha
    followed = []

    def record_follow(self, member, *args, **kwargs):
        assert self is node
        node.followed_at = clock.monotonic()
        followed.append((member.name, args, kwargs))

    promoted = []
    loopback._postgresql_follow = record_follow
    loopback._promote = lambda self, wait_seconds, task, before_promote=None: \
        promoted.append((clock.monotonic(), wait_seconds, task, before_promote)) or True
    start = clock.monotonic()
    assert loopback._promote_after_catch_up(node, 1, 'task', 'callback') is True
    (at, wait_seconds, task, before_promote), = promoted
    assert (wait_seconds, task, before_promote) == (1, 'task', 'callback')
    return at - start, followed


def check_catch_up_before_promote():
    from patroni.postgresql import Postgresql  # noqa: E402
    source = inspect.getsource(loopback._promote)
    assert "self.pg_ctl('promote'" in source and '_pre_promote' in source, 'Postgresql.promote changed'
    assert Postgresql.promote is loopback._promote_after_catch_up
    print('ok: the installed Postgresql.promote runs pg_ctl promote; it is wrapped')

    MB = 1 << 20
    real_follow, real_promote = loopback._postgresql_follow, loopback._promote
    try:
        # the witness received 2 MB more on this timeline: the node follows it; its walreceiver restarts after
        # 0.5 s (wal_retrieve_retry_interval) and gets them at 10 MB/s; then it promotes
        ha = CatchUpHa({'pg-witness': PositionResponse(5, 102 * MB, 101 * MB)})
        waited, followed = promote_with_catch_up(ha, CatchUpNode(100 * MB, rate=10 * MB, restart=0.5))
        assert followed == [('pg-witness', ('replica',), {'do_reload': True})], followed
        assert 0.7 - EPS <= waited <= 0.7 + loopback.POLL + EPS, waited
        assert ha.asked == ['pg-witness'], ha.asked
        print('ok: a witness 2 MB ahead: the node replicates from it, promotes once it has them (%.2f s)' % waited)

        # what the witness replayed counts too, when more than what its REST API reports received
        waited, followed = promote_with_catch_up(CatchUpHa({'pg-witness': PositionResponse(5, 100 * MB, 101 * MB)}),
                                                 CatchUpNode(100 * MB, rate=10 * MB))
        assert [f[0] for f in followed] == ['pg-witness'] and 0.1 - EPS <= waited <= 0.1 + loopback.POLL + EPS, \
            (followed, waited)
        print('ok: the greater of what the witness received and replayed is the target (%.2f s)' % waited)

        # nothing to receive: behind or level, another timeline, not answering, or not a running standby
        for answer in (PositionResponse(5, 100 * MB, 99 * MB), PositionResponse(4, 102 * MB, 102 * MB),
                       PositionResponse(6, 102 * MB, 102 * MB), None, PositionResponse(5, 0, 0, role='primary')):
            waited, followed = promote_with_catch_up(CatchUpHa({'pg-witness': answer}), CatchUpNode(100 * MB, 10 * MB))
            assert waited == 0 and followed == [], (waited, followed)
        print('ok: a witness behind or level, on another timeline, unreachable or not a standby: promotes at once')

        # a member that may be promoted is not asked (Patroni compared those before taking the lock)
        ha = CatchUpHa({'pg-us': PositionResponse(5, 200 * MB, 200 * MB), 'pg-witness': None})
        waited, followed = promote_with_catch_up(ha, CatchUpNode(100 * MB, 10 * MB))
        assert waited == 0 and followed == [] and ha.asked == ['pg-witness'], (waited, followed, ha.asked)
        print('ok: only nofailover members are asked')

        # the WAL never arrives: promotes anyway after CATCH_UP_LIMIT
        waited, followed = promote_with_catch_up(CatchUpHa({'pg-witness': PositionResponse(5, 102 * MB, 102 * MB)}),
                                                 CatchUpNode(100 * MB, rate=10 * MB, cap=101 * MB))
        assert len(followed) == 1 and loopback.CATCH_UP_LIMIT - EPS <= waited \
            <= loopback.CATCH_UP_LIMIT + loopback.POLL + EPS, (followed, waited)
        print('ok: WAL that never arrives: promotes after %.2f s' % waited)

        # a promote that Patroni cancels (the lock lost) stops waiting, before or during the catch-up
        for cancelled_after in (0, 0.3):
            waited, followed = promote_with_catch_up(
                CatchUpHa({'pg-witness': PositionResponse(5, 102 * MB, 102 * MB)}),
                CatchUpNode(100 * MB, rate=0, cancelled_after=cancelled_after))
            assert len(followed) == 1 and cancelled_after - EPS <= waited <= cancelled_after + loopback.POLL + EPS, \
                (followed, waited)
        print('ok: a promote cancelled before or during the wait stops it then (Patroni\'s promote returns False)')

        # a node already promoted (Patroni's promote returns at once) asks nobody
        for role in ('promoted', 'primary'):
            ha = CatchUpHa({'pg-witness': PositionResponse(5, 102 * MB, 102 * MB)})
            waited, followed = promote_with_catch_up(ha, CatchUpNode(100 * MB, 10 * MB, role=role))
            assert waited == 0 and followed == [] and ha.asked == [], (role, ha.asked)
        print('ok: a node already promoted or primary asks nobody')
    finally:
        loopback._postgresql_follow, loopback._promote = real_follow, real_promote


def main():
    # the fake clock in place of the `time` of the script's waits, Patroni's polling_loop and SyncHandler
    loopback.time = clock
    patroni_utils.time = clock
    patroni_sync.time = clock
    reload_sleep = 0.1  # SyncHandler.set_synchronous_standby_names' own sleep after the reload
    poll = loopback.POLL

    # the sleep being replaced is still in the installed Patroni, after synchronous_standby_names and before the read
    source = inspect.getsource(loopback._process_multisync_replication)
    assigned, slept, read = (source.find(s) for s in (
        'set_synchronous_standby_names(picked)', 'time.sleep(2)',
        'allow_promote = self.state_handler.sync_handler.current_state(self.cluster).sync_confirmed'))
    assert 0 <= assigned < slept < read < source.rfind('write_sync_state(self.state_handler.name, allow_promote'), \
        'Patroni no longer sleeps 2 s before it reads sync_confirmed'
    assert patroni_ha.Ha._process_multisync_replication is loopback._process_multisync_replication_marked
    assert SyncHandler.set_synchronous_standby_names is loopback._set_synchronous_standby_names_noted
    print('ok: the installed Patroni has the 2 s sleep between synchronous_standby_names and /sync; it is wrapped')

    # both standbys confirmed 0.3 s after postgresql.conf: /sync names them then, not 2 s later
    waited, named, ha = assign_sync(lambda t: STANDBYS if t >= 0.3 else [])
    assert waited is not None and 0.3 - EPS <= waited <= 0.3 + poll + EPS and named == STANDBYS, (waited, named)
    assert ha.state_handler.queries > 3, ha.state_handler.queries  # a fresh pg_stat_replication each look
    print('ok: /sync names both standbys once PostgreSQL confirms them (%.2f s after postgresql.conf, %d reads)'
          % (waited, ha.state_handler.queries))

    # never confirmed: the full 2 s, and /sync stays empty, as in Patroni
    waited, named, ha = assign_sync(lambda t: [])
    took = ha.ended - ha.events[0][2]
    assert waited is None and abs(took - (reload_sleep + 2)) < EPS, (waited, took)
    assert max(clock.sleeps[-5:]) <= poll + EPS and ha.state_handler.queries > 30, ha.state_handler.queries
    print('ok: no standby confirmed: waits the whole 2 s (%.2f s), /sync not written' % took)

    # one of the two confirmed: still the full 2 s, then /sync names that one (Patroni's own read decides)
    waited, named, _ = assign_sync(lambda t: ['pg-b'] if t >= 0.3 else [])
    assert waited is not None and abs(waited - (reload_sleep + 2)) < EPS and named == ['pg-b'], (waited, named)
    print('ok: one of two confirmed: waits the whole 2 s (%.2f s), then /sync names that one' % waited)

    def unanswered(t):
        if t >= 0.2:
            raise PostgresConnectionException('PostgreSQL does not answer')
        return []

    # PostgreSQL stops answering during the wait: the rest of the 2 s, then Patroni's own read raises, as before
    ha = None
    try:
        ha = SyncStubHa(unanswered)
        patroni_ha.Ha._process_multisync_replication(ha)
        raise AssertionError('the read after the wait did not raise')
    except PostgresConnectionException:
        pass
    took = clock.monotonic() - ha.events[0][2]
    assert abs(took - (reload_sleep + 2)) < EPS, took
    print('ok: PostgreSQL not answering during the wait: 2 s, then Patroni reports it (%.2f s)' % took)

    # PostgreSQL does not answer for a while: the wait's failed read is cached (as Patroni does), and the
    # read after the wait is a fresh one, which sees both standbys confirmed by then
    def answers_again(t):
        if 0.2 <= t < 1.0:
            raise PostgresConnectionException('PostgreSQL does not answer')
        return STANDBYS if t >= 1.0 else []

    waited, named, ha = assign_sync(answers_again)
    assert abs(waited - (reload_sleep + 2)) < EPS and named == STANDBYS, (waited, named)
    assert ha.state_handler.query_starts[-1] == ha.events[1][2], ha.state_handler.query_starts
    print('ok: after a failed read the read after the wait queries PostgreSQL again (/sync names %s)' % named)

    # a slow PostgreSQL (0.3 s a query): no check starts that would end past the 2 s, so Patroni's own read
    # starts at the 2 s, as after its sleep, and the whole takes 2 s and one query
    waited, named, ha = assign_sync(lambda t: [], query_time=0.3)
    wait_start = ha.events[0][2] + reload_sleep
    starts = ha.state_handler.query_starts
    assert waited is None and all(t + 0.3 <= wait_start + 2 + EPS for t in starts[:-1]), (starts, wait_start)
    assert abs(starts[-1] - (wait_start + 2)) < EPS and abs(ha.ended - (wait_start + 2.3)) < EPS, \
        (starts, wait_start, ha.ended)
    print('ok: with 0.3 s queries the wait starts no check it cannot finish by 2 s (%d checks, %.2f s in all)'
          % (len(starts) - 1, ha.ended - wait_start))

    # reached from process_unhealthy_cluster (enforce_primary_role after a failover): the inner call's wait
    # applies, and the outer mark is back afterwards
    outer_marks = []

    def unhealthy_then_sync(ha):
        outer = loopback._marked.call
        patroni_ha.Ha._process_multisync_replication(ha)
        outer_marks.append(loopback._marked.call is outer)

    waited, named, _ = assign_sync(lambda t: STANDBYS if t >= 0.3 else [],
                                   run=loopback._marking(unhealthy_then_sync, loopback._leader_race_wait))
    assert 0.3 - EPS <= waited <= 0.3 + poll + EPS and named == STANDBYS and outer_marks == [True], \
        (waited, named, outer_marks)
    assert getattr(loopback._marked, 'call', None) is None
    print('ok: inside process_unhealthy_cluster the sync wait applies (%.2f s), then the outer mark again' % waited)

    # the sleep being replaced is still in the installed Patroni, in the branch of a node that may not promote
    source = inspect.getsource(loopback._process_unhealthy_cluster)
    assert 'time.sleep(2)' in source and 'nofailover' in source, \
        'Patroni no longer sleeps 2 s in process_unhealthy_cluster'
    assert patroni_ha.Ha.process_unhealthy_cluster is loopback._process_unhealthy_cluster_marked
    from patroni.postgresql import Postgresql  # noqa: E402
    assert Postgresql.follow is loopback._follow_once_primary
    print('ok: the installed Patroni has the 2 s leader-race sleep; it and Postgresql.follow are wrapped')

    # a new leader that is still promoting is not followed; once it is out of recovery it is, well before the 2 s
    ha = StubHa(lambda t: ('pg-eu', 'replica' if t < 0.4 else 'primary'))
    waited = leader_race_sleep(ha)
    assert 0.4 - EPS <= waited <= 0.4 + poll + EPS, waited
    assert ha.requests > 1
    print('ok: follows once the new leader is primary (waited %.2f s, %d requests)' % (waited, ha.requests))

    # nobody takes the lock: the full 2 s, as Patroni would
    waited = leader_race_sleep(StubHa(lambda t: (None, None)))
    assert abs(waited - 2) < EPS, waited
    print('ok: no new leader: waits the whole 2 s (%.2f s)' % waited)

    # a leader whose REST API refuses, or a lock this node itself holds, does not end the wait
    waited = leader_race_sleep(StubHa(lambda t: ('pg-eu', None)))
    assert abs(waited - 2) < EPS, waited
    waited = leader_race_sleep(StubHa(lambda t: ('me', 'primary')))
    assert abs(waited - 2) < EPS, waited
    print('ok: an unreachable leader or its own lock: waits the whole 2 s')

    # every other sleep in patroni.ha is the real one
    del clock.sleeps[:]
    patroni_ha.time.sleep(0.2)
    assert clock.sleeps == [0.2], clock.sleeps

    def sleeps_inside_marked_call():
        del clock.sleeps[:]
        patroni_ha.time.sleep(0.3)  # inside process_unhealthy_cluster, but not the 2 s one
        return list(clock.sleeps)

    slept = loopback._marking(lambda self: sleeps_inside_marked_call(), loopback._leader_race_wait)(
        StubHa(lambda t: ('pg-eu', 'primary')))
    assert slept == [0.3], slept
    assert getattr(loopback._marked, 'call', None) is None
    assert patroni_ha.time.time() == clock.time() and patroni_ha.time.monotonic() == clock.monotonic()
    print('ok: other sleeps and time functions are untouched')

    # Postgresql.follow re-points replication only once the member is out of recovery
    follows = []
    loopback._postgresql_follow = \
        lambda self, member, *args, **kwargs: follows.append((clock.monotonic(), member, args, kwargs))
    node = type('Pg', (), {'name': 'me'})()

    def follow(ha, member, *args, **kwargs):
        loopback._node['ha'] = ha
        follows.clear()
        start = clock.monotonic()
        loopback._follow_once_primary(node, member, *args, **kwargs)
        (at, followed, passed_args, passed_kwargs), = follows
        return at - start, followed, passed_args, passed_kwargs

    ha = StubHa(lambda t: ('pg-eu', 'replica' if t < 0.4 else 'primary'))
    leader = Leader('pg-eu')
    waited, followed, args, kwargs = follow(ha, leader, 'replica', do_reload=True)
    assert 0.4 - EPS <= waited <= 0.4 + poll + EPS and ha.requests > 1, (waited, ha.requests)
    assert followed is leader and args == ('replica',) and kwargs == {'do_reload': True}
    print('ok: follow() of a promoting leader waits until it is primary (%.2f s), then passes everything on' % waited)

    for member in (None, Leader('me'), Member('me')):
        ha = StubHa(lambda t: ('pg-eu', 'replica'))
        waited, followed, _, _ = follow(ha, member)
        assert waited == 0 and ha.requests == 0 and followed is member, (member, waited, ha.requests)
    waited, _, _, _ = follow(StubHa(lambda t: ('pg-eu', 'primary')), Member('pg-eu'))
    assert waited == 0, waited
    print('ok: follow() of nobody, of itself or of a primary does not wait')

    waited, _, _, _ = follow(StubHa(lambda t: ('pg-eu', None)), Leader('pg-eu'))
    assert abs(waited - 2) < EPS, waited
    print('ok: follow() of a member whose REST API does not answer goes on after 2 s (%.2f s)' % waited)

    # PostgreSQL's start: the installed Patroni still polls pg_isready once a second in both waits
    from patroni import postgresql as patroni_postgresql  # noqa: E402
    from patroni.postgresql import PgIsReadyStatus  # noqa: E402

    port_source = inspect.getsource(loopback._wait_for_port_open)
    startup_source = inspect.getsource(loopback._wait_for_startup)
    assert 'polling_loop(timeout)' in port_source and 'pg_isready()' in port_source, 'wait_for_port_open changed'
    assert 'time.sleep(1)' in startup_source and 'check_startup_state_changed()' in startup_source, \
        'wait_for_startup changed'
    assert patroni_postgresql.polling_loop is loopback._polling_loop and patroni_postgresql.time is not time
    assert Postgresql.wait_for_port_open.__wrapped__ is loopback._wait_for_port_open
    assert Postgresql.wait_for_startup.__wrapped__ is loopback._wait_for_startup
    print('ok: the installed Patroni polls a starting PostgreSQL once a second; both waits are wrapped')

    class StartingPostgresql:
        """A Postgresql whose PostgreSQL opens its port `opens` seconds after the start and accepts connections
        `accepts` seconds after it (None: never); counts pg_isready runs."""

        def __init__(self, opens, accepts):
            self.started = clock.monotonic()
            self.opens = opens
            self.accepts = accepts
            self.checks = 0
            self.cancellable = type('Cancellable', (), {'is_cancelled': False})()
            self.state = PostgresqlState.STARTING

        def now(self):
            return clock.monotonic() - self.started

        def is_running(self):
            return True

        def pg_isready(self):
            self.checks += 1
            if self.now() < self.opens:
                return PgIsReadyStatus.NO_RESPONSE
            accepting = self.accepts is not None and self.now() >= self.accepts
            return PgIsReadyStatus.RUNNING if accepting else PgIsReadyStatus.REJECT

        def is_starting(self):
            return self.state == PostgresqlState.STARTING

        def check_startup_state_changed(self):  # Patroni's, as far as wait_for_startup sees it
            if self.pg_isready() == PgIsReadyStatus.RUNNING:
                self.state = PostgresqlState.RUNNING
                return True
            return False

        def time_in_state(self):
            return self.now()

    class Postmaster:
        def is_running(self):
            return True

    def timed(f, *args):
        start = clock.monotonic()
        del clock.sleeps[:]
        result = f(*args)
        return result, clock.monotonic() - start

    # the port opens 0.3 s after the start, connections are accepted 0.3 s after that: each wait ends within 0.1 s
    pg = StartingPostgresql(0.3, 0.6)
    opened, waited = timed(Postgresql.wait_for_port_open, pg, Postmaster(), 10)
    assert opened is True and 0.3 - EPS <= waited <= 0.4 + EPS and pg.checks > 2, (opened, waited, pg.checks)
    assert set(clock.sleeps) == {loopback.STARTUP_POLL}, clock.sleeps
    started, waited_more = timed(Postgresql.wait_for_startup, pg, 10)
    assert started is True and 0.6 - EPS <= waited + waited_more <= 0.7 + EPS, (started, waited, waited_more)
    assert set(clock.sleeps) == {loopback.STARTUP_POLL}, clock.sleeps
    print('ok: a starting PostgreSQL is seen running within 0.1 s (port %.2f s, accepting %.2f s after the start)'
          % (waited, waited + waited_more))

    # never accepting: wait_for_startup still gives up at its timeout, not before
    result, waited = timed(Postgresql.wait_for_startup, StartingPostgresql(0, None), 0.5)
    assert result is None and 0.5 < waited <= 0.6 + EPS, (result, waited)
    # PostgreSQL's other 1 s sleeps (stop) are the real ones, and so is polling_loop elsewhere
    _, slept = timed(patroni_postgresql.time.sleep, 1)
    assert slept == 1 and clock.sleeps == [1], (slept, clock.sleeps)
    assert [i for i, _ in zip(patroni_postgresql.polling_loop(0.5), range(3))] == [0]
    assert getattr(loopback._starting, 'depth', 0) == 0
    print('ok: a PostgreSQL that never accepts: wait_for_startup gives up at its timeout; other sleeps untouched')

    # PostgreSQL is started through the small launcher: PostmasterProcess.start as installed, its intermediate
    # process without multiprocessing's spawn (a new interpreter importing Patroni again)
    import tempfile  # noqa: E402

    from patroni.postgresql import postmaster as patroni_postmaster  # noqa: E402

    start_source = inspect.getsource(patroni_postmaster.PostmasterProcess.start)
    assert "multiprocessing.get_context('spawn')" in start_source and 'target=pg_ctl_start' in start_source \
        and 'args=(child_conn, cmdline, env)' in start_source, 'PostmasterProcess.start no longer spawns pg_ctl_start'
    assert patroni_postmaster.multiprocessing.get_context('spawn').__class__ is loopback._PostmasterSpawnContext
    assert patroni_postmaster.multiprocessing.get_context('fork').__class__.__name__ == 'ForkContext'
    print('ok: the installed Patroni spawns an interpreter to start the postmaster; the launcher replaces it')

    with tempfile.TemporaryDirectory() as scratch:
        fake_postgres = os.path.join(scratch, 'postgres')
        seen = os.path.join(scratch, 'seen')
        with open(fake_postgres, 'w') as f:
            # what the postmaster would see: its arguments, environment, session and open descriptors
            f.write('#!/bin/sh\nfind /proc/$$/fd -mindepth 1 -printf "%%l\\n" > %s.fds\n'
                    '{ echo "$@"; env; echo "sid=$(ps -o sid= -p $$)"; } > %s.tmp\nmv %s.tmp %s\nexec sleep 30\n'
                    % (seen, seen, seen, seen))
        os.chmod(fake_postgres, 0o755)
        os.environ['ATLAS_CHECK_VISIBLE'] = 'yes'
        os.environ['PATRONI_CHECK_HIDDEN'] = 'no'
        start = time.monotonic()
        postmaster = patroni_postmaster.PostmasterProcess.start(fake_postgres, scratch, '/dev/null', ['--port=5432'])
        took = time.monotonic() - start
        try:
            assert postmaster is not None and postmaster.is_running()
            deadline = time.monotonic() + 5
            while not os.path.exists(seen) and time.monotonic() < deadline:
                time.sleep(0.02)
            lines = open(seen).read().split('\n')
            assert lines[0] == '-D %s --config-file=/dev/null --port=5432' % scratch, lines[0]
            assert 'ATLAS_CHECK_VISIBLE=yes' in lines
            assert not any(line.startswith('PATRONI_CHECK_HIDDEN') for line in lines)
            sid = int(next(line for line in lines if line.startswith('sid=')).split('=')[1])
            assert sid not in (os.getsid(0), postmaster.pid), sid  # the launcher's own session, left behind
            assert postmaster.ppid() != os.getpid()  # not this process's child
            # Patroni's stdio and the script the shell reads; not the pipe the pid was reported through
            fds = set(line for line in open(seen + '.fds').read().split('\n') if line)
            inherited = set(os.readlink('/proc/self/fd/%d' % fd) for fd in (0, 1, 2)) | {seen + '.fds', fake_postgres}
            assert fds <= inherited, (fds, inherited)
        finally:
            postmaster.kill()
        assert patroni_postmaster.PostmasterProcess.start(os.path.join(scratch, 'missing'), scratch, '/dev/null', []) \
            is None
    print('ok: the postmaster starts detached in a session of its own with its arguments and environment '
          '(%.2f s), a failed start returns None' % took)

    # the launcher itself cannot be started: logged, start returns None (as when postgres cannot be), and
    # no descriptor of the pipe is left open
    import gc  # noqa: E402

    def refuses(*args, **kwargs):
        raise OSError('no launcher')

    real_subprocess = loopback.subprocess
    loopback.subprocess = type('NoLauncher', (), {'Popen': staticmethod(refuses)})()
    try:
        # the launcher closes its (writing) end itself, once None is sent, as pg_ctl_start does
        ctx = patroni_postmaster.multiprocessing.get_context('spawn')
        parent_conn, child_conn = ctx.Pipe(False)
        ctx.Process(target=patroni_postmaster.pg_ctl_start, args=(child_conn, ['/bin/true'], {})).start()
        assert child_conn.closed and parent_conn.recv() is None
        parent_conn.close()
        gc.collect()
        fds_before = sorted(os.listdir('/proc/self/fd'))
        with tempfile.TemporaryDirectory() as scratch:
            assert patroni_postmaster.PostmasterProcess.start('/bin/true', scratch, '/dev/null', []) is None
        gc.collect()
        fds_after = sorted(os.listdir('/proc/self/fd'))
    finally:
        loopback.subprocess = real_subprocess
    assert fds_after == fds_before, (fds_before, fds_after)
    print('ok: a launcher that cannot start: start returns None and both ends of the pipe are closed')

    # the spawn context's Process for any other target is multiprocessing's own (a real spawned process)
    ctx = patroni_postmaster.multiprocessing.get_context('spawn')
    parent_conn, child_conn = ctx.Pipe(False)
    assert isinstance(ctx.Process(target=patroni_postmaster.pg_ctl_start, args=(child_conn, [], {})),
                      loopback._PostmasterLauncher)
    proc = ctx.Process(target=spawned_target, args=(child_conn,))
    assert not isinstance(proc, loopback._PostmasterLauncher), proc
    proc.start()
    child_conn.close()
    message = parent_conn.recv()
    proc.join()
    parent_conn.close()
    assert message.startswith('spawned ') and message != 'spawned %d' % os.getpid() and proc.exitcode == 0, \
        (message, proc.exitcode)
    print('ok: the spawn context runs any other target in a real spawned process (%s)' % message)

    check_leader_lock()
    check_etcd_request_timeouts()
    check_dcs_error_within_lease()
    check_catch_up_before_promote()


# a spawned process (the last check) imports this file again as __mp_main__: the checks run only here
if __name__ == '__main__':
    main()
