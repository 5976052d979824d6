"""Resuming the training input stream cheaply: skip serialized records before they are decoded.

Model Garden does not checkpoint the input iterator, so a resumed run must skip what the
interrupted run consumed to train on the same batches (same seed, same AP). Skipping finished
batches decodes, parses and batches every skipped image (hours at step 500k); skipping the
serialized records right after the seeded record shuffle costs only their reading.

Model Garden's InputReader shuffles and decodes in one step (`_decode_and_parse_dataset`), so
`skip_records_before_decoding` makes the task's reader do the seeded shuffle and the skip first
and then run its own step with a one-element shuffle (which keeps the order). It applies when
every later stage maps one record to one element (no sample_fn, filter_fn or cache); otherwise it
reports that it did not apply and the caller skips whole batches as before.
tests/test_resume_input.py pins the equivalence to the uninterrupted stream.
"""
import contextlib

import tensorflow as tf
from official.vision.dataloaders import input_reader_factory


def _skipping(reader, records, applied):
    decode_and_parse = reader._decode_and_parse_dataset

    def skip_then_decode_and_parse(dataset, batch_size, input_context=None):
        one_to_one = not (reader._sample_fn or reader._filter_fn or reader._cache)
        if not (reader._is_training and one_to_one and isinstance(dataset, tf.data.Dataset)):
            return decode_and_parse(dataset, batch_size, input_context)
        dataset = dataset.shuffle(reader._shuffle_buffer_size, seed=reader._seed).skip(records)
        buffer, reader._shuffle_buffer_size = reader._shuffle_buffer_size, 1
        try:
            applied.append(records)
            return decode_and_parse(dataset, batch_size, input_context)
        finally:
            reader._shuffle_buffer_size = buffer

    reader._decode_and_parse_dataset = skip_then_decode_and_parse
    return reader


@contextlib.contextmanager
def skip_records_before_decoding(records):
    """Within the block, training readers that Model Garden tasks make skip `records` serialized
    records after their shuffle; yields a list that holds `records` once it applied."""
    applied = []
    generator = input_reader_factory.input_reader_generator

    def generate(params, **kwargs):
        reader = generator(params, **kwargs)
        return _skipping(reader, records, applied) if records else reader

    input_reader_factory.input_reader_generator = generate
    try:
        yield applied
    finally:
        input_reader_factory.input_reader_generator = generator
