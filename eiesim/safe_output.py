"""Output files that never destroy an input and are written all or nothing.

Every command that writes files declares them first (:meth:`OutputFiles.add`): a destination
that is one of the command's inputs (by path, by symlink or by inode), a directory, a file in a
folder that does not exist or cannot be written, or the same file named twice is refused before
any work is done. The command then produces each file into a temporary file in the destination's
own folder (:meth:`OutputFiles.writing`), and only when every file of the command is complete
are they renamed into place (:meth:`OutputFiles.commit`). A failure or Ctrl-C before that
removes the temporary files and leaves every existing file untouched.

A destination that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO) is
written in place at commit, never replaced by a rename; a write error there (``/dev/full``)
becomes an :class:`~eiesim.errors.OutputError`.

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
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from eiesim.errors import OutputError


@dataclass
class _Destination:
    path: Path
    flag: str
    special: bool  # exists and is not a regular file: written in place, never renamed over
    temporary: Path | None = None


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
        special = False
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as error:
            raise OutputError(f"{flag} {_describe(path)} cannot be checked "
                              f"({error.strerror}); choose another output name") from None
        if mode is not None:
            if stat.S_ISDIR(mode):
                raise OutputError(f"{flag} {_describe(path)} is a directory; give a file name "
                                  f"inside it, e.g. {_describe(path / 'results')}")
            special = not stat.S_ISREG(mode)
        if suffixes and not special and path.suffix.lower() not in suffixes:
            raise OutputError(f"{flag} {_describe(path)}: the file name must end in "
                              f"{' or '.join(suffixes)}, which decides the format written")
            if not os.access(path, os.W_OK):
                raise OutputError(f"{flag} {_describe(path)} exists and is not writable; "
                                  f"change its permissions or choose another name")
        if not special:
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise OutputError(f"{flag} {_describe(path)}: the folder {_describe(folder)} "
                                  f"does not exist; create it first or write elsewhere")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OutputError(f"{flag} {_describe(path)}: the folder {_describe(folder)} "
                                  f"is not writable; choose a folder you can write to")
        self._destinations.append(_Destination(path=path, flag=flag, special=special))
        return path

    # --- producing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, path: str | os.PathLike) -> Iterator[Path]:
        """A temporary path in the destination's folder (same suffix, so writers that choose
        the format by suffix behave) to write ``path``'s content to; kept for :meth:`commit`."""
        destination = self._find(Path(path))
        if destination.special:
            folder = None  # written in place at commit, so stage it anywhere
        else:
            folder = destination.path.parent if str(destination.path.parent) else Path(".")
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{destination.path.stem}.",
                                        suffix=f".partial{destination.path.suffix}")
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
        """Move every produced file into place, in the order declared; returns their paths.

        Every declared destination must have been produced (:meth:`writing`).
        """
        missing = [d.flag for d in self._destinations if d.temporary is None]
        if missing:
            raise RuntimeError(f"outputs declared but never produced: {', '.join(missing)}")
        for destination in self._destinations:
            temporary = destination.temporary
            assert temporary is not None
            if destination.special:
                try:
                    with open(temporary, "rb") as source, open(destination.path, "wb") as target:
                        shutil.copyfileobj(source, target)
                except OSError as error:
                    raise OutputError(f"{destination.flag} {_describe(destination.path)}: "
                                      f"writing failed ({error.strerror}); nothing else was "
                                      f"written") from None
                finally:
                    self._discard(destination)
            else:
                _copy_permissions(temporary, destination.path)
                os.replace(temporary, destination.path)
                destination.temporary = None
        self._committed = True
        return [destination.path for destination in self._destinations]

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
