"""Message models in the style of the current Python services, for the contract tests.

`python3 python_models.py schema` prints the JSON Schema pydantic writes for them (checked in
as `python_messages.schema.json`); `python3 python_models.py samples` prints one message of
each model as Python's services send it (checked in as `python_messages.jsonl`).
"""

import json
import sys
from enum import Enum
from typing import Literal, Optional, Union

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema


class Era(str, Enum):
    WILDERNESS = "wilderness"
    PRE_INDUSTRIAL = "pre_industrial"
    MODERN = "modern"
    AI_FUTURE = "ai_future"


class Biome(str, Enum):
    TEMPERATE_FOREST = "temperate_forest"
    DESERT = "desert"
    COASTAL = "coastal"


class ContentType(str, Enum):
    IMAGE = "image"
    VIDEO = "video"


class ImageSource(BaseModel):
    """An image as base64 data inside the message, or as a file:// URI."""

    image_data: Optional[str] = None
    uri: Optional[str] = None
    mime_type: str = "image/png"


class SpaceTimeUpdate(BaseModel):
    type: Literal["SpaceTimeUpdate"] = "SpaceTimeUpdate"
    era: Era
    biome: Biome
    timestamp: str
    tags: list[str] = []


class RenderRequest(BaseModel):
    type: Literal["RenderRequest"] = "RenderRequest"
    request_id: str
    era: Era
    biome: Biome
    prompt: str
    width: Optional[int] = 1024
    height: Optional[int] = 1024
    seed: Optional[int] = None
    clear_queue: bool = False


class ImageReady(BaseModel):
    type: Literal["ImageReady"] = "ImageReady"
    request_id: str
    image: ImageSource
    strength: float = 0.5


class DisplayMedia(BaseModel):
    type: Literal["DisplayMedia"] = "DisplayMedia"
    content_type: ContentType
    size: Union[tuple[int, int], str]
    loop: bool = False
    fade_in: Optional[float] = None
    image: Optional[ImageSource] = None


MODELS = [SpaceTimeUpdate, RenderRequest, ImageReady, DisplayMedia]


def schema() -> dict:
    _, document = models_json_schema(
        [(model, "validation") for model in MODELS], title="Python messages"
    )
    return document


def samples() -> list:
    return [
        SpaceTimeUpdate(era=Era.MODERN, biome=Biome.COASTAL, timestamp="2026-12-01T18:00:00"),
        RenderRequest(request_id="r-1", era=Era.AI_FUTURE, biome=Biome.DESERT, prompt="dunes", seed=7),
        ImageReady(request_id="r-1", image=ImageSource(uri="file:///tmp/r-1.png")),
        DisplayMedia(content_type=ContentType.IMAGE, size=(1920, 1080), loop=True),
        DisplayMedia(content_type=ContentType.VIDEO, size="fullscreen", fade_in=0.5),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["schema"]:
        print(json.dumps(schema(), indent=2, sort_keys=True))
    elif sys.argv[1:] == ["samples"]:
        for sample in samples():
            print(sample.model_dump_json())
    else:
        sys.exit("usage: python_models.py schema|samples")
