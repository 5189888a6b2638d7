"""Output files that never destroy an input and are written all or nothing.

Every command that writes files declares them first (:meth:`OutputFiles.add`): a destination
that is one of the command's inputs (by path, by symlink or by inode), a directory, an existing
file without write permission (read-only: a user's sign that it must not be replaced, honoured
even for root), a file in a folder that does not exist or cannot be written, or the same file
named twice is refused before any work is done. The command then produces each file into a
temporary file (:meth:`OutputFiles.writing`), and only when every file of the command is
complete are they moved into place (:meth:`OutputFiles.commit`). A failure or Ctrl-C before
that removes the temporary files and leaves every existing file untouched.

Committing is all or nothing too. Destinations that exist and are not regular files
(``/dev/null``, ``/dev/stdout``, a FIFO) are written in place, never replaced, and they are
written first: a write error there (``/dev/full``) becomes an :class:`~eiesim.errors.OutputError`
before any regular file is touched. Regular files are then renamed into place one by one, each
file they replace kept as a hard link (or renamed aside where the file system has no hard
links) until all are in place; a failure or Ctrl-C half-way puts every replaced file back and
removes the new ones.

A symlink destination is written *through*: its target is replaced (the temporary file is made
next to the target, so the rename stays within one file system) and the link stays a link, as
``> link`` in a shell would. A destination that is the command's own stdout or stderr
(``/dev/stdout``, ``/dev/fd/1``, or the file stdout was redirected to) is written in place
through the open descriptor, before anything printed afterwards.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with OutputFiles(inputs=[]) as outputs:
...     target = outputs.add(folder / "out.txt", "--out")
...     with outputs.writing(target) as temporary:
...         _ = temporary.write_text("done")
...     written = outputs.commit()
>>> (folder / "out.txt").read_text(), sorted(p.name for p in folder.iterdir())
('done', ['out.txt'])
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from eiesim.errors import OutputError

# A destination that is this process's own stdout or stderr (/dev/stdout, /dev/fd/1, or the
# file they were redirected to) is written through that open descriptor, never renamed over:
# the data and what the command prints afterwards then share one file position (a fresh open
# of /dev/stdout would start at 0 and be overwritten by the summary line).
_OWN_STREAMS = (1, 2)
_MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


@dataclass
class _Destination:
    path: Path
    flag: str
    special: bool  # exists and is not a regular file: written in place, never renamed over
    temporary: Path | None = None
    target: Path | None = None  # the file actually written: ``path`` with symlinks resolved
    descriptor: int | None = None  # ``path`` is this process's open descriptor (/dev/stdout)
    suffix: str = ""  # of the temporary file, for writers that choose the format by suffix

    @property
    def real(self) -> Path:
        return self.path if self.target is None else self.target


def _describe(path: Path) -> str:
    return repr(str(path))


class OutputFiles:
    """The files one command writes; see the module docstring."""

    def __init__(self, inputs: Iterable[str | os.PathLike | None]) -> None:
        self._inputs = [Path(path) for path in inputs if path is not None]
        self._destinations: list[_Destination] = []
        self._committed = False

    # --- declaring ------------------------------------------------------------------------
    def add(self, path: str | os.PathLike, flag: str, *,
            suffixes: tuple[str, ...] = ()) -> Path:
        """Check one destination before any work and register it; returns it as a Path.

        ``flag`` names the option in messages (``--out``); ``suffixes`` (``(".png", ".pdf")``)
        are the file types the writer can produce, chosen by the name's suffix (a device or FIFO
        destination takes the first).
        """
        path = Path(path)
        if str(path) in ("", "."):
            raise OutputError(f"{flag} is empty; give a file name")
        for source in self._inputs:
            if _same_file(path, source):
                raise OutputError(f"{flag} {_describe(path)} is the input file "
                                  f"{_describe(source)}; writing it would destroy the input, so "
                                  f"choose another output name")
        for other in self._destinations:
            if _same_file(path, other.path):
                raise OutputError(f"{flag} {_describe(path)} is also the destination of "
                                  f"{other.flag}; give each output its own file")
        target = _link_target(path, flag)
        shown = _describe(path) if target == path else \
            f"{_describe(path)} (a link to {_describe(target)})"
        try:
            status = os.stat(path)
        except FileNotFoundError:
            status = None
        except OSError as error:
            raise OutputError(f"{flag} {shown} cannot be checked ({error.strerror}); choose "
                              f"another output name") from None
        special, descriptor = False, None
        if status is not None:
            if stat.S_ISDIR(status.st_mode):
                raise OutputError(f"{flag} {shown} is a directory; give a file name inside it, "
                                  f"e.g. {_describe(path / 'results')}")
            descriptor = _own_stream(status)
            special = descriptor is not None or not stat.S_ISREG(status.st_mode)
            if not os.access(path, os.W_OK) or (
                    stat.S_ISREG(status.st_mode) and not status.st_mode & 0o222):
                raise OutputError(f"{flag} {shown} exists and is read-only (mode "
                                  f"{stat.filemode(status.st_mode)}); make it writable "
                                  f"(chmod u+w) to replace it, or choose another name")
        if suffixes and not special and path.suffix.lower() not in suffixes:
            raise OutputError(f"{flag} {_describe(path)}: the file name must end in "
                              f"{' or '.join(suffixes)}, which decides the format written")
        if not special:
            folder = target.parent
            if not folder.is_dir():
                raise OutputError(f"{flag} {shown}: the folder {_describe(folder)} "
                                  f"does not exist; create it first or write elsewhere")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OutputError(f"{flag} {shown}: the folder {_describe(folder)} "
                                  f"is not writable; choose a folder you can write to")
        self._destinations.append(_Destination(path=path, flag=flag, special=special,
                                               target=None if special else target,
                                               descriptor=descriptor,
                                               suffix=suffixes[0] if special and suffixes
                                               else path.suffix))
        return path

    # --- producing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, path: str | os.PathLike) -> Iterator[Path]:
        """A temporary path in the destination's folder (same suffix, so writers that choose
        the format by suffix behave) to write ``path``'s content to; kept for :meth:`commit`."""
        destination = self._find(Path(path))
        # Regular files: next to the file they replace (a rename within one file system);
        # devices and FIFOs are copied in place at commit, so stage them anywhere.
        folder = None if destination.special else destination.real.parent
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{destination.path.stem}.",
                                        suffix=f".partial{destination.suffix}")
        os.close(handle)
        temporary = Path(name)
        self._discard(destination)
        destination.temporary = temporary
        try:
            yield temporary
        except BaseException:
            self._discard(destination)
            raise

    def commit(self) -> list[Path]:
        """Move every produced file into place, all or none (module docstring); returns their
        paths in the order declared.

        Every declared destination must have been produced (:meth:`writing`).
        """
        missing = [d.flag for d in self._destinations if d.temporary is None]
        if missing:
            raise RuntimeError(f"outputs declared but never produced: {', '.join(missing)}")
        regular = [d for d in self._destinations if not d.special]
        for destination in regular:
            _check_still_regular(destination)
        for destination in self._destinations:
            if destination.special:
                self._write_in_place(destination, regular)
        _replace_all(regular)
        for destination in regular:
            destination.temporary = None
        self._committed = True
        return [destination.path for destination in self._destinations]

    def _write_in_place(self, destination: _Destination, regular: list[_Destination]) -> None:
        temporary = destination.temporary
        assert temporary is not None
        try:
            with open(temporary, "rb") as source, _open_in_place(destination) as target:
                shutil.copyfileobj(source, target)
        except OSError as error:
            untouched = " and no file was replaced" if regular else ""
            raise OutputError(f"{destination.flag} {_describe(destination.path)}: writing "
                              f"failed ({error.strerror or error}){untouched}; write to a "
                              f"device or file that accepts the data") from None
        finally:
            self._discard(destination)

    # --- bookkeeping ----------------------------------------------------------------------
    def _find(self, path: Path) -> _Destination:
        for destination in self._destinations:
            if destination.path == path:
                return destination
        raise KeyError(f"{path} was not declared with OutputFiles.add")

    @staticmethod
    def _discard(destination: _Destination) -> None:
        if destination.temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                destination.temporary.unlink()
            destination.temporary = None

    def close(self) -> None:
        """Remove whatever was produced but not committed."""
        for destination in self._destinations:
            self._discard(destination)

    def __enter__(self) -> OutputFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_in_place(destination: _Destination) -> IO[bytes]:
    if destination.descriptor is None:
        return open(destination.path, "wb")
    for stream in (sys.stdout, sys.stderr):  # what was printed before goes first
        with contextlib.suppress(Exception):
            stream.flush()
    return os.fdopen(os.dup(destination.descriptor), "wb")


