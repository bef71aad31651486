#!/usr/bin/env python3
"""moto's server (S3/SQS/IAM emulator) with its state kept on disk, for Atlas's local world.

moto_server keeps everything in memory: a stopped or crashed emulator comes back
empty. This runs the same WSGI application moto_server runs, and keeps its state in
<state-dir> as a snapshot plus a write-ahead journal:

- journal: every mutating request (PUT, POST, DELETE, PATCH; not SQS ReceiveMessage,
  not /moto-api) that moto answered with a status below 400 is appended to
  journal-<generation>.jsonl (and flushed to the kernel) *before* the answer goes
  back to the client. A process crash (SIGKILL) therefore loses no acknowledged
  write; a machine crash can lose the journal's unsynced tail.
- snapshot: moto's backends (the services listed in --services) pickled to
  snapshot.pickle (written to a temporary file, fsynced, renamed), taken at start
  (after the journal was replayed), on SIGTERM/SIGINT, and whenever the journal grows
  past --compact-bytes. It records which journal generation follows it, so a crash
  between the rename and the removal of old journals replays nothing twice.
  The one taken when the journal grows is written by a forked child from its
  copy-on-write image of the state, as Redis's BGSAVE does: the server holds its
  write lock only to start a new journal and fork, not while the state is pickled
  (which took 5 s at 130 MB, and every request waited for it). A clean stop ends a
  writer still running and writes the last snapshot itself; a writer dies with its
  server, and one that runs past WRITER_TIMEOUT_SECONDS is killed.

At start: load the snapshot, replay the newer journals through the application in
order (no network), take a snapshot, serve. What a crash changes: objects and
messages written after the last snapshot come back with new version ids, message ids
and timestamps (same keys, bodies and order); an SQS message deleted after the last
snapshot is delivered again (its receipt handle does not exist any more at replay);
receive counts and visibility timeouts since the last snapshot are forgotten.

A readers-writer lock keeps the snapshot consistent: requests share it, a snapshot
(or the fork of its writer) takes it alone. SQS ReceiveMessage (a long poll may wait
20 s) runs outside it.

With --tls-port, the same application (same state) is also served over HTTPS with
--tls-cert/--tls-key, for clients that refuse plain HTTP (pgBackRest's S3 repository).

usage: moto-persistent.py --state-dir DIR [--services s3,sqs,iam] [--tls-port N --tls-cert F --tls-key F] -H HOST -p PORT
"""
import argparse
import base64
import copyreg
import ctypes
import gc
import io
import json
import os
import pickle
import re
import signal
import sys
import threading
import time
import warnings

SNAPSHOT = 'snapshot.pickle'
MUTATING = {'PUT', 'POST', 'DELETE', 'PATCH'}


def log(message):
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} moto-persistent: {message}", file=sys.stderr, flush=True)


def register_reducers():
    """Locks and conditions are recreated empty; S3's versioned key store keeps every version."""
    import _thread
    from moto.s3.utils import _VersionedKeyStore

    copyreg.pickle(_thread.LockType, lambda _l: (threading.Lock, ()))
    copyreg.pickle(type(threading.RLock()), lambda _l: (threading.RLock, ()))
    copyreg.pickle(threading.Condition, lambda _c: (threading.Condition, ()))
    # a dict subclass whose __setitem__ appends a version: the default reduction would keep only the newest
    copyreg.pickle(_VersionedKeyStore, lambda s: (_rebuild_versioned, ([(k, list(v)) for k, v in dict.items(s)],)))


def _rebuild_versioned(items):
    from moto.s3.utils import _VersionedKeyStore

    store = _VersionedKeyStore()
    for key, versions in items:
        dict.__setitem__(store, key, versions)
    return store


