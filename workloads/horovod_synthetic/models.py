"""Models for the synthetic training benchmark: torchvision ResNets and ``convnet``, a small CNN.

``convnet`` needs only torch, so the benchmark runs where torchvision is not installed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

CONVNET = "convnet"
TORCHVISION_MODELS = ("resnet18", "resnet50", "resnet101")
MODEL_CHOICES = (CONVNET, *TORCHVISION_MODELS)


class ModelUnavailableError(Exception):
    """A known model name whose library is not installed."""


def torchvision_available() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def default_model() -> str:
    """Return resnet50 when torchvision is installed, else convnet."""
    return "resnet50" if torchvision_available() else CONVNET


def check_model_available(name: str) -> None:
    """Raise ValueError for an unknown model, or ModelUnavailableError if its library is missing."""
    if name not in MODEL_CHOICES:
        raise ValueError(f"unknown model {name!r}. Choose one of {', '.join(MODEL_CHOICES)}")
    if name in TORCHVISION_MODELS and not torchvision_available():
        raise ModelUnavailableError(
            f"--model {name} needs torchvision, which is not installed. Install the "
            f"torchvision release that matches torch, or use --model {CONVNET}"
        )


def build_model(name: str, num_classes: int, width: int) -> Any:
    """Build the model ``name``, where ``width`` sets convnet's first-layer channels."""
    check_model_available(name)
    if name == CONVNET:
        return build_convnet(num_classes, width)
    import torchvision.models

    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)


def build_convnet(num_classes: int, width: int) -> Any:
    """Build three stride-2 conv blocks (width, 2*width, 4*width channels) and a linear head."""
    from torch import nn

    layers: list[nn.Module] = []
    in_channels = 3
    for out_channels in (width, 2 * width, 4 * width):
        layers += [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
    return nn.Sequential(*layers)
