"""Let PyPI's (CUDA-linked) torchvision import beside a CPU-only torch.

Loaded at interpreter start through a .pth file in the test runtime's venv. Its compiled ops fail
to register on a CPU torch, and torchvision's meta registrations then look up `torchvision::nms`
and `torchvision::qnms`; defining those two schemas first is all ComfyUI's import path needs.
"""
import importlib.abc
import sys


class _DefineTorchvisionOps(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torchvision":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        try:
            import torch

            if torch.version.cuda is None:
                library = torch.library.Library("torchvision", "FRAGMENT")
                for schema in ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
                               "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"):
                    try:
                        library.define(schema)
                    except RuntimeError:
                        pass
                globals()["_library"] = library
        except Exception:
            pass
        return None  # the normal finders import torchvision itself


if not any(isinstance(f, _DefineTorchvisionOps) for f in sys.meta_path):
    sys.meta_path.insert(0, _DefineTorchvisionOps())
