"""Step 2: the mailbox, how to sign in, and a Test connection that runs the preflight in a worker."""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Checkbox, Input, Select, Static
from textual.worker import Worker, WorkerState

from tui.screens.base import StepScreen, field_row
from tui.widgets.tick import Tick

ASK = "ask"  # the "Keep the secret" choice that means cache_password: false

METHODS = [
    ("Password (NTLM/Basic, on-premises)", "password"),
    ("OAuth app-only (client secret or certificate)", "oauth-app"),
    ("OAuth device code (sign in in a browser)", "oauth-device"),
]


class CredentialsScreen(StepScreen):
    step = 1
    key = "credentials"
    title_text = "Credentials: the mailbox and how to sign in"

    BINDINGS = [Binding("ctrl+t", "test", "Test connection", priority=True)]

    def form(self) -> ComposeResult:
        s = self.state
        yield field_row("Target mailbox", Input(s.mailbox, placeholder="matt@example.com", compact=True, id="mailbox"))
        yield field_row(
            "Sign in with", Select(METHODS, value=s.auth_method, allow_blank=False, compact=True, id="method")
        )
        yield field_row(
            "User name",
            Input(s.username, placeholder="DOMAIN\\user or user@domain", compact=True, id="username"),
            id="username-row",
        )
        yield field_row("Password", Input(s.password, password=True, compact=True, id="password"), id="password-row")
        yield field_row(
            "Tenant ID",
            Input(s.tenant_id, placeholder="GUID or contoso.onmicrosoft.com", compact=True, id="tenant_id"),
            id="tenant-row",
        )
        yield field_row(
            "Client (app) ID",
            Input(s.client_id, placeholder="the app registration's GUID", compact=True, id="client_id"),
            id="client-row",
        )
        yield field_row(
            "Certificate",
            Input(s.certificate, placeholder="optional PEM; else a client secret", compact=True, id="certificate"),
            id="cert-row",
        )
        yield field_row(
            "Keep the secret",
            Select(self._keep_options(), value=self._keep_value(), allow_blank=False, compact=True, id="keep"),
            id="cache-row",
        )
        yield field_row(
            "Keyring file pw",
            Input(s.keyring_password, password=True, placeholder=self._keyring_file(), compact=True, id="kr_pw"),
            id="kr-pw-row",
        )
        yield field_row(
            "",
            Tick("Impersonation (act as the mailbox owner)", s.impersonation, compact=True, id="impersonation"),
            id="impersonation-row",
        )
        yield Static("", id="ews-notice", classes="hint")
        yield Static(s.preflight_note, id="preflight")

    # ----- where the secret is kept: only what works on this machine --------------------------------

    @staticmethod
    def _keyring_file() -> str:
        from core.profile.secrets import default_keyring_file

        return f"locks {default_keyring_file()}"

    def _keep_options(self) -> list[tuple[str, str]]:
        from tui import services

        self._keyrings = {o.keyring: o for o in services.keyring_options()}
        short = {"encrypted-file": "In an encrypted file with a password of its own"}
        options = [(short.get(o.keyring, f"In {o.label}"), o.keyring) for o in self._keyrings.values()]
        s = self.state
        if s.secret_in_keyring and s.cache_password and s.keyring not in self._keyrings:
            # an opened profile whose secret was kept where this machine cannot look: say so, keep it
            options.append((f"In the {s.keyring} keyring (not usable on this machine)", s.keyring))
        options.append(("Ask on each run (or PSTIMPORT_PASSWORD)", ASK))
        return options

    def _keep_value(self) -> str:
        """The profile's choice when it can be honoured here; else asking on each run (never a keyring
        that does not work, and not the encrypted file, which would need a password of its own)."""
        s = self.state
        if not s.cache_password:
            return ASK
        if s.keyring in self._keyrings or s.secret_in_keyring:
            return s.keyring
        return ASK

    def extra_buttons(self) -> ComposeResult:
        yield Button("Test connection (^t)", id="test", compact=True)

    def on_mount(self) -> None:
        self.query_one("#mailbox", Input).focus()
        self._sync()

    @on(Select.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self._sync()

    @on(Checkbox.Changed, "#impersonation")
    def _impersonation_touched(self, event: Checkbox.Changed) -> None:
        if event.value != self._impersonation_rule():
            self.state.impersonation_auto = False  # the user's own choice from now on

    def _impersonation_rule(self) -> bool:
        from core.online import impersonation_default

        return impersonation_default(
            self.query_one("#method", Select).value,
            self.query_one("#username", Input).value.strip() or None,
            self.query_one("#mailbox", Input).value.strip() or None,
        )

    def _sync(self) -> None:
        method = self.query_one("#method", Select).value
        self.query_one("#username-row").display = method in ("password", "oauth-device")
        self.query_one("#password-row").display = method in ("password", "oauth-app")
        self.query_one("#password-row .field-label").update("Password" if method == "password" else "Client secret")
        has_secret = method in ("password", "oauth-app")
        self.query_one("#cache-row").display = has_secret
        keep = self.query_one("#keep", Select).value
        option = self._keyrings.get(str(keep))
        self.query_one("#kr-pw-row").display = has_secret and option is not None and option.needs_password
        self.query_one("#impersonation-row").display = self.state.transport != "graph"
        if self.state.impersonation_auto:
            # On for app-only access and for an account other than the mailbox's own (core.online's rule).
            tick = self.query_one("#impersonation", Checkbox)
            rule = self._impersonation_rule()
            if tick.value != rule:
                tick.value = rule
        for row in ("#tenant-row", "#client-row"):
            self.query_one(row).display = method != "password"
        self.query_one("#cert-row").display = method == "oauth-app"
        notice = self.query_one("#ews-notice", Static)
        ews_online = self.state.transport == "ews" and self.state.target == "exchange-online"
        notice.display = ews_online
        if ews_online:
            from core.online import ews_online_notice

            notice.update(ews_online_notice(self.query_one("#client_id", Input).value.strip() or None))

    def save(self) -> None:
        s = self.state
        s.mailbox = self.query_one("#mailbox", Input).value.strip()
        s.auth_method = str(self.query_one("#method", Select).value)
        s.username = self.query_one("#username", Input).value.strip()
        s.password = self.query_one("#password", Input).value
        s.tenant_id = self.query_one("#tenant_id", Input).value.strip()
        s.client_id = self.query_one("#client_id", Input).value.strip()
        s.certificate = self.query_one("#certificate", Input).value.strip()
        keep = str(self.query_one("#keep", Select).value)
        s.cache_password = keep != ASK
        if keep != ASK:
            s.keyring = keep
        s.keyring_password = self.query_one("#kr_pw", Input).value
        s.impersonation = self.query_one("#impersonation", Checkbox).value and s.transport != "graph"

    def validate(self) -> list[str]:
        s = self.state
        errors = []
        if not s.mailbox:
            errors.append("mailbox: enter the address of the mailbox to import into, e.g. matt@example.com")
        if (
            s.auth_method in ("password", "oauth-app")
            and not s.password
            and not s.certificate
            and not s.secret_in_keyring
        ):
            what = "password" if s.auth_method == "password" else "client secret (or a certificate)"
            errors.append(f"{what}: enter it to sign in (it is never written into the profile)")
        keep = self._keyrings.get(s.keyring)
        needs_key = keep is not None and keep.needs_password and s.password and s.cache_password
        if s.auth_method in ("password", "oauth-app") and needs_key and not s.keyring_password:
            errors.append("keyring file pw: the encrypted file needs a password of its own (or choose Ask on each run)")
        return errors + [e for e in super().validate() if not (not s.mailbox and e.startswith("mailbox"))]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "test":
            event.stop()
            event.prevent_default()  # Textual would call StepScreen's handler too
            self.action_test()

    # ----- Test connection --------------------------------------------------------------------------

    def action_test(self) -> None:
        self.save()
        errors = self.validate()
        if errors:
            self.show_message("\n".join(errors), error=True)
            return
        self.show_message("")
        from tui import services

        self._progress = services.ConnectProgress(services.connect_target(self.state))
        self._show_progress()
        self._ticker = self.set_interval(0.5, self._show_progress)
        # The device-code sign-in prints its instructions (URL and code); show them here instead.
        self.app.begin_capture_print(self, stdout=True, stderr=False)
        self.run_preflight()

    def _testing(self) -> bool:
        return any(w.group == "preflight" and w.is_running for w in self.workers)

    def _show_progress(self) -> None:
        note = self.query_one("#preflight", Static)
        note.set_class(False, "error")
        note.set_class(False, "ok")
        note.update(self._progress.line() + "  (Esc stops waiting)")

    def action_back(self) -> None:
        if self._testing():  # Esc while connecting: stop waiting for the server, stay on the step
            self.workers.cancel_group(self, "preflight")
            return
        super().action_back()

    def on_print(self, event: events.Print) -> None:
        if event.text.strip():
            self._progress.stage = f"{event.text.strip()}\nWaiting for the sign-in"
            self._show_progress()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def run_preflight(self) -> str:
        from textual.worker import get_current_worker

        from tui import services

        worker = get_current_worker()
        progress = self._progress
        result = services.abandonable(
            lambda: services.preflight(self.state, on_progress=progress.apply), lambda: worker.is_cancelled
        )
        return services.describe_preflight(result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "preflight":
            return
        note = self.query_one("#preflight", Static)
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.app.end_capture_print(self)
            ticker = getattr(self, "_ticker", None)
            if ticker is not None:
                ticker.stop()
        if event.state == WorkerState.SUCCESS:
            self.state.preflight_note = f"Connected. {event.worker.result}"
            note.update(self.state.preflight_note)
            note.set_class(False, "error")
            note.set_class(True, "ok")
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            from tui import services

            self.state.preflight_note = ""
            if event.state == WorkerState.CANCELLED or event.worker.is_cancelled:
                why = f"stopped waiting after {self._progress.elapsed():.0f} s"
            else:
                why = services.explain(event.worker.error)
            note.update(f"Connection failed: {why}")
            note.set_class(True, "error")
            note.set_class(False, "ok")
