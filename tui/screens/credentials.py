"""Step 2: the mailbox, how to sign in, and a Test connection that runs the preflight in a worker."""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Checkbox, Input, Select, Static
from textual.worker import Worker, WorkerState

from tui.screens.base import StepScreen, field_row
from tui.widgets.tick import Tick

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
            "",
            Tick("Cache the secret in the OS keyring", s.cache_password, compact=True, id="cache_password"),
            id="cache-row",
        )
        yield field_row(
            "", Tick("Impersonation (act as the mailbox owner)", s.impersonation, compact=True, id="impersonation")
        )
        yield Static(s.preflight_note, id="preflight")

    def extra_buttons(self) -> ComposeResult:
        yield Button("Test connection (^t)", id="test", compact=True)

    def on_mount(self) -> None:
        self.query_one("#mailbox", Input).focus()
        self._sync()

    @on(Select.Changed)
    def _changed(self) -> None:
        self._sync()

    def _sync(self) -> None:
        method = self.query_one("#method", Select).value
        self.query_one("#username-row").display = method in ("password", "oauth-device")
        self.query_one("#password-row").display = method in ("password", "oauth-app")
        self.query_one("#password-row .field-label").update("Password" if method == "password" else "Client secret")
        self.query_one("#cache-row").display = method in ("password", "oauth-app")
        for row in ("#tenant-row", "#client-row"):
            self.query_one(row).display = method != "password"
        self.query_one("#cert-row").display = method == "oauth-app"

    def save(self) -> None:
        s = self.state
        s.mailbox = self.query_one("#mailbox", Input).value.strip()
        s.auth_method = str(self.query_one("#method", Select).value)
        s.username = self.query_one("#username", Input).value.strip()
        s.password = self.query_one("#password", Input).value
        s.tenant_id = self.query_one("#tenant_id", Input).value.strip()
        s.client_id = self.query_one("#client_id", Input).value.strip()
        s.certificate = self.query_one("#certificate", Input).value.strip()
        s.cache_password = self.query_one("#cache_password", Checkbox).value
        s.impersonation = self.query_one("#impersonation", Checkbox).value

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
            errors.append(f"{what}: enter it to sign in (it is kept in the keyring, never in the profile)")
        return errors + [e for e in super().validate() if not (not s.mailbox and e.startswith("mailbox"))]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "test":
            event.stop()
            self.action_test()
        else:
            super().on_button_pressed(event)

    # ----- Test connection --------------------------------------------------------------------------

    def action_test(self) -> None:
        self.save()
        errors = self.validate()
        if errors:
            self.show_message("\n".join(errors), error=True)
            return
        self.show_message("")
        self.query_one("#preflight", Static).update("Testing the connection…")
        # The device-code sign-in prints its instructions (URL and code); show them here instead.
        self.app.begin_capture_print(self, stdout=True, stderr=False)
        self.run_preflight()

    def on_print(self, event: events.Print) -> None:
        if event.text.strip():
            self.query_one("#preflight", Static).update(f"{event.text.strip()}\nWaiting for the sign-in…")

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def run_preflight(self) -> str:
        from textual.worker import get_current_worker

        from tui import services

        worker = get_current_worker()
        result = services.abandonable(lambda: services.preflight(self.state), lambda: worker.is_cancelled)
        return services.describe_preflight(result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "preflight":
            return
        note = self.query_one("#preflight", Static)
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.app.end_capture_print(self)
        if event.state == WorkerState.SUCCESS:
            self.state.preflight_note = f"Connected. {event.worker.result}"
            note.update(self.state.preflight_note)
            note.set_class(False, "error")
            note.set_class(True, "ok")
        elif event.state == WorkerState.ERROR:
            from tui import services

            self.state.preflight_note = ""
            note.update(f"Connection failed: {services.explain(event.worker.error)}")
            note.set_class(True, "error")
            note.set_class(False, "ok")
