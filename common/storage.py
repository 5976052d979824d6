"""Atomic result, status and table files: a temporary file, then a rename over the target.

A reader sees the old file or the new one, never half of one. Local paths use os (fsync, then
os.replace, atomic on POSIX) and never import TensorFlow, so `plan` and `gather` stay light. Any
path with a scheme (gs://, s3://, hdfs://, ram://) goes through tf.io.gfile: a temporary object,
then `rename(overwrite=True)`; on GCS that is a server-side copy + delete, so a reader may briefly
find no file, but never half of one. A failed write raises StorageError naming the path and the
reason, removes its temporary file and leaves the previous file as it was.
"""
import json
import os
import uuid


class StorageError(OSError):
    """A result, status or table file could not be written; earlier files are untouched."""


def is_remote(path):
    return "://" in str(path)


def _gfile():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    return tf.io.gfile


def write_atomic(path, data, replace=True):
    """Writes `data` (str or bytes) to `path` atomically.

    replace=False creates the file only if it is absent and raises FileExistsError otherwise:
    atomic on POSIX (a hard link of the finished temporary file); on an object store the check
    and the rename are two calls, so two writers racing in between can both succeed (last wins).
    """
    path = str(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        if is_remote(path):
            gfile = _gfile()
            gfile.makedirs(os.path.dirname(path))
            with gfile.GFile(tmp, mode) as f:
                f.write(data)
            if not replace and gfile.exists(path):
                raise FileExistsError(path)
            gfile.rename(tmp, path, overwrite=True)
            return
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # FileExistsError when another writer got there first
            os.remove(tmp)
    except FileExistsError:
        _remove_quietly(tmp)
        raise
    except Exception as error:
        _remove_quietly(tmp)
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise StorageError(f"cannot write {path}: {reason}; earlier results are untouched") from error


def write_json_atomic(path, payload, indent=1, replace=True):
    # json's C encoder only runs without indent: tables.json of 1,000 cells is written with indent=None
    write_atomic(path, json.dumps(payload, indent=indent, sort_keys=True, default=str), replace=replace)


def rename(src, dst):
    """Moves a file (os or gfile); FileNotFoundError when `src` is gone."""
    if is_remote(src):
        gfile = _gfile()
        if not gfile.exists(src):
            raise FileNotFoundError(src)
        gfile.rename(src, dst, overwrite=True)
    else:
        os.rename(src, dst)


def makedirs(path):
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def read_text(path):
    if is_remote(path):
        with _gfile().GFile(path, "r") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def listdir(path):
    """Entry names of a folder, [] when it does not exist."""
    if is_remote(path):
        gfile = _gfile()
        return [name.rstrip("/") for name in gfile.listdir(path)] if gfile.isdir(path) else []
    return os.listdir(path) if os.path.isdir(path) else []


def mtime(path):
    """Modification time in seconds, or None when the file does not exist."""
    try:
        if is_remote(path):
            return _gfile().stat(path).mtime_nsec / 1e9
        return os.path.getmtime(path)
    except Exception:  # missing (os or gfile's NotFoundError)
        return None


def _remove_quietly(path):
    try:
        if is_remote(path):
            _gfile().remove(path)
        else:
            os.remove(path)
    except Exception:  # it may never have been created
        pass
