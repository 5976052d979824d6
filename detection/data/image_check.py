"""Can training read this image file as its COCO entry describes it? One reason when not (UnusableImage).

Model Garden's decoder reads `image/encoded` with tf.io.decode_image(channels=3): JPEG (grayscale
and CMYK too), PNG (palette, alpha and 16-bit too, scaled to 8 bits) and BMP decode; GIF and WebP
decode with a leading frame axis that decoder does not accept, TIFF and others not at all. The
check is that decoder itself on the whole file (a truncated or corrupt file fails here, not in
training), at the width and height the JSON gives, since the boxes are normalized by them.
TensorFlow ignores EXIF orientation: boxes must be in the stored pixel frame; an image whose
JSON size is its displayed (rotated) size is refused with that hint.
"""
import io
import os
import re
import warnings

import tensorflow as tf
from PIL import Image

FORMATS = ("JPEG", "PNG", "BMP")
MAX_PIXELS = 100_000_000  # 10,000 x 10,000: every input pipeline worker decodes an image whole (3 bytes a pixel)
ROTATING = (5, 6, 7, 8)  # EXIF orientations that swap width and height for display
EXIF_ORIENTATION = 0x0112


class UnusableImage(ValueError):
    """Why an image file cannot train or evaluate; one clause, without the file's name."""


def inside(image_dir, file_name):
    """The path of `file_name` under `image_dir`; UnusableImage when the name leaves that folder."""
    parts = file_name.replace("\\", "/")
    if os.path.isabs(parts) or re.match(r"^[A-Za-z]:", parts) or os.path.normpath(parts).split(os.sep)[0] == "..":
        raise UnusableImage("its file_name leaves --image_dir (absolute or '..'); names are relative to --image_dir")
    return os.path.join(image_dir, file_name)


def _tf_message(error):
    """TensorFlow's error text without its '{{function_node ...}}' prefix and '[Op:...]' suffix."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", error.message or type(error).__name__)
    return re.sub(r"\s*\[Op:\w+\]", "", text).strip().splitlines()[0]


def check(path, width, height):
    """Returns True when the image carries an EXIF orientation TensorFlow ignores; raises UnusableImage."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.NotFoundError:
        raise UnusableImage("not found in --image_dir") from None
    except tf.errors.OpError as error:
        raise UnusableImage(f"cannot be read ({type(error).__name__})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise UnusableImage(f"its header declares over {2 * Image.MAX_IMAGE_PIXELS:,} pixels; at most "
                            f"{MAX_PIXELS:,} are accepted") from None
    except (OSError, SyntaxError, ValueError):  # PIL.UnidentifiedImageError is an OSError
        raise UnusableImage(f"is not an image ({len(data):,} bytes in no format it recognizes); valid: "
                            f"{', '.join(FORMATS)}") from None
    if image.format not in FORMATS:
        raise UnusableImage(f"is {image.format}, which Model Garden's decoder cannot read; valid: {', '.join(FORMATS)} "
                            f"(convert the file and keep its name)")
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise UnusableImage(f"is {w}x{h} pixels, over the {MAX_PIXELS:,} accepted (every input worker decodes it "
                            f"whole); downscale it and its boxes")
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block: TensorFlow ignores EXIF anyway
        orientation = 1
    if (w, h) != (width, height):
        hint = ""
        if orientation in ROTATING and (h, w) == (width, height):
            hint = (f"; its EXIF orientation {orientation} rotates it for display, TensorFlow decodes the stored "
                    f"pixels: give the stored size and boxes in the stored frame")
        raise UnusableImage(f"is {w}x{h} pixels (width x height), the JSON says {width}x{height}{hint}")
    try:
        decoded = tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.OpError as error:
        raise UnusableImage(f"cannot be decoded by TensorFlow ({_tf_message(error)})") from None
    if tuple(decoded.shape[:2]) != (h, w):
        raise UnusableImage(f"decodes to {decoded.shape[1]}x{decoded.shape[0]} pixels, its header says {w}x{h}")
    return orientation not in (None, 1)
