"""XML from a Hikvision camera read into elements: its ISAPI replies and its pushed
alerts, both through defusedxml (a push arrives from the lane's LAN, and an entity
expansion or an external entity must be refused, not expanded), and whatever encoding
the document declares.

Chinese firmware writes ``<?xml version="1.0" encoding="GB2312"?>`` (or GBK). expat,
under ``xml.etree``, reads UTF-8, UTF-16 and single-byte encodings only; for a
multi-byte one it raises a bare ``ValueError`` ("multi-byte encodings are not
supported"), which is neither a parse error nor a refusal. So a declared encoding is
decoded here by Python's codecs, GB2312 and GBK as GB18030 (their superset: a camera
that says GB2312 writes GBK's characters too), and the text parsed without its
declaration. Every way a document can fail comes out as ``XmlError``.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

# The declaration, where it names an encoding; a UTF-8 byte-order mark may precede it.
_DECLARED = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"'][^>]*?\?>"
)
# GB2312 and GBK are subsets of GB18030, which Python decodes as one.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030"}


class XmlError(ValueError):
    """The bytes are not an XML document we read; the message says why."""


def parse(body: bytes) -> Element:
    """The document's root; ``XmlError`` for one that is not XML, declares an encoding
    its bytes are not in, or has a DTD (entities)."""
    source: bytes | str = body
    declared = _DECLARED.match(body)
    if declared is not None:
        name = declared[1].decode("ascii").lower()
        try:
            source = body[declared.end() :].decode(_SUPERSET.get(name, name))
        except LookupError:
            raise XmlError(f"unknown encoding {name!r}") from None
        except UnicodeDecodeError as exc:
            raise XmlError(f"not {name} text at byte {declared.end() + exc.start}") from None
        except (UnicodeError, ValueError) as exc:
            # A codec that is no text encoding, or one that refuses in its own way
            # ("punycode", "undefined").
            raise XmlError(f"cannot read {name!r} text: {type(exc).__name__}") from None
    try:
        return safe_xml.fromstring(source, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise XmlError(f"XML refused: {type(exc).__name__}") from None
    except safe_xml.ParseError as exc:
        raise XmlError(f"not XML: {exc}") from None
    except ValueError as exc:
        # expat's own refusals that are not parse errors (an encoding it cannot take
        # from a declaration this did not match, say).
        raise XmlError(f"not XML: {exc}") from None
