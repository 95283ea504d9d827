"""ComfyUI glue for TaoCache: translates node inputs and sampler calls, never decides."""
