#!/usr/bin/env python3
"""A software watchdog for one Patroni node of Atlas's local world.

Patroni fences a primary it can no longer vouch for through a watchdog device: it
arms the device when it takes the leader lock, sends a keepalive on every HA loop,
and disarms it (magic close) when it steps down or stops cleanly. If Patroni dies
or freezes while leading, the keepalives stop and the watchdog resets the machine
before the leader lease expires, so the orphaned PostgreSQL can never accept a write
after another node was promoted. A laptop has no watchdog device to spare, so this
process plays one: Patroni's own "testing" watchdog driver writes the device
protocol into a FIFO we read ("Ctimeout=N", "1" keepalive, "V" magic close), and a
"reset" is a SIGKILL of this node's PostgreSQL (the postmaster and its children).

It starts Patroni as its child, in a process group of its own (so a fault aimed at
Patroni alone does not reach the watchdog), forwards SIGTERM/SIGINT to it, and
exits with Patroni's status. Standard library only.

usage: patroni-softdog.py --device FIFO --data-dir PGDATA -- patroni CONFIG
"""
import argparse
import errno
import os
import select
import signal
import subprocess
import sys
import time


def log(message):
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} softdog: {message}", file=sys.stderr, flush=True)


def postmaster_pid(data_dir):
    try:
        with open(os.path.join(data_dir, 'postmaster.pid')) as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError):
        return None
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            if data_dir.encode() not in f.read():
                return None
    except OSError:
        return None
    return pid


def children_of(pid):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split(' ')
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry))
    return found


def reset_postgres(data_dir):
    """What a watchdog reset does to this node's database: every PostgreSQL process dies at once."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        log('watchdog expired; PostgreSQL is not running')
        return
    victims = [pid] + children_of(pid)
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log(f'watchdog expired: PostgreSQL killed (postmaster {pid} and {len(victims) - 1} children)')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--device', required=True)
    parser.add_argument('--data-dir', required=True)
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    if not command:
        parser.error('the Patroni command is missing')

    try:
        os.mkfifo(args.device, 0o600)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise
    # read-write: Patroni's open(O_WRONLY) never blocks, and its close is no EOF to us
    fd = os.open(args.device, os.O_RDWR | os.O_NONBLOCK)

    child = subprocess.Popen(command, start_new_session=True)

    def forward(signum, _frame):
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    armed = False
    timeout = 60.0
    last_keepalive = time.monotonic()
    pending = b''
    while True:
        status = child.poll()
        if status is not None:
            if armed:
                log(f'Patroni exited ({status}) while the watchdog was armed')
                reset_postgres(args.data_dir)
            os.close(fd)
            sys.exit(status if status >= 0 else 128 - status)
        try:
            readable, _, _ = select.select([fd], [], [], 0.1)
        except InterruptedError:
            continue
        if readable:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                data = b''
            pending += data
            while pending:
                if pending[:1] == b'C':
                    end = pending.find(b'\n')
                    if end < 0:
                        break
                    line = pending[1:end].decode(errors='replace')
                    pending = pending[end + 1:]
                    if line.startswith('timeout='):
                        timeout = float(line.split('=', 1)[1])
                        armed, last_keepalive = True, time.monotonic()
                        log(f'armed with a {timeout:g} s timeout')
                elif pending[:1] == b'V':
                    pending = pending[1:]
                    if armed:
                        log('disarmed (magic close)')
                    armed = False
                else:
                    pending = pending[1:]
                    armed, last_keepalive = True, time.monotonic()
        if armed and time.monotonic() - last_keepalive > timeout:
            log(f'no keepalive for {time.monotonic() - last_keepalive:.1f} s')
            reset_postgres(args.data_dir)
            armed = False


if __name__ == '__main__':
    main()