def _own_stream(status: os.stat_result) -> int | None:
    """The descriptor (1 or 2) of this process's stdout or stderr when the destination is that
    very file, else None."""
    for descriptor in _OWN_STREAMS:
        with contextlib.suppress(OSError):
            if os.path.samestat(status, os.fstat(descriptor)):
                return descriptor
    return None


def _link_target(path: Path, flag: str) -> Path:
    """The file ``path`` leads to, following symlinks one hop at a time (``path`` itself when
    it is no link)."""
    current = path
    for _ in range(_MAX_LINK_HOPS):
        if not current.is_symlink():
            return current
        link = os.readlink(current)
        current = Path(os.path.join(os.path.realpath(current.parent), link))
        current = Path(os.path.realpath(current.parent)) / current.name
    raise OutputError(f"{flag} {_describe(path)} is a loop of symbolic links; point the link "
                      f"at a file or choose another name")


def _check_still_regular(destination: _Destination) -> None:
    """Refuse, before anything is replaced, a destination that became a link, a directory or a
    device since it was declared (the rename would replace it rather than write through it)."""
    try:
        mode = os.lstat(destination.real).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise OutputError(f"{destination.flag} {_describe(destination.path)} changed while the "
                          f"command ran (it is no longer a regular file); nothing was written, "
                          f"run the command again")


