"""ComfyUI node for the tiny shapes model: a prompt -> CONDITIONING through data.embed_prompt.

Installed (with data.py beside it) as the custom node package `tiny_wan_nodes` by the benchmark and
the demo; never shipped with the pack. An empty prompt gives the all-zero negative/unconditional
context the model was trained with. word_positions: data.embed_prompt's ordered embedding, for a
model trained with train.py --ordered-prompt (its metadata says so: check_learned.model_orders_words);
an optional input after text, so graphs saved before it keep their widget values.
"""
import torch

from .data import CONTEXT_LEN, embed_prompt, null_embedding


class TinyWanPrompt:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "a red disc moving left", "multiline": False})},
                "optional": {"word_positions": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Add each word's position to its token (a model trained with train.py --ordered-prompt)."})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "testing/tiny_wan"
    DESCRIPTION = "Prompt embedding of the tiny shapes model (empty text: the unconditional zeros)."

    def encode(self, text, word_positions=False):
        if text.strip():
            context = embed_prompt(text, ordered=bool(word_positions)).unsqueeze(0)
        else:
            context = null_embedding(1, CONTEXT_LEN)
        return ([[context.to(torch.float32), {}]],)


# dict(...), not a {...} literal: ComfyUI-Manager's scanner would list a literal as the pack's node
NODE_CLASS_MAPPINGS = dict(TinyWanPrompt=TinyWanPrompt)
NODE_DISPLAY_NAME_MAPPINGS = dict(TinyWanPrompt="Tiny Wan prompt (test model)")
