"""The XML of WebDAV/CalDAV: the bodies of our requests, and a defensive reading of answers.

Our bodies are built with ElementTree (never by pasting strings, so a display
name or an href cannot break them). Answers come from a server we do not
control: the parser refuses a DOCTYPE outright (a multistatus has no use for
one, and it is how entity expansion attacks start), reads only what it knows
and turns any malformed document into `XmlError` instead of a traceback.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"


def dav(name: str) -> str:
    """The Clark name of a DAV: element, as ElementTree spells it."""
    return f"{{{DAV}}}{name}"


def caldav(name: str) -> str:
    return f"{{{CALDAV}}}{name}"


class XmlError(ValueError):
    """The answer is not a multistatus (or DAV:error) we can read; the text says why."""


def _document(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _prop(parent: ET.Element, names: Iterable[str]) -> None:
    prop = ET.SubElement(parent, dav("prop"))
    for name in names:
        ET.SubElement(prop, name)


def propfind(*names: str) -> bytes:
    """PROPFIND asking for the properties `names` (Clark names)."""
    root = ET.Element(dav("propfind"))
    _prop(root, names)
    return _document(root)


def mkcalendar(display_name: str) -> bytes:
    """MKCALENDAR of an event calendar named `display_name` (RFC 4791 §5.3.1)."""
    root = ET.Element(caldav("mkcalendar"))
    prop = ET.SubElement(ET.SubElement(root, dav("set")), dav("prop"))
    ET.SubElement(prop, dav("displayname")).text = display_name
    components = ET.SubElement(prop, caldav("supported-calendar-component-set"))
    ET.SubElement(components, caldav("comp"), name="VEVENT")
    return _document(root)


def sync_collection(token: str) -> bytes:
    """RFC 6578 sync-collection, sync-level 1, asking only for the ETags ("" = initial)."""
    root = ET.Element(dav("sync-collection"))
    ET.SubElement(root, dav("sync-token")).text = token
    ET.SubElement(root, dav("sync-level")).text = "1"
    _prop(root, [dav("getetag")])
    return _document(root)


def calendar_multiget(hrefs: Iterable[str]) -> bytes:
    """calendar-multiget (RFC 4791 §7.9) of `hrefs`: their ETags and calendar data."""
    root = ET.Element(caldav("calendar-multiget"))
    _prop(root, [dav("getetag"), caldav("calendar-data")])
    for href in hrefs:
        ET.SubElement(root, dav("href")).text = href
    return _document(root)


def calendar_query() -> bytes:
    """calendar-query of every calendar object: the full listing without sync support."""
    root = ET.Element(caldav("calendar-query"))
    _prop(root, [dav("getetag"), caldav("calendar-data")])
    ET.SubElement(ET.SubElement(root, caldav("filter")), caldav("comp-filter"), name="VCALENDAR")
    return _document(root)


@dataclass(slots=True)
class DavResponse:
    """One DAV:response: its href as sent, its own status (if it had one) and the
    properties the server answered with 200 (Clark name -> element)."""

    href: str
    status: int | None
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        element = self.props.get(name)
        return None if element is None else (element.text or "")

    def has_type(self, name: str) -> bool:
        """Whether DAV:resourcetype holds `name` (e.g. `dav("collection")`)."""
        kinds = self.props.get(dav("resourcetype"))
        return kinds is not None and kinds.find(name) is not None


@dataclass(slots=True)
class Multistatus:
    responses: list[DavResponse]
    #: the DAV:sync-token of a sync-collection answer
    sync_token: str | None


_STATUS = re.compile(r"^\s*HTTP/\d(?:\.\d)?\s+(\d{3})\b")


def _status(element: ET.Element | None) -> int | None:
    if element is None or element.text is None:
        return None
    match = _STATUS.match(element.text)
    return int(match.group(1)) if match else None


_ELEMENT_START = re.compile(rb"<[A-Za-z_]")


def _root(body: bytes) -> ET.Element:
    # A DOCTYPE may only stand before the root element (calendar data may quote one later).
    first = _ELEMENT_START.search(body)
    if b"<!DOCTYPE" in (body[: first.start()] if first else body):
        raise XmlError("the answer declares a DOCTYPE; refused")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise XmlError(f"the answer is not well-formed XML ({exc})") from None


def parse_multistatus(body: bytes) -> Multistatus:
    """The responses of a 207 answer; responses without an href are dropped."""
    root = _root(body)
    if root.tag != dav("multistatus"):
        raise XmlError(f"expected a DAV:multistatus, got {root.tag[:80]!r}")
    responses: list[DavResponse] = []
    for node in root.findall(dav("response")):
        href = node.findtext(dav("href"))
        if href is None or not href.strip():
            continue
        response = DavResponse(href=href.strip(), status=_status(node.find(dav("status"))))
        for propstat in node.findall(dav("propstat")):
            if _status(propstat.find(dav("status"))) != 200:
                continue
            for prop in propstat.findall(dav("prop")):
                for child in prop:
                    response.props[child.tag] = child
        responses.append(response)
    token = root.findtext(dav("sync-token"))
    return Multistatus(responses, token.strip() if token and token.strip() else None)


def error_conditions(body: bytes) -> set[str]:
    """The precondition elements of a DAV:error body (e.g. `dav("valid-sync-token")`);
    empty when the body is not one."""
    if not body.strip():
        return set()
    try:
        root = _root(body)
    except XmlError:
        return set()
    if root.tag != dav("error"):
        return set()
    return {child.tag for child in root}
