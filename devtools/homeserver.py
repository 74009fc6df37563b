"""Run a real Synapse homeserver on 127.0.0.1 for tests, benchmarks and the demo.

A :class:`LocalSynapse` owns one data folder: config, signing key, SQLite database, media,
log and a small state file (port and secrets), so a restarted demo finds its users again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import quote

import aiohttp
import yaml

RateLimits = Literal["relaxed", "strict", "default"]
ADMIN_LOCALPART = "mentornet-admin"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_self_signed_cert(cert: Path, key: Path) -> None:
    """Write a self-signed certificate for ``localhost`` / ``127.0.0.1`` and its RSA key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    for path in (cert, key):
        path.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(private_key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(pem))


def _load_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "localsynapse.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _rate_limit_config(mode: RateLimits) -> dict[str, Any]:
    """The ``rc_*`` sections for a mode; "default" leaves Synapse's own limits."""
    if mode == "default":
        return {}
    lots = {"per_second": 10_000, "burst_count": 100_000}
    names = """rc_message rc_registration rc_registration_token_validity rc_admin_redaction
        rc_joins_per_room rc_key_requests rc_3pid_validation rc_third_party_invite rc_media_create
        rc_delayed_event_mgmt rc_room_creation rc_reports rc_user_directory rc_profile"""
    config: dict[str, Any] = dict.fromkeys(names.split(), lots)
    config["rc_login"] = {"address": lots, "account": lots, "failed_attempts": lots}
    config["rc_joins"] = {"local": lots, "remote": lots}
    config["rc_invites"] = {"per_room": lots, "per_user": lots, "per_issuer": lots}
    config["rc_presence"] = {"per_user": lots}
    config["rc_federation"] = {"window_size": 1000, "sleep_limit": 100_000, "sleep_delay": 1,
                               "reject_limit": 100_000, "concurrent": 1000}  # fmt: skip
    config["federation_rr_transactions_per_room_per_second"] = 10_000
    if mode == "strict":
        config["rc_message"] = {"per_second": 2, "burst_count": 5}
    return config


