"""The exception tree of kcplan: every error a user can cause or meet is one of these.

The CLI prints ``Error: <message>`` and the hint (the next step) and exits with ``exit_code`` (1);
anything else is a bug and shows a traceback only with ``--debug``. The tree, and which layer raises
what: ARCHITECTURE.md, "Errors".
"""

from __future__ import annotations


class KcplanError(Exception):
    """An error meant for the user: one-line message plus the next step."""

    exit_code = 1
    default_hint = "Run with --debug for details."

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message

    @property
    def specific_hint(self) -> str | None:
        """The hint when it says more than the class's generic one (worth showing next to the message)."""
        return self.hint if self.hint and self.hint != self.default_hint else None


class UsageError(KcplanError):
    default_hint = "Run 'kcplan --help' for usage."


class ConfigError(KcplanError):
    default_hint = "Fix the file named above and run the command again."


class RenderError(ConfigError):
    pass


class SpecError(ConfigError):
    """Rendered connector configs are invalid; ``problems`` lists every one."""

    def __init__(self, problems: list[str], hint: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the connector configs"
        super().__init__(head + ":\n  " + "\n  ".join(self.problems), hint)


class ConnectError(KcplanError):
    default_hint = "Check the Connect REST URL and that the cluster is up ('kcplan status')."


class ConnectionFailed(ConnectError):
    pass


class UnknownOutcome(ConnectError):
    """The request was sent, the answer was lost: the write may or may not have happened."""

    default_hint = "Read the connector back before writing again; 'kcplan plan' shows what is left to do."


class ApiError(ConnectError):
    def __init__(
        self,
        message: str,
        status: int,
        method: str = "",
        path: str = "",
        error_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.method = method
        self.path = path
        self.error_code = error_code


class AuthFailed(ApiError):
    default_hint = "Check the credentials in the environment settings (auth) and their variables."


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class RebalanceInProgress(ApiError):
    default_hint = "The cluster kept rebalancing until the deadline; try again later."


class InvalidConfig(ApiError):
    """400 from Connect with its per-key messages in ``errors`` ({key: [message, ...]})."""

    default_hint = "Fix the keys named above; 'kcplan validate --online' shows the same errors."

    def __init__(self, message: str, status: int, errors: dict[str, list[str]] | None = None,
                 **kwargs: object) -> None:
        super().__init__(message, status, **kwargs)  # type: ignore[arg-type]
        self.errors = errors or {}


class StateError(KcplanError):
    default_hint = "Check the state file's path and permissions; the previous state is kept as a backup."


class LockHeld(StateError):
    default_hint = ("Wait for the other kcplan to finish, retry with --lock-timeout SECONDS, "
                    "or run 'kcplan state force-unlock' if it is dead.")


class PlanError(KcplanError):
    default_hint = "Run 'kcplan plan' again."


class SandboxError(KcplanError):
    """The local sandbox (broker and Connect workers) could not be started, inspected or stopped."""

    default_hint = "See the logs under .kcplan/sandbox/ of the project."


class SandboxMissing(SandboxError):
    """A piece needed to run the sandbox (java, mvn, jars, a broker) is not installed or not reachable."""

    default_hint = "Run .ci/setup from the kcplan repository."
