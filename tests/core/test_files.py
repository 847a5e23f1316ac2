"""The one writer and the careful reader (explorer/files.py): a write interrupted at any
step leaves the old file whole and no temporary; a read never blocks or recurses away."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from explorer import files
from explorer.errors import UserError


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    files.write_json(path, {"a": 1})
    files.write_atomic(path, "second")
    assert path.read_text() == "second"
    assert _temporaries(path.parent) == []


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("step", ["write_temporary", "replace"])
def test_a_full_disk_at_any_step_keeps_the_old_file(tmp_path, monkeypatch, step):
    path = tmp_path / "a.csv"
    path.write_text("old, whole")
    if step == "replace":
        # The temporary is written, then the rename fails: the temporary must go too.
        monkeypatch.setattr(files, "replace", _disk_full)
    else:
        monkeypatch.setattr(files, "write_temporary", _disk_full)
    with pytest.raises(files.WriteError) as excinfo:
        files.write_atomic(path, "x" * 5000)
    message = str(excinfo.value)
    assert message.startswith(f"cannot write {path}: disk full (") and "free in" in message
    assert "4.9 KB needed" in message and "\n" not in message
    assert isinstance(excinfo.value, UserError) and isinstance(excinfo.value, OSError)
    assert excinfo.value.errno == errno.ENOSPC
    assert path.read_text() == "old, whole"
    assert _temporaries(tmp_path) == []


def test_a_write_failing_half_way_removes_its_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.svg"
    path.write_text("<svg/>")
    real_open = open

    class HalfFile:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(files, "open", lambda p, mode="r", *a, **k: HalfFile(real_open(p, mode, *a, **k)), raising=False)
    with pytest.raises(files.WriteError, match="disk full"):
        files.write_atomic(path, "<svg>" + "x" * 10000 + "</svg>")
    assert path.read_text() == "<svg/>"
    assert _temporaries(tmp_path) == []


KILLED = textwrap.dedent(
    """
    import os, sys
    from explorer import files
    files.replace = lambda tmp, path: os._exit(9)  # a kill: no cleanup, no handlers
    files.write_atomic(sys.argv[1], "new")
    """
)


def test_a_kill_before_the_rename_keeps_the_old_file_and_its_litter_is_cleaned(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("old")
    done = subprocess.run([sys.executable, "-c", KILLED, str(path)], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()[-2000:]
    assert path.read_text() == "old"
    stale = _temporaries(tmp_path)
    assert len(stale) == 1  # the killed writer's
    assert files.clean_stale_temporaries(path) == stale  # its process has ended
    assert _temporaries(tmp_path) == []


def test_a_folder_in_the_way_is_one_line(tmp_path):
    (tmp_path / "out.png").mkdir()
    with pytest.raises(files.WriteError, match=r"^cannot write .*out\.png: is a folder$"):
        files.write_atomic(tmp_path / "out.png", b"png")


def test_a_file_in_place_of_the_folder_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(files.WriteError, match="a part of the path is not a folder|a file is in the way"):
        files.write_atomic(tmp_path / "file" / "out.json", "{}")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        files.read_json(fifo)


def test_json_nested_too_deep_is_a_value_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match="nested too deep"):
        files.read_json(path)


def test_too_large_and_not_utf8_are_value_errors(tmp_path):
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 100 + "1]")
    with pytest.raises(ValueError, match="allowed"):
        files.read_json(path, limit=50)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match="not UTF-8"):
        files.read_json(path)


def _can_mount_tmpfs() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="a real full disk needs root to mount a small tmpfs")
def test_a_real_full_disk(tmp_path):
    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount refused here: {done.stderr.decode().strip()}")
    try:
        path = mount / "export.csv"
        files.write_atomic(path, "a" * 20_000)
        with pytest.raises(files.WriteError) as excinfo:
            files.write_atomic(path, "b" * 100_000)
        assert "disk full (" in str(excinfo.value) and "97.7 KB needed" in str(excinfo.value)
        assert path.read_text() == "a" * 20_000
        assert _temporaries(mount) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)
