"""Reading DAV answers defensively: what a hostile or broken server may send is refused cleanly."""

from __future__ import annotations

import pytest

from bot.calendar.caldav import dav_xml as x

GOOD = b"""<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:sync-token> tok-2 </D:sync-token>
  <D:response>
    <D:href> /u/cal/a.ics </D:href>
    <D:propstat><D:prop><D:getetag>"e1"</D:getetag>
      <C:calendar-data><![CDATA[BEGIN:VCALENDAR
X-NOTE:<!DOCTYPE html>
END:VCALENDAR
]]></C:calendar-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
    <D:propstat><D:prop><D:displayname/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status>
    </D:propstat>
  </D:response>
  <D:response><D:href>/u/cal/gone.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status>
  </D:response>
  <D:response><D:status>HTTP/1.1 200 OK</D:status></D:response>
</D:multistatus>
"""


def test_a_multistatus_is_read_whatever_its_prefixes() -> None:
    status = x.parse_multistatus(GOOD)
    assert status.sync_token == "tok-2"
    assert [r.href for r in status.responses] == ["/u/cal/a.ics", "/u/cal/gone.ics"]
    first, gone = status.responses
    assert first.status is None and first.text(x.dav("getetag")) == '"e1"'
    assert "<!DOCTYPE html>" in (first.text(x.caldav("calendar-data")) or "")
    assert x.dav("displayname") not in first.props  # a 404 propstat is no property
    assert gone.status == 404 and gone.props == {}


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<multistatus xmlns="DAV:"><response><href>&lol2;</href></response></multistatus>"""


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (BOMB, "DOCTYPE"),
        (b"<multistatus xmlns='DAV:'><response>", "not well-formed"),
        (b"", "not well-formed"),
        (b"<html><body>Login</body></html>", "expected a DAV:multistatus"),
    ],
    ids=["entities", "truncated", "empty", "html"],
)
def test_what_is_not_a_multistatus_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(x.XmlError, match=says):
        x.parse_multistatus(body)


def test_error_conditions() -> None:
    body = b'<?xml version="1.0"?><error xmlns="DAV:"><valid-sync-token/></error>'
    assert x.error_conditions(body) == {x.dav("valid-sync-token")}
    assert x.error_conditions(b"no sync here") == set()
    assert x.error_conditions(BOMB) == set()


def test_our_bodies_carry_any_text_safely() -> None:
    body = x.mkcalendar('Agent <A> & "B"')
    assert b'Agent &lt;A&gt; &amp; "B"' in body
    hrefs = x.calendar_multiget(["/u/c/a&b.ics"])
    assert b"/u/c/a&amp;b.ics" in hrefs
