"""The YAML configuration: its schema, loading and one-line validation errors."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.languages import LANGUAGES as LANGUAGES


class ConfigError(Exception):
    """A configuration that cannot be used: one line per mistake, each naming its key."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Section):
    """One Matrix account the bots speak through."""

    homeserver: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    user_id: str = Field(pattern=r"^@[a-z0-9._=\-/+]+:\S+$")
    password: str | None = None
    access_token: str | None = None
    device_name: str = "mentornet"

    @model_validator(mode="after")
    def _needs_credentials(self) -> AccountConfig:
        if not (self.password or self.access_token):
            raise ValueError("give password or access_token")
        return self

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]


class InviteConfig(_Section):
    """Who may invite the bot into a room (shell-style globs on user ids and server names)."""

    allow_users: list[str] = Field(default_factory=list)
    allow_servers: list[str] = Field(default_factory=list)


class MatrixConfig(AccountConfig):
    """The default account, plus what the runtime does with it."""

    encryption: bool = True
    invites: InviteConfig = Field(default_factory=InviteConfig)
    sync_timeout_ms: int = Field(default=30_000, ge=1_000, le=120_000)
    max_backoff_seconds: float = Field(default=30, gt=0, le=600)


class StorageConfig(_Section):
    database: Path = Path("data/mentornet.db")

    @property
    def crypto_store(self) -> Path:
        """The nio crypto store folder, kept next to the database."""
        return self.database.with_name(self.database.stem + ".crypto")


class BotsConfig(_Section):
    command_prefix: str = Field(default="!", min_length=1, max_length=3)
    admins: list[str] = Field(default_factory=list)
    default_language: str = "en"
    max_command_bytes: int = Field(default=16_384, ge=256, le=60_000)
    max_command_age_hours: float = Field(default=24, gt=0)
    tick_seconds: float = Field(default=30, ge=0.1, le=3600)
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)

    @field_validator("default_language")
    @classmethod
    def _interface_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"{value!r} is not one of the languages {', '.join(LANGUAGES)}")
        return value

    @field_validator("admins")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        for user in value:
            if not (user.startswith("@") and ":" in user):
                raise ValueError(f"{user!r} is not a Matrix user id like @alice:example.org")
        return value


class WebConfig(_Section):
    listen: str = Field(default="127.0.0.1:8080", pattern=r"^[^\s:]+:\d{1,5}$")
    public_url: str | None = None

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class DirectoryConfig(_Section):
    """This instance's part in the federated European directory."""

    network: str = Field(default="mentornet", min_length=1, max_length=120)
    space: str | None = Field(default=None, pattern=r"^[!#]\S+:?\S*$")
    editors: list[str] = Field(default_factory=list)
    page_size: int = Field(default=5, ge=1, le=20)


class SmtpConfig(_Section):
    """The organisation's mail server, for invitations by e-mail."""

    host: str = Field(min_length=1, pattern=r"^[^\s/:]+$")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    timeout_seconds: float = Field(default=30, gt=0, le=300)

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpConfig:
        if bool(self.username) != bool(self.password):
            raise ValueError("give both username and password, or neither")
        return self


class InvitationsConfig(_Section):
    """Invitations by e-mail to people who have no Matrix account yet."""

    smtp: SmtpConfig | None = None
    web_client: str = Field(default="https://app.element.io", pattern=r"^https?://\S+$")
    homeserver: str | None = Field(default=None, pattern=r"^https?://\S+$")
    registration_tokens: bool = False
    valid_days: float = Field(default=30, gt=0, le=365)
    remind_after_days: float = Field(default=7, ge=0, le=365)
    retry_minutes: float = Field(default=10, gt=0, le=1440)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "text"


class Config(_Section):
    """The whole file."""

    matrix: MatrixConfig
    storage: StorageConfig = Field(default_factory=StorageConfig)
    bots: BotsConfig = Field(default_factory=BotsConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    invitations: InvitationsConfig = Field(default_factory=InvitationsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    def invite_allowed(self, inviter: str) -> bool:
        """Whether an invite from `inviter` should be accepted."""
        invites = self.matrix.invites
        server = inviter.split(":", 1)[-1]
        return (
            inviter in self.bots.admins
            or any(fnmatch.fnmatchcase(inviter, glob) for glob in invites.allow_users)
            or any(fnmatch.fnmatchcase(server, glob) for glob in invites.allow_servers)
        )


# What a key whose value failed its pattern expects, by the key's name.
_EXPECTED = {
    "homeserver": "needs http:// or https:// and a host, like https://matrix.example.org",
    "user_id": "needs a Matrix user id like @mentornet:example.org",
    "listen": "needs host:port, like 127.0.0.1:8080",
    "space": "needs a room id or alias, like !abc123:example.org or #europe:example.org",
    "sender": "needs an e-mail address, like office@example.org",
}


def _describe(error: ValidationError) -> list[str]:
    """One line per mistake: the key, then what is wrong or what is expected."""
    return [_line(problem) for problem in error.errors()]


def _line(problem: Any) -> str:
    key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
    kind = problem["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check the spelling; config/example.yaml lists every key)"
    if kind == "missing":
        return f"{key}: missing value"
    if kind == "string_pattern_mismatch":
        name = str(problem["loc"][-1])
        expected = _EXPECTED.get(name, "not a valid value")
        return f"{key}: {expected} (got {problem['input']!r})"
    message = problem["msg"].removeprefix("Value error, ").removeprefix("Input ")
    return f"{key}: {message}"


def parse_config(data: object, base_dir: Path = Path()) -> Config:
    """Validate already-loaded YAML data; relative paths are taken from `base_dir`."""
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping with at least a 'matrix' section")
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(*_describe(error)) from None
    database = config.storage.database
    if not database.is_absolute():
        storage = config.storage.model_copy(update={"database": base_dir / database})
        config = config.model_copy(update={"storage": storage})
    return config


def load_config(path: Path) -> Config:
    """Read and validate a YAML config file; relative paths are taken from the current folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_config(data)
