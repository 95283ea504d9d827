"""Test-only ComfyUI nodes (placeholder; filled in by its task)."""
NODE_CLASS_MAPPINGS = {}