class RWLock:
    """Many readers or one writer; a waiting writer keeps new readers out (no starvation)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    def acquire_read(self):
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self):
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    def acquire_write(self):
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True

    def release_write(self):
        with self._cond:
            self._writer = False
            self._cond.notify_all()


class Store:
    def __init__(self, state_dir, services, compact_bytes):
        self.dir = state_dir
        self.services = services
        self.compact_bytes = compact_bytes
        self.lock = RWLock()
        self.append_lock = threading.Lock()
        self.generation = 0
        self.journal = None
        self.journal_bytes = 0
        self.compacting = False
        # the thread that forks the snapshot writer and waits for it, while one runs
        self.writer = None
        self.stopping = False

    def _journal_path(self, generation):
        return os.path.join(self.dir, f'journal-{generation:08d}.jsonl')

    def _journals(self):
        found = []
        for name in os.listdir(self.dir):
            if name.startswith('journal-') and name.endswith('.jsonl'):
                try:
                    found.append(int(name[len('journal-'):-len('.jsonl')]))
                except ValueError:
                    pass
        return sorted(found)

    def _backends(self):
        from moto.backends import get_backend

        return {name: get_backend(name) for name in self.services}

    def load(self, app):
        os.makedirs(self.dir, exist_ok=True)
        for name in os.listdir(self.dir):
            # a snapshot that was being written when its writer died: the snapshot and journals before it stand
            if name.startswith(SNAPSHOT + '.') and name.endswith('.tmp'):
                os.remove(os.path.join(self.dir, name))
        path = os.path.join(self.dir, SNAPSHOT)
        next_generation = 0
        if os.path.exists(path):
            started = time.time()
            with open(path, 'rb') as f:
                saved = pickle.load(f)
            next_generation = saved['next_journal']
            backends = self._backends()
            for name, service in saved['services'].items():
                if name in backends:
                    backends[name].update(service['accounts'])
                    # state kept beside the accounts, e.g. S3's global bucket namespace (bucket -> account)
                    for attr, value in service['attrs'].items():
                        setattr(backends[name], attr, value)
            log(f'loaded {path} in {time.time() - started:.2f} s')
        replayed = failed = 0
        for generation in self._journals():
            journal = self._journal_path(generation)
            if generation < next_generation:
                os.remove(journal)  # already folded into the snapshot
                continue
            with open(journal, 'rb') as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        break  # a torn last line: the request it records was never acknowledged
                    status = replay(app, entry)
                    replayed += 1
                    failed += status >= 400
            next_generation = generation + 1
        if replayed:
            log(f'replayed {replayed} journalled requests ({failed} answered >= 400, e.g. deletes of receipt handles that no longer exist)')
        self.generation = next_generation
        self.snapshot()

    def _next_journal(self):
        """Under the write lock: close the journal, start the next generation (the first at start-up)."""
        if self.journal is not None:
            self.journal.close()
            self.generation += 1
        self.journal = open(self._journal_path(self.generation), 'ab')
        self.journal_bytes = self.journal.tell()

    def snapshot(self):
        """In this process, under the write lock: pickle, write (write_snapshot), start a new journal generation."""
        self.lock.acquire_write()
        try:
            started = time.time()
            self._next_journal()
            data = None
            for attempt in range(5):
                try:
                    data = pickle.dumps(snapshot_state(self._backends(), self.generation), protocol=pickle.HIGHEST_PROTOCOL)
                    break
                except RuntimeError:
                    # an SQS long poll (outside the lock) changed a queue while it was pickled
                    time.sleep(0.05 * (attempt + 1))
            if data is not None:
                write_snapshot(self.dir, data, self.generation, self._journals())
                log(f'snapshot of {len(data)} bytes in {time.time() - started:.2f} s')
            else:
                log('snapshot skipped: state kept changing; the journal still holds everything')
        finally:
            self.lock.release_write()

    def snapshot_in_background(self):
        """
        Under the write lock only long enough to start the next journal and fork: the child pickles its
        copy-on-write image of the state (frozen at the fork, with no request half-applied: the lock
        keeps them out) and writes it as snapshot() does, while this process goes on serving and
        journalling into the new generation. A child that fails leaves the old snapshot and every
        journal in place, so nothing is lost; the next compaction tries again.
        """
        self.lock.acquire_write()
        try:
            if self.stopping:
                return
            started = time.time()
            self._next_journal()
            generation = self.generation
            journals = [g for g in self._journals() if g < generation]
            backends = self._backends()
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                os._exit(snapshot_writer(self.dir, backends, generation, journals, parent))
        finally:
            self.lock.release_write()
        held = time.time() - started
        # waited for in this thread: the child's PR_SET_PDEATHSIG fires when the thread that forked it ends
        code = self._wait_for_writer_process(pid, started + WRITER_TIMEOUT_SECONDS)
        if code == 0:
            log(f'snapshot written by process {pid} in {time.time() - started:.2f} s (requests held for {held:.3f} s)')
        else:
            try:
                os.remove(os.path.join(self.dir, f'{SNAPSHOT}.{pid}.tmp'))
            except FileNotFoundError:
                pass
            log(f'snapshot by process {pid} ended without writing it (exit {code}): the journal still holds everything')

    def _wait_for_writer_process(self, pid, deadline):
        """The writer's exit code; it is killed past the deadline, or once the server stops (stop() writes its own)."""
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if self.stopping or time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)

    def stop(self):
        """
        The last snapshot, at SIGTERM/SIGINT: no compaction starts after this (requests in flight may still
        append), one under way is ended (its writer killed: it would fold in less than this one), then
        snapshot() in this process.
        """
        with self.append_lock:
            self.stopping = True
            writer = self.writer
        if writer is not None:
            writer.join()
        self.snapshot()

    def append(self, entry):
        line = (json.dumps(entry, separators=(',', ':')) + '\n').encode()
        with self.append_lock:
            self.journal.write(line)
            self.journal.flush()
            self.journal_bytes += len(line)
            if self.journal_bytes > self.compact_bytes and not self.compacting and not self.stopping:
                self.compacting = True
                # started under the lock: stop() either sees this thread or keeps it from being made
                self.writer = threading.Thread(target=self._compact, daemon=True)
                self.writer.start()

    def _compact(self):
        try:
            self.snapshot_in_background()
        except Exception as error:  # noqa: BLE001 - e.g. fork refused: the journal keeps growing, nothing is lost
            log(f'snapshot not taken: {error}')
        finally:
            self.compacting = False


