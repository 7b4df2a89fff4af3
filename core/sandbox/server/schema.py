"""Optional request validation against Microsoft's EWS schema, refusing like Exchange does.

Exchange checks every request against its schema and answers a violation with an
`ErrorSchemaValidation` fault naming the line, position and violation. The sandbox does
the same when given the directory with types.xsd and messages.xsd (../shared/ews-schema);
without it requests are not schema-checked (the server still parses what it needs).
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from lxml import etree

XML_NS_SCHEMA = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
  targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xs:attribute name="lang" type="xs:language"/>
</xs:schema>"""

# types.xsd imports the xml: namespace without a schemaLocation; give libxml2 one first.
_WRAPPER = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
  targetNamespace="urn:x-pstimport:ews-wrapper" elementFormDefault="qualified">
  <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="{xml}"/>
  <xs:import namespace="http://schemas.microsoft.com/exchange/services/2006/types" schemaLocation="{types}"/>
  <xs:import namespace="http://schemas.microsoft.com/exchange/services/2006/messages"
             schemaLocation="{messages}"/>
</xs:schema>"""


_COMPILED: dict[Path, tuple[etree.XMLSchema, threading.Lock]] = {}
_COMPILED_LOCK = threading.Lock()


class SchemaViolation(Exception):
    def __init__(self, line: int, position: int, violation: str) -> None:
        super().__init__(violation)
        self.line = line
        self.position = position
        self.violation = violation


class RequestSchema:
    """Validates the EWS header and body elements of a request envelope."""

    def __init__(self, schema_dir: str | Path, scratch: Path) -> None:
        schema_dir = Path(schema_dir)
        for name in ("types.xsd", "messages.xsd"):
            if not (schema_dir / name).is_file():
                raise FileNotFoundError(f"{schema_dir / name}: not found (the EWS schema directory)")
        key = schema_dir.resolve()
        with _COMPILED_LOCK:  # compiling takes a noticeable fraction of a second: once per process
            if key not in _COMPILED:
                scratch.mkdir(parents=True, exist_ok=True)
                xml_xsd = scratch / "xml-namespace.xsd"
                xml_xsd.write_text(XML_NS_SCHEMA, encoding="utf-8")
                wrapper = _WRAPPER.format(
                    xml=xml_xsd.as_uri(),
                    types=(schema_dir / "types.xsd").as_uri(),
                    messages=(schema_dir / "messages.xsd").as_uri(),
                )
                # An lxml XMLSchema is not safe to use from two threads at once: it comes with a lock.
                _COMPILED[key] = (etree.XMLSchema(etree.fromstring(wrapper.encode())), threading.Lock())
            self._schema, self._lock = _COMPILED[key]

    def check(self, element: etree._Element) -> None:
        """Raise SchemaViolation when `element` (a global EWS element) is not valid."""
        with self._lock:
            if self._schema.validate(etree.ElementTree(copy.deepcopy(element))):
                return
            err = self._schema.error_log[0]
            # Report positions in the request as sent, as Exchange does.
            raise SchemaViolation(element.sourceline or err.line, err.column, err.message)