class LocalSynapse:
    """One Synapse process on loopback, with its data folder; an async context manager."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        rate_limits: RateLimits = "relaxed",
        federation_port: int | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        log_level: str = "WARNING",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = _load_state(self.data_dir)
        self.port: int = port or state.get("port") or free_port()
        self.federation_port = federation_port
        self.rate_limits: RateLimits = rate_limits
        self.log_level = log_level
        self.tls_cert = tls_cert or self.data_dir / "tls.crt"
        self.tls_key = tls_key or self.data_dir / "tls.key"
        self.server_name = f"localhost:{federation_port or self.port}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.registration_secret: str = state.get("registration_secret") or secrets.token_hex(32)
        self._admin_password: str = state.get("admin_password") or secrets.token_hex(16)
        state |= {"port": self.port, "federation_port": federation_port,
                  "registration_secret": self.registration_secret,
                  "admin_password": self._admin_password}  # fmt: skip
        state_file = self.data_dir / "localsynapse.json"
        state_file.write_text(json.dumps(state, indent=2))
        state_file.chmod(0o600)
        self.config_path = self.data_dir / "homeserver.yaml"
        self.log_path = self.data_dir / "synapse.log"
        self._pid_path = self.data_dir / "synapse.pid"
        self._process: asyncio.subprocess.Process | None = None
        self._log_offset = 0
        self._admin_token: str | None = None
        self._admin_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LocalSynapse({self.server_name!r}, url={self.url!r}, data_dir={self.data_dir})"

    @property
    def running(self) -> bool:
        """Whether the process this object started is still alive."""
        return self._process is not None and self._process.returncode is None

    def _config(self) -> dict[str, Any]:
        d = self.data_dir

        def listener(port: int, tls: bool, names: list[str]) -> dict[str, Any]:
            resources = [{"names": names, "compress": False}]
            return {"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": tls,
                    "x_forwarded": False, "resources": resources}  # fmt: skip

        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.url}/",
            "report_stats": False,
            "signing_key_path": str(d / "signing.key"),
            "log_config": str(d / "log.yaml"),
            "media_store_path": str(d / "media_store"),
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "listeners": [listener(self.port, False, ["client"])],
            "registration_shared_secret": self.registration_secret,
            # Open registration is closed: only a registration token (one per invitation by
            # e-mail, made by a bot with server-admin rights) lets a newcomer register.
            "enable_registration": True,
            "registration_requires_token": True,
            "bcrypt_rounds": 4,
            "presence": {"enabled": False},
            # The state-group cache counts state entries (50,000 by default): a directory room
            # of 10,000 entries leaves room for 5 of its states, and every other event then
            # reloads the room's whole state from the database.
            "caches": {
                "sync_response_cache_duration": 0,
                "per_cache_factors": {"stateGroupCache": 20},
            },
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "max_upload_size": "50M",
            "url_preview_enabled": False,
            "enable_metrics": False,
            "room_list_publication_rules": [{"action": "allow"}],
            **_rate_limit_config(self.rate_limits),
        }
        if self.federation_port is None:
            config["federation_domain_whitelist"] = []
            return config
        config["listeners"].append(listener(self.federation_port, True, ["federation"]))
        # Retry soon after the other server restarts (the defaults back off for 10 minutes).
        retry = {"client_timeout": "10s", "max_short_retries": 1, "max_long_retries": 2,
                 "max_short_retry_delay": 500, "max_long_retry_delay": "1s",
                 "destination_min_retry_interval": "1s",
                 "destination_max_retry_interval": "10s"}  # fmt: skip
        config |= {
            "tls_certificate_path": str(self.tls_cert),
            "tls_private_key_path": str(self.tls_key),
            "federation_verify_certificates": False,
            "ip_range_whitelist": ["127.0.0.0/8"],
            "federation": retry,
        }
        return config

    def _write_files(self) -> None:
        """Write homeserver.yaml and log.yaml; create the signing key and TLS files if missing."""
        from signedjson.key import generate_signing_key, write_signing_keys

        key_path = self.data_dir / "signing.key"
        if not key_path.exists():
            with key_path.open("w") as stream:
                write_signing_keys(stream, [generate_signing_key("a_" + secrets.token_hex(2))])
        if self.federation_port is not None and not self.tls_cert.exists():
            make_self_signed_cert(self.tls_cert, self.tls_key)
        (self.data_dir / "log.yaml").write_text(
            "version: 1\ndisable_existing_loggers: false\n"
            "formatters: {plain: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}\n"
            "handlers: {console: {class: logging.StreamHandler, formatter: plain}}\n"
            f"root: {{level: {self.log_level.upper()}, handlers: [console]}}\n"
        )
        self.config_path.write_text(yaml.safe_dump(self._config(), sort_keys=False))

    def _failure(self, what: str, lines: int = 40) -> RuntimeError:
        """An error about this server, with the tail of this run's log."""
        with self.log_path.open("rb") as stream:
            stream.seek(self._log_offset)
            tail = stream.read().decode(errors="replace").splitlines()[-lines:]
        log = "\n".join(tail) or "(log empty)"
        return RuntimeError(f"Synapse in {self.data_dir} {what}; {self.log_path} ends:\n{log}")

    def _leftover_pid(self) -> int | None:
        """The pid of a Synapse that an earlier, crashed run left running on this data folder."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pid_path.read_text())
            if str(self.config_path) in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        return None

    async def _stop_leftover(self) -> None:
        if (pid := self._leftover_pid()) is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                await asyncio.sleep(0.1)
                os.kill(pid, 0)  # raises once the process is gone
            os.kill(pid, signal.SIGKILL)

    async def start(self, timeout: float = 60) -> None:  # noqa: ASYNC109
        """Write the config, spawn Synapse and wait until its client API answers."""
        if self.running:
            return
        await self._stop_leftover()
        self._write_files()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # Let Synapse cache its bytecode: compiling it on every start costs ~3 s.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                cwd=self.data_dir, env=env,
            )  # fmt: skip
        self._pid_path.write_text(str(self._process.pid))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self._process.returncode is not None:
                    code, self._process = self._process.returncode, None
                    raise self._failure(f"exited with code {code} during start-up")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    url = f"{self.url}/_matrix/client/versions"
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                if loop.time() > deadline:
                    await self.stop()
                    raise self._failure(f"not ready after {timeout} s")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL after 5 s. Safe to call at any time."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._pid_path.unlink(missing_ok=True)

    async def restart(self) -> None:
        """Stop and start again on the same ports and data."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def register(self, localpart: str, password: str, *, admin: bool = False) -> str:
        """Register a user with the shared secret; an existing user is returned as is."""
        path = "/_synapse/admin/v1/register"
        _, reply = await self._call("GET", path)
        nonce = reply["nonce"]
        message = b"\x00".join(
            part.encode() for part in (nonce, localpart, password, "admin" if admin else "notadmin")
        )
        mac = hmac.new(self.registration_secret.encode(), message, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin,
                "mac": mac}  # fmt: skip
        status, reply = await self._call("POST", path, body)
        if status == 200:
            return str(reply["user_id"])
        if reply.get("errcode") == "M_USER_IN_USE":
            return f"@{localpart}:{self.server_name}"
        raise RuntimeError(f"registering {localpart!r} on {self.server_name}: {status} {reply}")

    async def admin_token(self) -> str:
        """An access token of this server's admin user (registered and logged in once)."""
        async with self._admin_lock:
            if self._admin_token is None:
                await self.register(ADMIN_LOCALPART, self._admin_password, admin=True)
                body = {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": ADMIN_LOCALPART},
                    "password": self._admin_password,
                    "initial_device_display_name": "LocalSynapse admin",
                }
                status, reply = await self._call("POST", "/_matrix/client/v3/login", body)
                if status != 200:
                    raise RuntimeError(f"admin login on {self.server_name}: {status} {reply}")
                self._admin_token = str(reply["access_token"])
            return self._admin_token

    async def make_admin(self, user_id: str) -> None:
        """Make `user_id` a server admin (it may then use the admin API, e.g. for tokens)."""
        path = f"/_synapse/admin/v2/users/{quote(user_id, safe='')}"
        status, reply = await self._call("PUT", path, {"admin": True}, await self.admin_token())
        if status not in (200, 201):
            raise RuntimeError(f"making {user_id} an admin: {status} {reply}")

    async def exempt_from_rate_limits(self, user_id: str) -> None:
        """Lift all message rate limits for one user (admin API ``override_ratelimit``)."""
        path = f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit"
        body = {"messages_per_second": 0, "burst_count": 0}
        status, reply = await self._call("POST", path, body, await self.admin_token())
        if status != 200:
            raise RuntimeError(f"override_ratelimit for {user_id}: {status} {reply}")


async def federated_pair(base_dir: Path) -> tuple[LocalSynapse, LocalSynapse]:
    """Start two Synapses (``hs1``, ``hs2`` under base_dir) that federate over TLS on loopback."""
    base_dir = Path(base_dir)
    cert, key = base_dir / "federation.crt", base_dir / "federation.key"
    if not cert.exists() or not key.exists():
        make_self_signed_cert(cert, key)
    fresh: set[int] = set()
    while len(fresh) < 4:
        fresh.add(free_port())
    servers = []
    for name in ("hs1", "hs2"):
        state = _load_state(base_dir / name)
        fed_port = state.get("federation_port") or fresh.pop()
        port = state.get("port") or fresh.pop()
        hs = LocalSynapse(base_dir / name, port=port, federation_port=fed_port, tls_cert=cert,
                          tls_key=key)  # fmt: skip
        servers.append(hs)
    first, second = servers
    results = await asyncio.gather(first.start(), second.start(), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await asyncio.gather(first.stop(), second.stop())
        raise errors[0]
    return first, second