def snapshot_state(backends, generation):
    """What a snapshot holds: the journal generation that follows it, and every service's accounts and attrs."""
    return {'next_journal': generation, 'services': {n: {'accounts': dict(b), 'attrs': extra_attrs(b)} for n, b in backends.items()}}


def write_snapshot(state_dir, data, generation, journals):
    """snapshot.pickle replaced atomically (a temporary file of this process's own, fsynced, renamed, the directory
    fsynced), then the journals it folds in (generations below `generation`) removed."""
    tmp = os.path.join(state_dir, f'{SNAPSHOT}.{os.getpid()}.tmp')
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(state_dir, SNAPSHOT))
    dir_fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    for g in journals:
        if g < generation:
            try:
                os.remove(os.path.join(state_dir, f'journal-{g:08d}.jsonl'))
            except FileNotFoundError:
                pass


PR_SET_PDEATHSIG = 1
# bound here, not in the forked child: dlopen and dlsym take the loader's lock, which another thread may hold at the fork
PRCTL = ctypes.CDLL(None, use_errno=True).prctl
# a writer that takes longer is killed (the journal still holds everything; the next compaction tries again)
WRITER_TIMEOUT_SECONDS = 300


def snapshot_writer(state_dir, backends, generation, journals, parent):
    """
    The forked child of snapshot_in_background(): the only thread here, holding no lock of the server's
    threads, so it neither logs (stderr's lock may be held) nor imports. It dies with the server
    (PR_SET_PDEATHSIG), so a stale writer can never replace the snapshot of a server started after
    it. Its exit code is its result.
    """
    try:
        # the sockets of the server's requests are the server's to close
        # no finalizer of the server's objects runs here (one could close a descriptor number reused below)
        gc.disable()
        os.closerange(3, os.sysconf('SC_OPEN_MAX'))
        if PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != parent:
            return 3
        if os.environ.get('ATLAS_MOTO_SNAPSHOT_PAUSE'):
            # tests: the writer stops itself, so that a test sees the server serve while a snapshot is being written
            os.kill(os.getpid(), signal.SIGSTOP)
        data = pickle.dumps(snapshot_state(backends, generation), protocol=pickle.HIGHEST_PROTOCOL)
        write_snapshot(state_dir, data, generation, journals)
        return 0
    except BaseException:  # noqa: BLE001 - any failure: exit non-zero, the server says so
        return 1


BACKEND_DICT_ATTRS = {'backend', 'service_name', '_use_boto3_regions', '_additional_regions'}


def extra_attrs(backend_dict):
    """What a BackendDict subclass keeps besides its accounts (S3BackendDict: bucket_accounts)."""
    return {k: v for k, v in vars(backend_dict).items() if k not in BACKEND_DICT_ATTRS}


def is_long_poll(environ, body):
    target = environ.get('HTTP_X_AMZ_TARGET', '')
    return target.endswith('.ReceiveMessage') or b'Action=ReceiveMessage' in body


READ_ONLY_ACTION = re.compile(rb'(^|&)Action=(Get|List|Describe)')


def is_read_only(environ, body):
    """SQS and IAM reads that travel as POST: nothing to journal."""
    action = environ.get('HTTP_X_AMZ_TARGET', '').rpartition('.')[2]
    return action.startswith(('Get', 'List', 'Describe')) or bool(READ_ONLY_ACTION.search(body))


def replay(app, entry):
    environ = dict(entry['environ'])
    body = base64.b64decode(entry['body'])
    environ.update({'wsgi.input': io.BytesIO(body), 'wsgi.errors': sys.stderr, 'wsgi.version': (1, 0), 'wsgi.multithread': False, 'wsgi.multiprocess': False, 'wsgi.run_once': False, 'CONTENT_LENGTH': str(len(body))})
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(int(s.split()[0]))
        return lambda _data: None

    try:
        result = app(environ, start_response)
        for _chunk in result:
            pass
        if hasattr(result, 'close'):
            result.close()
    except Exception as error:  # noqa: BLE001 - one bad entry must not stop the rest
        log(f"replay of {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} failed: {error}")
        return 500
    return status[0] if status else 500


