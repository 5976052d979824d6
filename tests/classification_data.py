"""A tiny, learnable classification set in Model Garden's TFRecord format (class = colour)."""
import numpy as np
import tensorflow as tf

COLOURS = np.array([[220, 40, 40], [40, 200, 40], [40, 40, 220], [220, 220, 40], [200, 40, 200],
                    [40, 200, 200], [240, 240, 240], [30, 30, 30], [240, 140, 20], [120, 60, 20]])


def write_classification_tfrecord(path, count, size, seed=0):
    """`count` noisy solid-colour images; label = colour index (10 classes)."""
    rng = np.random.default_rng(seed)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index in range(count):
            label = index % len(COLOURS)
            image = np.clip(COLOURS[label] + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            encoded = tf.io.encode_jpeg(image).numpy()
            example = tf.train.Example(features=tf.train.Features(feature={
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }))
            writer.write(example.SerializeToString())
    return str(path)
