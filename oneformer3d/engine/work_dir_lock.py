"""One training run per work dir: ``<work_dir>/run.lock``.

Two ``tools/train.py`` runs in one work dir interleave their logs, overwrite each other's
checkpoints and append two ``metrics.csv`` rows. :class:`WorkDirLock` creates the lock file
atomically (``O_CREAT | O_EXCL``) holding the owner's pid, host, start time and command; a
second run stops with an error naming them. A lock left by a process that no longer exists on
this host (a killed run) is reported and taken over; a lock of another host cannot be checked
and is refused with the path to delete once that run is known to be gone.
"""
import json
import logging
import os
import os.path as osp
import socket
import sys
import time

LOCK_NAME = 'run.lock'


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # exists, owned by another user
        return True
    return True


class WorkDirLock:
    """Context manager holding ``<work_dir>/run.lock`` for the duration of a run.

    Raises:
        RuntimeError: (on enter) another live run holds the lock, or a lock of another host
            or an unreadable lock file is there; the message names the owner and the file.
    """

    def __init__(self, work_dir: str):
        self.path = osp.join(work_dir, LOCK_NAME)
        self.owner = dict(pid=os.getpid(), host=socket.gethostname(),
                          start=time.strftime('%Y-%m-%d %H:%M:%S'),
                          command=' '.join(sys.argv))
        self.held = False

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as fh:
            json.dump(self.owner, fh)
        return True

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> 'WorkDirLock':
        """Take the lock (see the class docstring for the errors)."""
        os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
        for _ in range(3):      # a stale lock removed by a concurrent run: try again
            if self._create():
                self.held = True
                return self
            try:
                with open(self.path) as fh:
                    other = json.load(fh)
                pid, host = int(other['pid']), str(other['host'])
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise RuntimeError(f'{self.path}: unreadable run lock ({err}); delete it if no '
                                   f'other run uses this work dir') from None
            if host == self.owner['host'] and not _alive(pid):
                logging.getLogger('oneformer3d').warning(
                    f'{self.path}: stale lock of a run that no longer exists (pid {pid}, '
                    f'started {other.get("start")}: {other.get("command", "")}); taking it '
                    f'over')
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            where = 'this host' if host == self.owner['host'] else f'host {host}'
            raise RuntimeError(
                f'{self.path}: another run uses this work dir (pid {pid} on {where}, started '
                f'{other.get("start")}: {other.get("command", "")}). Wait for it to finish, '
                f'choose another --work-dir, or delete the lock file if that run is gone')
        raise RuntimeError(f'{self.path}: could not take the run lock (other runs keep '
                           f'taking it)')

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self.held:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            self.held = False