class PersistentApp:
    def __init__(self, app, store):
        self.app = app
        self.store = store

    def __call__(self, environ, start_response):
        method = environ.get('REQUEST_METHOD', 'GET')
        if method not in MUTATING or environ.get('PATH_INFO', '').startswith('/moto-api'):
            return self._shared(environ, start_response)
        # the whole body, so that it can be journalled (chunked uploads arrive de-chunked from werkzeug)
        length = environ.get('CONTENT_LENGTH')
        stream = environ['wsgi.input']
        body = stream.read(int(length)) if length else stream.read()
        environ['wsgi.input'] = io.BytesIO(body)
        environ['CONTENT_LENGTH'] = str(len(body))
        environ.pop('HTTP_TRANSFER_ENCODING', None)
        if is_long_poll(environ, body):
            return self.app(environ, start_response)
        if is_read_only(environ, body):
            return self._shared(environ, start_response)
        self.store.lock.acquire_read()
        try:
            status, headers, chunks = self._buffered(environ)
            if int(status.split()[0]) < 400:
                saved = {k: v for k, v in environ.items() if isinstance(v, str) and not k.startswith('werkzeug.') and not k.startswith('wsgi.')}
                saved['wsgi.url_scheme'] = environ.get('wsgi.url_scheme', 'http')
                self.store.append({'environ': saved, 'body': base64.b64encode(body).decode('ascii')})
        finally:
            self.store.lock.release_read()
        start_response(status, with_length(headers, chunks, method))
        return [chunks]

    def _shared(self, environ, start_response):
        self.store.lock.acquire_read()
        try:
            status, headers, chunks = self._buffered(environ)
        finally:
            self.store.lock.release_read()
        start_response(status, with_length(headers, chunks, environ.get('REQUEST_METHOD')))
        return [chunks]

    def _buffered(self, environ):
        """moto's answer, whole: (status, headers, body)."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured['status'], captured['headers'] = status, headers
            return lambda _data: None

        result = self.app(environ, capture)
        try:
            chunks = b''.join(result)
        finally:
            if hasattr(result, 'close'):
                result.close()
        return captured['status'], captured['headers'], chunks


def with_length(headers, body, method):
    """An explicit Content-Length keeps HTTP/1.1 connections open: pgBackRest's S3 client reads an answer
    without one (which werkzeug ends by closing the connection) as a TLS error."""
    if method == 'HEAD' or any(k.lower() == 'content-length' for k, _v in headers):
        return headers
    return [*headers, ('Content-Length', str(len(body)))]


def close_tls(server, request):
    """werkzeug closes every connection after one answer; over TLS it must say so (close_notify) first, or
    OpenSSL 3 clients (pgBackRest) report the close as "unexpected eof while reading"."""
    try:
        request.settimeout(1)
        request.unwrap()
    except OSError:
        pass
    server.close_request(request)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--state-dir', required=True)
    parser.add_argument('--services', default='s3,sqs,iam')
    parser.add_argument('--compact-bytes', type=int, default=64 * 1024 * 1024)
    parser.add_argument('--tls-port', type=int)
    parser.add_argument('--tls-cert')
    parser.add_argument('--tls-key')
    parser.add_argument('-H', '--host', default='127.0.0.1')
    parser.add_argument('-p', '--port', type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault('MOTO_PORT', str(args.port))

    register_reducers()
    # Python 3.12+ warns of fork() in a threaded process: the snapshot writer uses no lock of another thread
    warnings.filterwarnings('ignore', message=r'.*fork\(\).*', category=DeprecationWarning)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    store = Store(os.path.abspath(args.state_dir), [s for s in args.services.split(',') if s], args.compact_bytes)
    store.load(app)
    wrapped = PersistentApp(app, store)

    servers = [make_server(args.host, args.port, wrapped, threaded=True)]
    if args.tls_port:
        tls = make_server(args.host, args.tls_port, wrapped, threaded=True, ssl_context=(args.tls_cert, args.tls_key))
        tls.shutdown_request = lambda request, server=tls: close_tls(server, request)
        servers.append(tls)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    log(f"serving on {args.host}:{args.port}{f' and https on {args.tls_port}' if args.tls_port else ''}, state in {store.dir}")
    stop.wait()
    for s in servers:
        s.shutdown()
    store.stop()
    log('stopped')


if __name__ == '__main__':
    main()
