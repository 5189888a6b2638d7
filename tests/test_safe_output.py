"""eiesim.safe_output, the one writer of every output: links, all-or-none commits, read-only
files, devices. Each failure case checks every file's content and modification time after it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from eiesim import safe_output
from eiesim.errors import OutputError
from eiesim.safe_output import OutputFiles, write_file


def state(folder: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every entry of ``folder``: its kind, its content (or link text) and mtime."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            entries[str(path.relative_to(folder))] = ("link", os.readlink(path).encode(), 0)
        elif path.is_file():
            entries[str(path.relative_to(folder))] = ("file", path.read_bytes(),
                                                      path.stat().st_mtime_ns)
    return entries


def produce(outputs: OutputFiles, path: Path, content: bytes) -> None:
    with outputs.writing(path) as temporary:
        temporary.write_bytes(content)


# --- symlinks: written through, the link stays a link ------------------------------------------
def test_a_symlink_destination_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "results.csv"
    target.write_bytes(b"old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with OutputFiles(inputs=[]) as outputs:
        outputs.add(link, "--out")
        produce(outputs, link, b"new")
        assert outputs.commit() == [link]
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "link.csv"]
    assert [p.name for p in target.parent.iterdir()] == ["results.csv"]


def test_the_temporary_file_is_made_next_to_the_link_target(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    link = tmp_path / "a" / "out.npz"
    link.symlink_to("../b/real.npz")  # relative, and dangling: the target is created
    with OutputFiles(inputs=[]) as outputs:
        outputs.add(link, "-o", suffixes=(".npz",))
        with outputs.writing(link) as temporary:
            assert temporary.parent.resolve() == (tmp_path / "b").resolve()
            temporary.write_bytes(b"data")
        outputs.commit()
    assert link.is_symlink() and (tmp_path / "b" / "real.npz").read_bytes() == b"data"


def test_a_link_loop_and_a_link_into_a_missing_folder_are_refused(tmp_path):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "lost").symlink_to(tmp_path / "no_such_dir" / "x.csv")
    with OutputFiles(inputs=[]) as outputs:
        with pytest.raises(OutputError, match="loop"):
            outputs.add(tmp_path / "loop1", "--out")
        with pytest.raises(OutputError, match=r"a link to .*no_such_dir.* does not exist"):
            outputs.add(tmp_path / "lost", "--out")


def test_a_link_to_an_input_is_refused(tmp_path):
    source = tmp_path / "in.npz"
    source.write_bytes(b"input")
    (tmp_path / "link.npz").symlink_to(source)
    with OutputFiles(inputs=[source]) as outputs, pytest.raises(OutputError, match="input"):
        outputs.add(tmp_path / "link.npz", "-o")


def test_a_destination_that_became_a_link_is_refused_at_commit(tmp_path):
    out, other = tmp_path / "out.csv", tmp_path / "other.csv"
    other.write_bytes(b"other")
    with OutputFiles(inputs=[]) as outputs:
        outputs.add(out, "--out")
        produce(outputs, out, b"new")
        out.symlink_to(other)
        before = {name: entry for name, entry in state(tmp_path).items()
                  if ".partial" not in name}
        with pytest.raises(OutputError, match="changed while the command ran"):
            outputs.commit()
    assert state(tmp_path) == before


# --- read-only outputs ------------------------------------------------------------------------
def test_a_read_only_output_is_refused_before_any_work(tmp_path):
    out = tmp_path / "out.npy"
    out.write_bytes(b"precious")
    out.chmod(0o444)
    before = state(tmp_path)
    with OutputFiles(inputs=[]) as outputs:
        with pytest.raises(OutputError, match=r"'.*out.npy' exists and is read-only "
                                              r"\(mode -r--r--r--\); make it writable"):
            outputs.add(out, "--output")
    assert state(tmp_path) == before
    with pytest.raises(OutputError, match="read-only"):
        write_file(out, lambda handle: handle.write(b"x"))
    assert state(tmp_path) == before


def test_a_link_to_a_read_only_file_is_refused(tmp_path):
    target = tmp_path / "ro.csv"
    target.write_bytes(b"keep")
    target.chmod(0o400)  # writable by nobody but root, and not marked writable: read-only
    (tmp_path / "link.csv").symlink_to(target)
    with OutputFiles(inputs=[]) as outputs, pytest.raises(OutputError, match="read-only"):
        outputs.add(tmp_path / "link.csv", "--out")


# --- all or none ----------------------------------------------------------------------------
def _three_outputs(tmp_path: Path) -> tuple[list[Path], dict]:
    paths = [tmp_path / name for name in ("a.npz", "b.csv", "c.png")]
    paths[0].write_bytes(b"old a")
    paths[2].write_bytes(b"old c")
    return paths, state(tmp_path)


@pytest.mark.parametrize("failing_call", [1, 2, 3])
def test_a_failure_while_committing_restores_every_file(tmp_path, monkeypatch, failing_call):
    paths, before = _three_outputs(tmp_path)
    real_replace, calls = os.replace, []

    def flaky_replace(source, destination):
        if ".partial" in str(source):
            calls.append(destination)
            if len(calls) == failing_call:
                raise OSError(errno.EIO, "Input/output error")
        return real_replace(source, destination)

    monkeypatch.setattr(safe_output.os, "replace", flaky_replace)
    with OutputFiles(inputs=[]) as outputs:
        for path in paths:
            outputs.add(path, "--x")
            produce(outputs, path, b"new " + path.name.encode())
        with pytest.raises(OutputError, match="every output was left as it was"):
            outputs.commit()
    assert state(tmp_path) == before


def test_ctrl_c_while_committing_restores_every_file(tmp_path, monkeypatch):
    paths, before = _three_outputs(tmp_path)
    real_replace, calls = os.replace, []

    def interrupted_replace(source, destination):
        if ".partial" in str(source):
            calls.append(destination)
            if len(calls) == 3:
                raise KeyboardInterrupt
        return real_replace(source, destination)

    monkeypatch.setattr(safe_output.os, "replace", interrupted_replace)
    with OutputFiles(inputs=[]) as outputs:
        for path in paths:
            outputs.add(path, "--x")
            produce(outputs, path, b"new")
        with pytest.raises(KeyboardInterrupt):
            outputs.commit()
    assert state(tmp_path) == before


def test_without_hard_links_the_replaced_file_is_renamed_aside_and_restored(tmp_path,
                                                                          monkeypatch):
    paths, before = _three_outputs(tmp_path)

    def no_links(source, destination):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(safe_output.os, "link", no_links)
    real_replace, calls = os.replace, []

    def flaky_replace(source, destination):
        if ".partial" in str(source):
            calls.append(destination)
            if len(calls) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(safe_output.os, "replace", flaky_replace)
    with OutputFiles(inputs=[]) as outputs:
        for path in paths:
            outputs.add(path, "--x")
            produce(outputs, path, b"new")
        with pytest.raises(OutputError, match="No space left"):
            outputs.commit()
    assert state(tmp_path) == before
    monkeypatch.setattr(safe_output.os, "replace", real_replace)
    with OutputFiles(inputs=[]) as outputs:  # and a success leaves no backup behind
        for path in paths:
            outputs.add(path, "--x")
            produce(outputs, path, b"new")
        outputs.commit()
    assert {name: entry[1] for name, entry in state(tmp_path).items()} == {
        "a.npz": b"new", "b.csv": b"new", "c.png": b"new"}


def test_success_replaces_every_file_and_leaves_nothing_else(tmp_path):
    paths, _ = _three_outputs(tmp_path)
    (tmp_path / "c.png").chmod(0o640)
    with OutputFiles(inputs=[]) as outputs:
        for path in paths:
            outputs.add(path, "--x")
            produce(outputs, path, b"new")
        outputs.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.csv", "c.png"]
    assert all(path.read_bytes() == b"new" for path in paths)
    assert (tmp_path / "c.png").stat().st_mode & 0o777 == 0o640  # kept the replaced file's


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("device_first", [True, False])
def test_a_failing_device_leaves_every_regular_output_untouched(tmp_path, device_first):
    paths, before = _three_outputs(tmp_path)
    with OutputFiles(inputs=[]) as outputs:
        order = [Path("/dev/full"), *paths] if device_first else [*paths, Path("/dev/full")]
        for path in order:
            outputs.add(path, "--x")
            produce(outputs, path, b"new")
        with pytest.raises(OutputError, match=r"'/dev/full': writing failed \(No space left "
                                              r"on device\) and no file was replaced"):
            outputs.commit()
    assert state(tmp_path) == before


def test_dev_null_is_written_in_place_and_stays_a_device(tmp_path):
    with OutputFiles(inputs=[]) as outputs:
        outputs.add("/dev/null", "--out")
        produce(outputs, Path("/dev/null"), b"data")
        assert outputs.commit() == [Path("/dev/null")]
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "captured.txt"])
def test_the_commands_own_stdout_is_written_through_its_descriptor(tmp_path, name):
    import subprocess
    import sys

    script = ("import sys\nfrom pathlib import Path\nfrom eiesim.safe_output import OutputFiles\n"
              "print('before', flush=True)\n"
              "with OutputFiles(inputs=[]) as outputs:\n"
              f"    outputs.add({name!r}, '--out')\n"
              f"    with outputs.writing(Path({name!r})) as temporary:\n"
              "        temporary.write_text('data\\n')\n"
              "    outputs.commit()\n"
              "print('after')\n")
    with open(tmp_path / "captured.txt", "w") as captured:
        done = subprocess.run([sys.executable, "-c", script], stdout=captured, cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "captured.txt").read_text() == "before\ndata\nafter\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["captured.txt"]


def test_the_public_api_is_unchanged(tmp_path):
    out = tmp_path / "o.bin"
    assert write_file(out, lambda handle: handle.write(b"abc")) == out
    assert out.read_bytes() == b"abc"
    with OutputFiles(inputs=[None]) as outputs:
        assert outputs.add(str(out), "--out", suffixes=(".bin",)) == out
        produce(outputs, out, b"def")
        assert outputs.commit() == [out]
    assert out.read_bytes() == b"def"
