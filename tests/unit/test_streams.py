"""Taking a model input apart into streams and putting outputs back in the same structure."""
import pytest
import torch

from taocache.streams import TENSOR, Form, StreamError, chunks_by_stream, split_streams, stream_keys


def test_a_tensor_is_one_stream():
    x = torch.zeros(2, 3)
    tensors, form = split_streams(x)
    assert form == TENSOR and tensors[0] is x
    assert form.pack([x]) is x


@pytest.mark.parametrize("container", [list, tuple])
def test_a_list_of_streams_keeps_its_container_and_order(container):
    video, audio = torch.zeros(2, 4, 3, 8, 8), torch.ones(2, 8, 3, 4, dtype=torch.bfloat16)
    value = container([video, audio])
    tensors, form = split_streams(value)
    assert form == Form(container.__name__, 2) and tensors[0] is video and tensors[1] is audio
    packed = form.pack(tensors)
    assert type(packed) is container and packed[0] is video and packed[1] is audio
    assert packed is not value  # a new container: the caller's list is never handed back or changed


@pytest.mark.parametrize("value,why", [
    ([], "empty list"),
    ([torch.zeros(2, 3), "audio"], "stream 1 of the model input is a str"),
    ([torch.zeros(2, 3), torch.zeros(1, 3)], "different batch sizes [2, 1]"),
    ([[torch.zeros(2, 3)]], "stream 0 of the model input is a list"),
    (torch.tensor(1.0), "0-dimensional"),
    ({"video": torch.zeros(2)}, "is a dict"),
])
def test_what_cannot_be_keyed_is_refused_with_the_reason(value, why):
    with pytest.raises(StreamError, match=None) as raised:
        split_streams(value)
    assert why in str(raised.value)


def test_packing_the_wrong_number_of_streams_is_refused():
    with pytest.raises(StreamError):
        Form("list", 2).pack([torch.zeros(1)])


def test_an_output_is_named_as_an_output_in_the_reason():
    with pytest.raises(StreamError, match=r"the streams of the model output have different batch sizes \[2, 1\]"):
        split_streams([torch.zeros(2, 3), torch.zeros(1, 3)], "model output")


def test_each_branch_of_each_stream_gets_its_key_and_its_chunk_in_the_same_order():
    video = torch.arange(4.0).reshape(2, 2)  # batch of two branches
    audio = 10 + torch.arange(2.0).reshape(2, 1)
    keys = stream_keys(["c", "u"], 2)
    chunks = chunks_by_stream([video, audio], 2)
    assert keys == [("c", "stream", 0), ("u", "stream", 0), ("c", "stream", 1), ("u", "stream", 1)]
    assert [chunk.flatten().tolist() for chunk in chunks] == [[0.0, 1.0], [2.0, 3.0], [10.0], [11.0]]
    assert stream_keys(["c", "u"], 1) == ["c", "u"], "a single stream keeps the plain branch keys"
