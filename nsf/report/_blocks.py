"""The blocks a document is made of, typed.

The section builders and the family views (:mod:`nsf.study.families`) write each block as a
plain dict (``{"type": "p", "text": ..., "links": [...]}``); :func:`as_blocks` validates them
once into these models, which the renderers (Markdown and the HTML template) read. A block a
view writes wrong fails there, naming its type and field. What a block may leave out (a
paragraph's links, a table's class) has its default here, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["Block", "Figure", "Heading", "Items", "Link", "Note", "Para", "Pre", "Table",
           "as_blocks"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Link(_Part):
    """A reference to an anchor of a document (``appendix.html#<anchor>``)."""

    text: str
    doc: Literal["report", "appendix"]
    anchor: str


#: Text, or a number as it was given.
Scalar = bool | int | float | str | None
#: What a list item or a table cell holds: text, a link, or several of them (shown on separate
#: lines, or as a list of links).
Cell = Scalar | Link | list[Scalar | Link]


class Para(_Part):
    type: Literal["p"]
    text: str
    links: list[Link] = Field([], description="Evidence the paragraph points to.")


class Note(_Part):
    """A paragraph set apart (what is missing, unavailable, incomplete)."""

    type: Literal["note"]
    text: str
    links: list[Link] = []


class Heading(_Part):
    type: Literal["h3"]
    text: str


class Items(_Part):
    type: Literal["list"]
    items: list[Cell]


class Pre(_Part):
    """Preformatted text (a config, commands)."""

    type: Literal["pre"]
    text: str


class Figure(_Part):
    type: Literal["figure"]
    name: str = Field(description="The figure's name (figures/<name>.png).")
    caption: str


class Table(_Part):
    type: Literal["table"]
    caption: str
    headers: list[Cell]
    rows: list[list[Cell]]
    numeric: frozenset[int] = Field(frozenset(), description="Columns aligned as numbers.")
    css_class: str = Field("", alias="class", description="The HTML table's class (e.g. "
                           "'answers'); empty: the document's default.")


Block = Annotated[Para | Note | Heading | Items | Pre | Figure | Table,
                  Field(discriminator="type")]

_BLOCKS: TypeAdapter[list[Block]] = TypeAdapter(list[Block])


def as_blocks(blocks: Iterable[dict[str, Any] | Block]) -> list[Block]:
    """The blocks, typed (blocks already typed are kept as they are).

    Raises
    ------
    pydantic.ValidationError
        A block of an unknown type, without a field its type needs, or with one it has not.
    """
    return _BLOCKS.validate_python(list(blocks))
