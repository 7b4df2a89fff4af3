"""Step 1: where the mailbox lives (Exchange Online or on-premises) and how to reach it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Select, Static

from core.online import default_transport, ews_online_notice, route_table_lines
from tui.screens.base import StepScreen, field_row
from tui.widgets.tick import Tick

TARGETS = [("Exchange Online (Microsoft 365)", "exchange-online"), ("Exchange on-premises (2013+)", "on-premises")]
TRANSPORTS = [("Microsoft Graph (Exchange Online)", "graph"), ("EWS (Exchange Web Services)", "ews")]
DISCOVERIES = [("Autodiscover from the mailbox address", "autodiscover"), ("Direct EWS URL", "direct")]


class ConnectionScreen(StepScreen):
    step = 0
    key = "connection"
    title_text = "Connection: which Exchange, and how to reach it"

    def form(self) -> ComposeResult:
        s = self.state
        yield field_row("Exchange", Select(TARGETS, value=s.target, allow_blank=False, compact=True, id="target"))
        yield field_row(
            "Transport", Select(TRANSPORTS, value=s.transport, allow_blank=False, compact=True, id="transport")
        )
        yield field_row(
            "Find the server by",
            Select(DISCOVERIES, value=s.discovery, allow_blank=False, compact=True, id="discovery"),
            id="discovery-row",
        )
        yield field_row(
            "EWS URL",
            Input(s.ews_url, placeholder="https://mail.example.com/EWS/Exchange.asmx", compact=True, id="ews_url"),
            id="ews-url-row",
        )
        yield field_row("", Tick("Verify the server's TLS certificate", s.verify_tls, compact=True, id="verify_tls"))
        yield field_row(
            "Extra CA bundle",
            Input(s.ca_bundle, placeholder="optional: a PEM file of CAs to trust", compact=True, id="ca_bundle"),
        )
        yield Static("", id="connection-help", classes="hint")
        yield Static("\n".join(route_table_lines(short=True)), id="routes", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#target", Select).focus()
        self._target = self.state.target
        self._sync()

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        target = str(self.query_one("#target", Select).value)
        if target != self._target:
            # Another Exchange: its own default road (Graph for Exchange Online, EWS on-premises).
            self._target = target
            self.query_one("#transport", Select).value = default_transport(target)
        self._sync()

    def _sync(self) -> None:
        # Graph has one endpoint: no discovery, no EWS URL (and no impersonation, on the next step).
        graph = self.query_one("#transport", Select).value == "graph"
        direct = self.query_one("#discovery", Select).value == "direct"
        self.query_one("#discovery-row").display = not graph
        self.query_one("#ews-url-row").display = direct and not graph
        online = self.query_one("#target", Select).value == "exchange-online"
        help_ = self.query_one("#connection-help", Static)
        if graph:
            help_.update(
                "Microsoft Graph reaches Exchange Online at graph.microsoft.com: no URL to give. It cannot "
                "reach an online archive (step 3 offers the routes that can)."
            )
        elif online:
            help_.update(ews_online_notice(self.state.client_id or None))
        else:
            help_.update(
                "On-premises: autodiscover needs DNS for autodiscover.<domain>; otherwise give the "
                "EWS URL, usually https://<server>/EWS/Exchange.asmx."
            )

    def save(self) -> None:
        s = self.state
        s.target = str(self.query_one("#target", Select).value)
        s.transport = str(self.query_one("#transport", Select).value)
        s.discovery = str(self.query_one("#discovery", Select).value)
        s.ews_url = self.query_one("#ews_url", Input).value.strip()
        s.verify_tls = self.query_one("#verify_tls", Checkbox).value
        s.ca_bundle = self.query_one("#ca_bundle", Input).value.strip()
        # a sensible sign-in for the chosen Exchange, until the user picks one
        if s.target == "on-premises" and s.auth_method == "oauth-device" and not s.client_id:
            s.auth_method = "password"
        elif s.target == "exchange-online" and s.auth_method == "password":
            s.auth_method = "oauth-device"
