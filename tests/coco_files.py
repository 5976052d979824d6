"""Small COCO-format datasets written on the fly (PIL images + an instances JSON), valid or broken."""
import io
import json
import struct
import zlib

import numpy as np
from PIL import Image

SIZE = (48, 32)  # width, height


def encoded(size=SIZE, fmt="JPEG", mode="RGB", seed=0, flat=False, **save):
    """A noise image (or a flat grey one) of `size` (width, height) in PIL `mode`, encoded as `fmt`."""
    w, h = size
    rng = np.random.default_rng(seed)
    if flat:
        image = Image.new(mode, size, 128)
    elif mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (h, w)).astype(np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def png_header(width, height):
    """A PNG that declares width x height pixels and holds no pixel data (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def dataset(root, count=3):
    """root/images/<id>.jpg (48x32) and the COCO dict describing them: one 10x8 box per image,
    categories 1 and 2. Returns (image_dir, coco); write the JSON with write_json."""
    image_dir = root / "images"
    image_dir.mkdir(parents=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        (image_dir / f"{image_id}.jpg").write_bytes(encoded(seed=image_id))
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": SIZE[0], "height": SIZE[1]})
        annotations.append({"id": image_id, "image_id": image_id, "category_id": 1 + image_id % 2,
                            "bbox": [4, 4, 10, 8], "area": 80, "iscrowd": 0})
    categories = [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]
    return image_dir, {"images": images, "annotations": annotations, "categories": categories}


def write_json(path, coco_or_text):
    path.write_text(coco_or_text if isinstance(coco_or_text, str) else json.dumps(coco_or_text), encoding="utf-8")
    return str(path)
