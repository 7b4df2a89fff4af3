"""SOAP Autodiscover (`GetUserSettings` at /autodiscover/autodiscover.svc), as exchangelib 5 uses it."""

from __future__ import annotations

from lxml import etree

from core.sandbox.server.store import Store

A_NS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA_NS = "http://www.w3.org/2005/08/addressing"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
A = f"{{{A_NS}}}"
S = f"{{{SOAP_NS}}}"
ACTION_RESPONSE = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
# What Exchange 2019 lists: every EWS schema version up to the one its ServerVersionInfo names.
EWS_SUPPORTED_SCHEMAS = (
    "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
    "Exchange2013, Exchange2013_SP1, Exchange2016"
)


def handle_get_user_settings(body: bytes, store: Store, ews_url: str, server_version: dict[str, str]) -> bytes:
    """Answer one GetUserSettingsRequestMessage (every user in it), like Exchange 2019.

    `server_version` is the EWS ServerVersionInfo attributes (ews.FLAVOURS) of this server.
    """
    v = server_version
    cas_version = (
        f"{int(v['MajorVersion']):02d}.{int(v['MinorVersion']):02d}.{int(v['MajorBuildNumber']):04d}."
        f"{int(v['MinorBuildNumber']):03d}"
    )
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    request = root.find(f"{S}Body/{A}GetUserSettingsRequestMessage/{A}Request")
    env = etree.Element(S + "Envelope", nsmap={"s": SOAP_NS, "a": WSA_NS})
    header = etree.SubElement(env, S + "Header")
    action = etree.SubElement(header, f"{{{WSA_NS}}}Action")
    action.set(S + "mustUnderstand", "1")
    action.text = ACTION_RESPONSE
    svi = etree.SubElement(header, A + "ServerVersionInfo", nsmap={"h": A_NS, "i": XSI_NS})
    for name, value in (
        ("MajorVersion", v["MajorVersion"]),
        ("MinorVersion", v["MinorVersion"]),
        ("MajorBuildNumber", v["MajorBuildNumber"]),
        ("MinorBuildNumber", v["MinorBuildNumber"]),
        ("Version", "Exchange2015"),
    ):
        etree.SubElement(svi, A + name).text = value
    body_el = etree.SubElement(env, S + "Body")
    msg = etree.SubElement(body_el, A + "GetUserSettingsResponseMessage", nsmap={None: A_NS})
    response = etree.SubElement(msg, A + "Response", nsmap={"i": XSI_NS})
    if request is None:
        etree.SubElement(response, A + "ErrorCode").text = "InvalidRequest"
        etree.SubElement(response, A + "ErrorMessage").text = "The request is invalid."
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")
    etree.SubElement(response, A + "ErrorCode").text = "NoError"
    etree.SubElement(response, A + "ErrorMessage")
    user_responses = etree.SubElement(response, A + "UserResponses")
    requested = {s.text for s in request.iterfind(f"{A}RequestedSettings/{A}Setting")}
    for mailbox_el in request.iterfind(f"{A}Users/{A}User/{A}Mailbox"):
        address = (mailbox_el.text or "").strip().lower()
        ur = etree.SubElement(user_responses, A + "UserResponse")
        user = store.user(address)
        if user is None:
            etree.SubElement(ur, A + "ErrorCode").text = "InvalidUser"
            etree.SubElement(ur, A + "ErrorMessage").text = f"Invalid user: '{address}'"
            etree.SubElement(ur, A + "RedirectTarget").set(f"{{{XSI_NS}}}nil", "true")
            etree.SubElement(ur, A + "UserSettingErrors")
            etree.SubElement(ur, A + "UserSettings")
            continue
        etree.SubElement(ur, A + "ErrorCode").text = "NoError"
        etree.SubElement(ur, A + "ErrorMessage").text = "No error."
        etree.SubElement(ur, A + "RedirectTarget").set(f"{{{XSI_NS}}}nil", "true")
        etree.SubElement(ur, A + "UserSettingErrors")
        settings_el = etree.SubElement(ur, A + "UserSettings")
        settings = {
            "UserDisplayName": user.display_name,
            "UserDN": f"/o=Sandbox/ou=Exchange Administrative Group/cn=Recipients/cn={address.split('@')[0]}",
            "AutoDiscoverSMTPAddress": user.address,
            "CasVersion": cas_version,
            "EwsSupportedSchemas": EWS_SUPPORTED_SCHEMAS,
            "ExternalEwsUrl": ews_url,
            "InternalEwsUrl": ews_url,
            "ExternalEwsVersion": cas_version,
        }
        for name, value in settings.items():
            if requested and name not in requested:
                continue
            us = etree.SubElement(settings_el, A + "UserSetting")
            us.set(f"{{{XSI_NS}}}type", "StringSetting")
            etree.SubElement(us, A + "Name").text = name
            etree.SubElement(us, A + "Value").text = value
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
