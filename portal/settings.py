"""Every setting of the portal, read from the environment once and checked at start-up.

Names follow the original Go service's `.env` where one existed, so an existing
deployment's settings carry over; settings new to this project carry the `DEVEX_` prefix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SESSION_SECRET = "devex-development-session-secret-change-me"  # noqa: S105
MIN_PRODUCTION_SECRET_LENGTH = 32
# Where templates/, static/ and repl_templates/ live: the source tree by default, the
# image's /app in a container (where the package itself sits in site-packages).
PROJECT_ROOT = Path(os.environ.get("DEVEX_HOME") or Path(__file__).resolve().parent.parent)


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, frozen=True)

    environment: Literal["development", "production", "test"] = Field(
        "development", validation_alias="ENVIRONMENT"
    )
    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8080, ge=1, le=65535, validation_alias="PORT")
    session_secret: str = Field(DEFAULT_SESSION_SECRET, validation_alias="SESSION_SECRET")
    frontend_url: str | None = Field(None, validation_alias="FRONTEND_URL")
    # The portal's address as browsers reach it; the workspace page links back to it.
    public_url: str | None = Field(None, validation_alias="DEVEX_PUBLIC_URL")

    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    redis_max_connections: int = Field(64, ge=1, validation_alias="DEVEX_REDIS_MAX_CONNECTIONS")
    redis_pool_timeout: float = Field(5.0, gt=0, validation_alias="DEVEX_REDIS_POOL_TIMEOUT")

    s3_bucket: str | None = Field(None, validation_alias="S3_BUCKET")
    s3_endpoint: str | None = Field(None, validation_alias="S3_ENDPOINT")
    s3_region: str = Field("us-east-1", validation_alias="S3_REGION")
    s3_access_key: str | None = Field(None, validation_alias="S3_ACCESS_KEY")
    s3_secret_key: str | None = Field(None, validation_alias="S3_SECRET_KEY")
    storage_concurrency: int = Field(16, ge=1, le=256, validation_alias="DEVEX_STORAGE_CONCURRENCY")

    github_client_id: str | None = Field(None, validation_alias="GITHUB_CLIENT_ID")
    github_client_secret: str | None = Field(None, validation_alias="GITHUB_CLIENT_SECRET")
    github_redirect_url: str | None = Field(None, validation_alias="GITHUB_REDIRECT_URL")
    github_url: str = Field("https://github.com", validation_alias="GITHUB_URL")
    github_api_url: str = Field("https://api.github.com", validation_alias="GITHUB_API_URL")

    data_dir: Path = Field(Path(".devex"), validation_alias="DEVEX_DATA_DIR")
    templates_dir: Path = Field(
        PROJECT_ROOT / "repl_templates", validation_alias="DEVEX_TEMPLATES_DIR"
    )
    max_repls_per_user: int = Field(5, ge=1, validation_alias="DEVEX_MAX_REPLS_PER_USER")
    login_duration: int = Field(
        7 * 24 * 3600, ge=60, validation_alias="DEVEX_LOGIN_DURATION_SECONDS"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="DEVEX_LOG_LEVEL"
    )

    max_active_per_user: int = Field(2, ge=1, validation_alias="DEVEX_MAX_ACTIVE_PER_USER")
    max_concurrent_starts: int = Field(20, ge=1, validation_alias="DEVEX_MAX_CONCURRENT_STARTS")
    # Requests per minute, per person (per address before sign-in).
    rate_sign_in: int = Field(20, ge=1, validation_alias="DEVEX_RATE_SIGN_IN")
    rate_create: int = Field(20, ge=1, validation_alias="DEVEX_RATE_CREATE")
    rate_start: int = Field(30, ge=1, validation_alias="DEVEX_RATE_START")

    # An operation (start or stop) not heard from for this long died with its process;
    # reconciliation, every interval, finishes or fails it.
    operation_lease: float = Field(60.0, ge=1, validation_alias="DEVEX_OPERATION_LEASE")
    reconcile_interval: float = Field(30.0, gt=0, validation_alias="DEVEX_RECONCILE_INTERVAL")

    runtime: Literal["local", "kubernetes"] = Field("local", validation_alias="DEVEX_RUNTIME")
    start_timeout: float = Field(180.0, gt=0, validation_alias="DEVEX_START_TIMEOUT")
    idle_timeout: float = Field(1800.0, gt=0, validation_alias="DEVEX_IDLE_TIMEOUT")
    # Where the runner calls the portal back (its idle stop); the portal's own address
    # for local workspaces, an in-cluster Service URL on Kubernetes.
    portal_internal_url: str | None = Field(None, validation_alias="DEVEX_PORTAL_INTERNAL_URL")
    # The runner host of the original service: workspaces live at https://HOST/<repl-id>/.
    runner_host: str | None = Field(None, validation_alias="RUNNER_CLUSTER_IP")
    runner_scheme: Literal["http", "https"] = Field("https", validation_alias="DEVEX_RUNNER_SCHEME")
    kube_config_path: Path | None = Field(None, validation_alias="KUBE_CONFIG_PATH")
    # Every Kubernetes API call gives up after this long: the client library waits for
    # ever by default, and a hung call would hold a REPL in "starting" or "stopping".
    kube_request_timeout: float = Field(30.0, gt=0, validation_alias="DEVEX_KUBE_REQUEST_TIMEOUT")
    namespace: str = Field("devex", validation_alias="DEVEX_NAMESPACE",
                           pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    ingress_class: str | None = Field("nginx", validation_alias="DEVEX_INGRESS_CLASS")
    ingress_tls_secret: str | None = Field(None, validation_alias="DEVEX_INGRESS_TLS_SECRET")
    runner_cpu_request: str = Field("100m", validation_alias="DEVEX_RUNNER_CPU_REQUEST")
    runner_cpu_limit: str = Field("1", validation_alias="DEVEX_RUNNER_CPU_LIMIT")
    runner_memory_request: str = Field("256Mi", validation_alias="DEVEX_RUNNER_MEMORY_REQUEST")
    runner_memory_limit: str = Field("1Gi", validation_alias="DEVEX_RUNNER_MEMORY_LIMIT")
    # The Secret (made by the operator, see deploy/) holding S3_ACCESS_KEY and
    # S3_SECRET_KEY for the sync containers; the runner container never gets it.
    storage_secret: str = Field("devex-storage", validation_alias="DEVEX_STORAGE_SECRET")

    @field_validator("frontend_url", "github_url", "github_api_url", "github_redirect_url",
                     "portal_internal_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        github = {
            "GITHUB_CLIENT_ID": self.github_client_id,
            "GITHUB_CLIENT_SECRET": self.github_client_secret,
            "GITHUB_REDIRECT_URL": self.github_redirect_url,
        }
        if any(github.values()):
            for name, value in github.items():
                if not value:
                    raise SettingsError(f"{name}: required when any GITHUB_* setting is set")
        s3 = {"S3_ACCESS_KEY": self.s3_access_key, "S3_SECRET_KEY": self.s3_secret_key}
        if self.s3_bucket and any(s3.values()) and not all(s3.values()):
            missing = next(name for name, value in s3.items() if not value)
            raise SettingsError(f"{missing}: required with the other S3 key")
        if self.runtime == "kubernetes":
            if not self.runner_host:
                raise SettingsError("RUNNER_CLUSTER_IP: required with DEVEX_RUNTIME=kubernetes")
            if not self.s3_bucket:
                raise SettingsError("S3_BUCKET: workspaces on Kubernetes need S3 storage")
            if not self.portal_internal_url:
                raise SettingsError(
                    "DEVEX_PORTAL_INTERNAL_URL: required with DEVEX_RUNTIME=kubernetes"
                )
        if self.production:
            if (
                self.session_secret == DEFAULT_SESSION_SECRET
                or len(self.session_secret) < MIN_PRODUCTION_SECRET_LENGTH
            ):
                raise SettingsError(
                    "SESSION_SECRET: production needs a random secret of at least "
                    f"{MIN_PRODUCTION_SECRET_LENGTH} characters"
                )
            if not self.github_configured:
                raise SettingsError("GITHUB_CLIENT_ID: production needs GitHub sign-in")
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def github_configured(self) -> bool:
        return bool(self.github_client_id)

    @property
    def dev_login_enabled(self) -> bool:
        return not self.github_configured and not self.production

    @property
    def dashboard_url(self) -> str | None:
        """Where the workspace page links back to. Local workspaces are proxied by the
        portal, so its own path does; a runner on its own host needs DEVEX_PUBLIC_URL."""
        if self.public_url:
            return f"{self.public_url}/dashboard"
        return "/dashboard" if self.runtime == "local" else None


class RunnerSettings(BaseSettings):
    """Settings of `devex runner`, the process inside a workspace."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, frozen=True)

    repl_id: str = Field(validation_alias="DEVEX_REPL_ID", pattern=r"^[a-f0-9]{16}$")
    secret: str = Field(validation_alias="DEVEX_RUNNER_SECRET", min_length=32)
    workspace: Path = Field(Path("/workspace"), validation_alias="DEVEX_WORKSPACE_DIR")
    host: str = Field("0.0.0.0", validation_alias="DEVEX_RUNNER_HOST")  # noqa: S104
    port: int = Field(8081, ge=1, le=65535, validation_alias="DEVEX_RUNNER_PORT")
    portal_url: str | None = Field(None, validation_alias="DEVEX_PORTAL_URL")
    idle_timeout: float = Field(1800.0, gt=0, validation_alias="DEVEX_IDLE_TIMEOUT")
    shell: str = Field("/bin/bash", validation_alias="DEVEX_SHELL")
    dashboard_url: str = Field("", validation_alias="DEVEX_DASHBOARD_URL")


def load_runner_settings() -> RunnerSettings:
    try:
        return RunnerSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(f"{first['loc'][0]}: {first['msg']}") from None


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else field.upper()


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings, turning any problem into one line that names the variable."""
    try:
        if environ is None:
            return Settings()
        # Only the given mapping counts, so tests never see the developer's shell.
        names = {_env_name(field) for field in Settings.model_fields}
        return Settings.model_validate({k: v for k, v in environ.items() if k in names})
    except SettingsError:
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"][0] if first["loc"] else ""
        name = str(loc) if str(loc).isupper() else _env_name(str(loc))
        raise SettingsError(f"{name}: {first['msg']}") from None
