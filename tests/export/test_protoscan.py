"""memgpt.export.protoscan: external-data locations found in every place an ONNX model holds a
tensor, checked against models written with the ``onnx`` package itself; malformed bytes refused."""

import onnx
import pytest
from onnx import TensorProto, helper

from memgpt.export.protoscan import ProtoError, external_locations, fields


def external(name: str, location: str | None) -> TensorProto:
    t = helper.make_tensor(name, TensorProto.FLOAT, [2], [1.0, 2.0])
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    if location is not None:
        entry = t.external_data.add()
        entry.key, entry.value = "location", location
    other = t.external_data.add()
    other.key, other.value = "offset", "0"
    return t


def sparse(location: str) -> onnx.SparseTensorProto:
    values = external("sv", location)
    indices = helper.make_tensor("si", TensorProto.INT64, [2], [0, 1])
    return helper.make_sparse_tensor(values, indices, [4])


def model_with_tensors_everywhere() -> onnx.ModelProto:
    inner = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=external("k", "sub-const.bin"))],
        "then", [], [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])],
        initializer=[external("sub_init", "sub-init.bin")])
    nodes = [
        helper.make_node("Constant", [], ["a"], value=external("v", "node-attr.bin")),
        helper.make_node("Constant", [], ["s"], sparse_value=sparse("node-sparse.bin")),
        helper.make_node("If", ["cond"], ["c"], then_branch=inner, else_branch=inner),
        helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.25),  # a float attribute: wire 5
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])],
        initializer=[external("w", "weights.bin"), external("nameless", None),
                     helper.make_tensor("inline", TensorProto.FLOAT, [1], [3.0])],
        sparse_initializer=[sparse("sparse-init.bin")])
    fn = onnx.FunctionProto(name="f", domain="custom")
    fn.node.append(helper.make_node("Constant", [], ["z"], value=external("fv", "function.bin")))
    model = helper.make_model(graph)
    model.functions.append(fn)
    return model


def test_every_tensor_slot_is_found():
    found = external_locations(model_with_tensors_everywhere().SerializeToString())
    assert sorted(found) == sorted([
        "node-attr.bin", "node-sparse.bin", "sub-const.bin", "sub-init.bin", "sub-const.bin",
        "sub-init.bin", "weights.bin", "", "sparse-init.bin", "function.bin"])


def test_a_model_without_external_data_has_none():
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                          initializer=[helper.make_tensor("i", TensorProto.FLOAT, [1], [1.0])])
    assert external_locations(helper.make_model(g).SerializeToString()) == []


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field(num: int, wire: int, payload: bytes = b"") -> bytes:
    key = varint(num << 3 | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else payload)


def test_fixed_width_fields_are_skipped_whole():
    # field 99 fixed64 and field 98 fixed32 at the model level, then a graph
    data = field(99, 1, b"\x01" * 8) + field(98, 5, b"\x02" * 4)
    assert [(n, w) for n, w, _ in fields(memoryview(data))] == [(99, 1), (98, 5)]
    assert external_locations(data + model_with_tensors_everywhere().SerializeToString())


@pytest.mark.parametrize("data, message", [
    (b"\x80", "varint"),                       # a key that never ends
    (b"\x08" + b"\xff" * 11, "varint"),        # a varint over 64 bits
    (b"\x3a\x05ab", "past the end"),           # graph field (7) longer than the bytes
    (b"\x3b", "wire type 3"),                   # start-group: unsupported
    (b"\x39\x01\x02", "past the end"),         # fixed64 cut short
])
def test_malformed_bytes_are_refused(data, message):
    with pytest.raises(ProtoError, match=message):
        external_locations(data)


def test_deeply_nested_subgraphs_are_refused():
    # written by hand: protobuf itself refuses to build a message this deep
    graph = b""
    for _ in range(70):  # graph -> node (1) -> attribute (5) -> g (6) -> graph ...
        graph = field(1, 2, field(5, 2, field(6, 2, graph)))
    with pytest.raises(ProtoError, match="nested too deeply"):
        external_locations(field(7, 2, graph))
    shallow = b""
    for _ in range(10):
        shallow = field(1, 2, field(5, 2, field(6, 2, shallow)))
    assert external_locations(field(7, 2, shallow)) == []
