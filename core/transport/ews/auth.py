"""OAuth for exchangelib: msal (core.transport.oauth) with the EWS scopes.

OAuth tokens come from msal (client secret, certificate or device code); exchangelib only
carries them. The delegated (device-code) token cache lives in the keyring.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.transport.oauth import AUTHORITY_ENV, DEFAULT_AUTHORITY_HOST, MsalTokenSource
from core.transport.oauth import OAuthSettings as _OAuthSettings

EWS_SCOPE_APP = "https://outlook.office365.com/.default"
EWS_SCOPE_DELEGATED = "https://outlook.office365.com/EWS.AccessAsUser.All"

__all__ = [
    "AUTHORITY_ENV",
    "DEFAULT_AUTHORITY_HOST",
    "EWS_SCOPE_APP",
    "EWS_SCOPE_DELEGATED",
    "MsalTokenSource",
    "OAuthSettings",
]


@dataclass
class OAuthSettings(_OAuthSettings):
    """OAuth settings asking for EWS tokens."""

    app_scopes: tuple[str, ...] = (EWS_SCOPE_APP,)
    delegated_scopes: tuple[str, ...] = (EWS_SCOPE_DELEGATED,)
