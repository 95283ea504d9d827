"""The TinyWanPrompt node (tools/tiny_wan/comfy_prompt_node.py), installed as the benchmark and the
demo install it (tiny_comfy.install_prompt_node), embeds a prompt as the model it drives was trained:
with word positions only when asked (train.py --ordered-prompt), and the graph asks for them only when
the model file says so (check_learned.model_orders_words). Plain torch; the node is called directly."""
import importlib.util
import os
import sys
import types

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
for _path in (os.path.join(REPO, "tools", "benchmark"), os.path.join(REPO, "tools", "tiny_wan")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import data  # noqa: E402
import tiny_comfy  # noqa: E402


def installed_node(tmp_path):
    tiny_comfy.install_prompt_node(types.SimpleNamespace(custom_nodes_dir=tmp_path))
    init = tmp_path / "tiny_wan_nodes" / "__init__.py"
    spec = importlib.util.spec_from_file_location("tiny_wan_nodes_under_test", init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.NODE_CLASS_MAPPINGS["TinyWanPrompt"]()


def test_word_positions_is_an_optional_input_after_text(tmp_path):
    node = installed_node(tmp_path)
    inputs = type(node).INPUT_TYPES()
    assert list(inputs["required"]) == ["text"]   # saved graphs keep their widget values
    assert inputs["optional"]["word_positions"][1]["default"] is False


def test_the_node_embeds_word_positions_only_when_asked(tmp_path):
    node = installed_node(tmp_path)
    prompt = "red and blue over fine stripes panning left"
    plain = node.encode(prompt)[0][0][0][0]
    ordered = node.encode(prompt, word_positions=True)[0][0][0][0]
    assert torch.equal(plain, data.embed_prompt(prompt))
    assert torch.equal(ordered, data.embed_prompt(prompt, ordered=True))
    assert not torch.allclose(plain, ordered)
    assert torch.count_nonzero(node.encode("", word_positions=True)[0][0][0]) == 0   # the negative stays zeros


def test_the_graph_asks_for_word_positions_as_the_model_was_trained():
    import check_learned
    method = types.SimpleNamespace(insert=(), name="full", steps=4)
    shipped = os.path.join(REPO, "models", "tiny_wan21_t2v_textures.safetensors")
    ordered = check_learned.model_orders_words(shipped)
    assert ordered is True   # the committed textures model was trained with them (train.py --ordered-prompt)
    g = tiny_comfy.graph(method, "a red disc", 1, "euler", (64, 64, 5), "m.safetensors", word_positions=ordered)
    assert g["4"]["inputs"]["word_positions"] is True
    g = tiny_comfy.graph(method, "a red disc", 1, "euler", (64, 64, 5), "m.safetensors", word_positions=False)
    assert g["4"]["inputs"]["word_positions"] is False
