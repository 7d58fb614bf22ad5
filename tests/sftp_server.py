"""A read-only SFTP server over a local folder, on loopback, for tests (paramiko's server side).

It accepts one user with a password and/or one public key, serves ``root`` as ``/`` and refuses every
write. ``SftpServer(...).start()`` listens on a free port of 127.0.0.1; ``stop()`` closes the listener
and every session.
"""

from __future__ import annotations

import os
import posixpath
import socket
import threading
from pathlib import Path

import paramiko
from paramiko.sftp import SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED


class _Auth(paramiko.ServerInterface):
    def __init__(self, username: str, password: str | None, public_key: paramiko.PKey | None):
        self.username, self.password, self.public_key = username, password, public_key

    def get_allowed_auths(self, username):
        return ",".join(m for m, on in (("password", self.password), ("publickey", self.public_key)) if on)

    def check_auth_password(self, username, password):
        ok = self.password is not None and (username, password) == (self.username, self.password)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        ok = self.public_key is not None and username == self.username and key == self.public_key
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def stat(self):
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _ReadOnlyFolder(paramiko.SFTPServerInterface):
    def __init__(self, server, *args, root: Path, requests: list, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.root, self.requests = root, requests

    def _local(self, path: str) -> Path:
        clean = posixpath.normpath("/" + path).lstrip("/")
        return self.root / clean if clean and clean != "." else self.root

    def canonicalize(self, path):
        return posixpath.normpath("/" + path)

    def _attributes(self, path: Path, follow: bool = True):
        try:
            return paramiko.SFTPAttributes.from_stat(path.stat() if follow else path.lstat(), path.name)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def list_folder(self, path):
        self.requests.append(("list", path))
        folder = self._local(path)
        if not folder.is_dir():
            return SFTP_NO_SUCH_FILE
        return [self._attributes(child) for child in sorted(folder.iterdir())]

    def stat(self, path):
        return self._attributes(self._local(path))

    def lstat(self, path):
        return self._attributes(self._local(path), follow=False)

    def open(self, path, flags, attr):
        self.requests.append(("open", path))
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
            return SFTP_PERMISSION_DENIED
        try:
            handle = _Handle(flags)
            handle.filename = str(self._local(path))
            handle.readfile = open(handle.filename, "rb")
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return handle

    def remove(self, path):
        return SFTP_PERMISSION_DENIED

    def rename(self, oldpath, newpath):
        return SFTP_PERMISSION_DENIED

    def mkdir(self, path, attr):
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path):
        return SFTP_PERMISSION_DENIED

    def chattr(self, path, attr):
        return SFTP_PERMISSION_DENIED

    def session_ended(self):
        return SFTP_OK


class SftpServer:
    def __init__(self, root: Path, username: str, password: str | None = None,
                 public_key: paramiko.PKey | None = None, host_key: paramiko.PKey | None = None):
        self.root = Path(root)
        self.auth = _Auth(username, password, public_key)
        self.host_key = host_key or paramiko.RSAKey.generate(2048)
        self.requests: list[tuple[str, str]] = []
        self._listener: socket.socket | None = None
        self._transports: list[paramiko.Transport] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def start(self) -> "SftpServer":
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)  # so that the accept loop sees stop()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:  # the listener was closed
                return
            conn.settimeout(None)
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _ReadOnlyFolder, root=self.root,
                                            requests=self.requests)
            self._transports.append(transport)
            try:
                transport.start_server(server=self.auth)
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def drop_sessions(self) -> None:
        """Close every open session (as a server restart or a network cut would); the listener stays."""
        for transport in self._transports:
            transport.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        for transport in self._transports:
            transport.close()
