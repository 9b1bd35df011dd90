"""C struct layouts of the blob's records and parameter blocks: each field's C++ name, type and offset.

The firmware reads the blob's records and each op's parameter block as plain C++ structs
(firmware/lib/model/blob_format.h, firmware/lib/kernels/*.h) of 8-, 16- and 32-bit fields without
padding. A Layout lists those fields by their C++ member names, in order, so that:
- the host packs a block by field name, not by position (`pack_fields`), and a missing, unknown or
  misspelt field is an error here rather than a wrong value on the device;
- a test can compare every field's offset (`fields`) with the C++ `offsetof` of the same member
  designator (`conv.act.min`), so two fields swapped on one side fail a test, not a device.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from typing import Union

# A member: (C++ name, struct code) for a scalar ("i"), an array ("4i") or a char array ("16s"),
# or (C++ name, Layout) for a nested struct.
Member = tuple[str, Union[str, "Layout"]]
FieldValue = Union[int, bytes, Sequence[int], Mapping[str, "FieldValue"]]

_CODE = re.compile(r"(\d*)([bBhHiIs])")


class Layout(struct.Struct):
    """A little-endian C struct. As a struct.Struct it packs and unpacks positionally (`pack`,
    `unpack_from`, `size`, `format`); it also knows its C++ name and, for every field in order, its
    member designator and byte offset (`fields`), nested structs' fields prefixed with their name."""

    def __init__(self, cpp_name: str, *members: Member):
        codes: list[str] = []
        fields: list[tuple[str, int]] = []
        values: list[tuple[str, int, str]] = []  # (designator, element count or 0 for one value, code)
        offset = 0
        for name, kind in members:
            if isinstance(kind, Layout):
                fields += [(f"{name}.{inner}", offset + at) for inner, at in kind.fields]
                values += [(f"{name}.{inner}", count, code) for inner, count, code in kind._values]
                codes.append(kind.format.lstrip("<"))
                offset += kind.size
                continue
            match = _CODE.fullmatch(kind)
            if match is None:
                raise ValueError(f"{cpp_name}.{name}: struct code {kind!r} (expected e.g. 'i', '4i', '16s')")
            count, code = int(match.group(1) or 1), match.group(2)
            element = struct.calcsize("<" + code)
            if offset % element:
                raise ValueError(f"{cpp_name}.{name} at offset {offset} is not aligned: C++ would pad before it")
            fields.append((name, offset))
            values.append((name, 0 if code == "s" or not match.group(1) else count, code))
            codes.append(kind)
            offset += count * element
        super().__init__("<" + "".join(codes))
        self.cpp_name = cpp_name
        self.fields: tuple[tuple[str, int], ...] = tuple(fields)
        self._values: tuple[tuple[str, int, str], ...] = tuple(values)

    @property
    def names(self) -> tuple[str, ...]:
        """The field designators in order."""
        return tuple(name for name, _ in self.fields)

    def offset(self, name: str) -> int:
        """The byte offset of field `name` (a designator such as "act.min") from the struct's start."""
        for field, at in self.fields:
            if field == name:
                return at
        raise KeyError(f"{self.cpp_name} has no field {name!r}")

    def pack_fields(self, values: Mapping[str, FieldValue]) -> bytes:
        """The struct's bytes with every field given by name: nested structs as mappings
        ({"conv": {...}}) or by designator ("conv.stride_h"), arrays as sequences. Raises KeyError
        naming the fields missing or unknown."""
        flat = _flatten(values)
        expected = [name for name, _, _ in self._values]
        missing = [name for name in expected if name not in flat]
        unknown = sorted(set(flat) - set(expected))
        if missing or unknown:
            raise KeyError(f"{self.cpp_name}: fields missing {missing}, unknown {unknown}")
        args: list = []
        for name, count, _ in self._values:
            value = flat[name]
            if count:
                if len(value) != count:
                    raise ValueError(f"{self.cpp_name}.{name}: {len(value)} values for an array of {count}")
                args.extend(value)
            else:
                args.append(value)
        return self.pack(*args)

    def fields_of(self, params: object, **extra: FieldValue) -> dict[str, FieldValue]:
        """Field values read from a parameter object whose attributes are named like the fields with
        dots as underscores (field "act.min" from `params.act_min`), `extra` giving those it lacks."""
        return {name: extra[name] if name in extra else getattr(params, name.replace(".", "_"))
                for name, _, _ in self._values}

    def pack_from(self, params: object, **extra: FieldValue) -> bytes:
        """The struct's bytes from a parameter object named like the fields (see fields_of)."""
        return self.pack_fields(self.fields_of(params, **extra))

    def zero_fields(self) -> dict[str, FieldValue]:
        """Every field 0: the block of a part an op does not use."""
        return {name: [0] * count if count else b"" if code == "s" else 0 for name, count, code in self._values}


def _flatten(values: Mapping[str, FieldValue], prefix: str = "") -> dict[str, FieldValue]:
    flat: dict[str, FieldValue] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[prefix + name] = value
    return flat
