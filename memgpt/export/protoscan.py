"""Find the external-data references of an ONNX file without the ``onnx`` package.

A tampered graph can name external data such as ``../../etc/passwd``; onnxruntime would read it.
The runtime calls ``external_locations`` before creating a session and refuses any location that
is not a plain file name inside the export folder. This walks the protobuf wire format of
``ModelProto`` -> graphs -> tensors (initializers, sparse initializers, node attributes,
subgraphs, functions) and never loads tensor bytes into Python objects beyond slicing.
Standard library only.
"""

from __future__ import annotations

# Field numbers from onnx.proto3.
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INIT, _GRAPH_SPARSE = 1, 5, 15
_NODE_ATTR = 5
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS = 5, 6, 10, 11
_ATTR_SPARSE, _ATTR_SPARSES = 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_FUNC_NODE = 7
_TENSOR_EXTERNAL, _TENSOR_LOCATION = 13, 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2


class ProtoError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ProtoError("truncated or malformed varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: memoryview):
    """Yield (field number, wire type, value): an int for varints/fixed, a memoryview for bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > n:
                raise ProtoError("a length-delimited field runs past the end")
            value, i = buf[i:i + size], i + size
        elif wire == 5:
            value, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        if i > n:
            raise ProtoError("a field runs past the end")
        yield num, wire, value


def _tensor(buf, out: list[str]) -> None:
    external, found = False, False
    for num, _, v in fields(buf):
        if num == _TENSOR_LOCATION and v == 1:
            external = True
        elif num == _TENSOR_EXTERNAL:
            entry = {k: bytes(val) for k, _, val in fields(v) if k in (_ENTRY_KEY, _ENTRY_VALUE)}
            if entry.get(_ENTRY_KEY) == b"location":
                out.append(entry.get(_ENTRY_VALUE, b"").decode("utf-8", "replace"))
                found = True
    if external and not found:
        out.append("")


def _sparse(buf, out) -> None:
    for num, _, v in fields(buf):
        if num in (_SPARSE_VALUES, _SPARSE_INDICES):
            _tensor(v, out)


def _node(buf, out, depth) -> None:
    for num, _, v in fields(buf):
        if num != _NODE_ATTR:
            continue
        for a, wire, av in fields(v):
            if wire != 2:
                continue
            if a in (_ATTR_T, _ATTR_TENSORS):
                _tensor(av, out)
            elif a in (_ATTR_G, _ATTR_GRAPHS):
                _graph(av, out, depth + 1)
            elif a in (_ATTR_SPARSE, _ATTR_SPARSES):
                _sparse(av, out)


def _graph(buf, out, depth: int = 0) -> None:
    if depth > 64:
        raise ProtoError("subgraphs nested too deeply")
    for num, wire, v in fields(buf):
        if wire != 2:
            continue
        if num == _GRAPH_INIT:
            _tensor(v, out)
        elif num == _GRAPH_SPARSE:
            _sparse(v, out)
        elif num == _GRAPH_NODE:
            _node(v, out, depth)


def external_locations(data: bytes) -> list[str]:
    """Every external-data location named in a serialized ``ModelProto`` ("" if one is missing)."""
    out: list[str] = []
    buf = memoryview(data)
    for num, wire, v in fields(buf):
        if wire != 2:
            continue
        if num == _MODEL_GRAPH:
            _graph(v, out)
        elif num == _MODEL_FUNCTIONS:
            for fnum, fwire, fv in fields(v):
                if fnum == _FUNC_NODE and fwire == 2:
                    _node(fv, out, 1)
    return out