def _replace_all(destinations: list[_Destination]) -> None:
    """Rename each temporary over its target, keeping what it replaces until all are in place;
    on any failure (or Ctrl-C) put every replaced file back and remove the new ones."""
    done: list[tuple[Path, _Backup | None]] = []
    current = destinations[0] if destinations else None
    try:
        for current in destinations:
            target, temporary = current.real, current.temporary
            assert temporary is not None
            _copy_permissions(temporary, target)
            backup = _keep_aside(target)
            try:
                os.replace(temporary, target)
            except BaseException:
                if backup is not None:
                    backup.undo(target)
                raise
            done.append((target, backup))
    except BaseException as error:
        for target, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is None:
                    target.unlink()
                else:
                    os.replace(backup.path, target)
        if isinstance(error, OSError) and current is not None:
            raise OutputError(f"{current.flag} {_describe(current.path)}: writing failed "
                              f"({error.strerror or error}); every output was left as it "
                              f"was") from None
        raise
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.path.unlink()


@dataclass(frozen=True)
class _Backup:
    path: Path
    linked: bool  # a second hard link to the file (else the file itself, renamed aside)

    def undo(self, target: Path) -> None:
        """Drop the backup of a file that was not replaced after all."""
        with contextlib.suppress(OSError):
            if self.linked:
                self.path.unlink()
            else:
                os.replace(self.path, target)


def _keep_aside(target: Path) -> _Backup | None:
    """A second name for the file at ``target`` (None if there is none), so that the rename over
    it can be undone: a hard link where the file system has them, else the file renamed aside."""
    if not target.exists():
        return None
    for attempt in range(100):
        backup = target.with_name(f".{target.name}.{os.getpid()}.{attempt}.replaced")
        try:
            os.link(target, backup)
            return _Backup(backup, linked=True)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP,
                                   errno.EMLINK):
                raise
            if backup.exists():
                continue
            os.replace(target, backup)
            return _Backup(backup, linked=False)
    raise OutputError(f"{_describe(target)}: too many leftover '.replaced' files beside it; "
                      f"remove them and run the command again")


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same path after resolving symlinks and
    ``./``, or the same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _copy_permissions(temporary: Path, final: Path) -> None:
    # mkstemp creates files readable by their owner only; give the result the permissions an
    # ordinary write would (those of the file it replaces, or the umask's).
    try:
        mode = stat.S_IMODE(os.stat(final).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(temporary, mode)

def write_file(path: str | os.PathLike, writer: Callable[[IO[bytes]], Any], *,
               flag: str = "output", inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Call ``writer(binary file)`` to produce ``path`` all or nothing: one output of
    :class:`OutputFiles`, for the library's writers (layer, network and model files); an
    operating-system error while writing becomes an :class:`~eiesim.errors.OutputError`.
    Commands with several outputs use :class:`OutputFiles` so that all of them appear or none."""
    try:
        with OutputFiles(inputs) as outputs:
            target = outputs.add(path, flag)
            with outputs.writing(target) as temporary, open(temporary, "wb") as handle:
                writer(handle)
            outputs.commit()
    except OSError as error:
        raise OutputError(f"{flag} {_describe(Path(path))}: writing failed "
                          f"({error.strerror or error}); nothing was written") from None
    return Path(path)
