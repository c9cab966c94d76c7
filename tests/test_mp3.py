"""MP3 through LAME (synthesis/mp3.py): exact length, libsndfile's quality,
and the parallel encoder's joins at silences."""

import io
import os
import struct

import numpy as np
import pytest
import soundfile as sf

from synthesis import mp3
from synthesis.audio import decode

RATE = 22050


def speech_with_pauses(seconds, pause_every=1.5, pause=0.3, rate=RATE, seed=0):
    """Noisy tone bursts with exact silence between them, like turns with gaps."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    voiced = (t % pause_every) < (pause_every - pause)
    signal = 0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(len(t))
    return (signal * voiced).astype(np.float32)


def encode_with(writer_class, samples, block=65536, **kwargs):
    out = io.BytesIO()
    with writer_class(out, RATE, **kwargs) as writer:
        for first in range(0, len(samples), block):
            writer.write(samples[first : first + block])
    return out.getvalue(), writer


def snr_db(decoded, original):
    error = decoded.astype(np.float64) - original
    return 10 * np.log10(np.sum(np.square(original, dtype=np.float64)) / np.sum(np.square(error)))


def test_lame_here_is_libsndfiles_lame_decoded_sample_for_sample():
    # The same LAME settings as libsndfile's (VBR -V 4) in a faster build: the
    # same audio, so the speed costs no quality. Only the version string differs.
    samples = speech_with_pauses(12)
    reference = io.BytesIO()
    sf.write(reference, samples, RATE, format="MP3", subtype="MPEG_LAYER_III")
    ours, _ = encode_with(mp3.Mp3Writer, samples)
    assert len(ours) == len(reference.getvalue())
    expected = decode(reference.getvalue()).samples
    assert len(expected) == len(samples)
    assert np.array_equal(decode(ours).samples, expected)


def test_parallel_pieces_decode_to_the_exact_samples_at_the_same_quality():
    samples = speech_with_pauses(40)
    single, _ = encode_with(mp3.Mp3Writer, samples)
    joined, writer = encode_with(mp3.ParallelMp3Writer, samples, min_piece_seconds=2)

    assert len(writer.cuts) >= 10
    assert all(cut % 576 == 0 for cut in writer.cuts)
    one, many = decode(single).samples, decode(joined).samples
    # Exact length and no shift: the Info frame's delay and padding are right
    # for the whole stream, so every turn's timing holds.
    assert len(many) == len(samples)
    assert snr_db(many, samples) > snr_db(one, samples) - 0.3
    # Around every cut it is as silent as the input.
    for cut in writer.cuts:
        assert np.abs(many[cut - 1500 : cut + 1000]).max() < 0.01


def test_without_a_silence_the_parallel_writer_writes_what_one_encoder_writes():
    rng = np.random.default_rng(1)
    samples = (0.2 * rng.standard_normal(RATE * 8)).astype(np.float32)
    single, _ = encode_with(mp3.Mp3Writer, samples)
    joined, writer = encode_with(mp3.ParallelMp3Writer, samples, min_piece_seconds=1)
    assert writer.cuts == []
    assert joined == single


@pytest.mark.parametrize("block", [1000, 65536, 10**6])
def test_cuts_do_not_depend_on_how_the_samples_arrive(block):
    samples = speech_with_pauses(20, seed=2)
    expected, _ = encode_with(mp3.ParallelMp3Writer, samples, block=65536, min_piece_seconds=2)
    data, _ = encode_with(mp3.ParallelMp3Writer, samples, block=block, min_piece_seconds=2)
    assert data == expected


def test_a_short_or_empty_stream_is_still_exact():
    for n in (0, 1, 575, 576, 3000):
        samples = speech_with_pauses(1)[:n]
        data, _ = encode_with(mp3.ParallelMp3Writer, samples)
        assert len(decode(data).samples) == n


def test_the_rewritten_info_frame_is_lames_own_for_one_piece():
    # Rewriting LAME's Info frame with what we count gives LAME's values back.
    data, _ = encode_with(mp3.Mp3Writer, speech_with_pauses(30))
    frames = mp3._split_frames(bytearray(data))
    tag, audio = frames[0], frames[1:]
    x = tag.find(b"Xing")
    padding = ((tag[x + 142] & 0xF) << 8) | tag[x + 143]
    rewritten = bytearray(tag)
    mp3._rewrite_info_frame(rewritten, [len(f) for f in audio], len(data), padding, mp3.crc16(b"".join(audio)))

    # The seek table may differ by a few 256ths: LAME's sums bitrates, ours bytes.
    toc = slice(x + 16, x + 116)
    ours, lames = (np.frombuffer(bytes(t[toc]), np.uint8).astype(int) for t in (rewritten, tag))
    assert np.abs(ours - lames).max() <= 3
    assert rewritten[: toc.start] == tag[: toc.start]
    assert rewritten[toc.stop : x + 154] == tag[toc.stop : x + 154]  # counts, delay, padding, length, music CRC
    (tag_crc,) = struct.unpack_from(">H", rewritten, x + 154)
    assert tag_crc == mp3.crc16(bytes(rewritten[: x + 154]))


def test_crc16_is_lames_crc_in_any_slices():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)

    def one_byte_at_a_time(data, crc=0):
        for byte in data:
            crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
        return crc

    data = os.urandom(70_001)
    assert mp3.crc16(data) == one_byte_at_a_time(data)
    assert mp3.crc16(data[5000:], mp3.crc16(data[:5000])) == one_byte_at_a_time(data)
    assert mp3.crc16(b"") == 0
    assert mp3.crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value


def test_a_stream_reads_back_with_its_length_and_where_its_pieces_start():
    samples = speech_with_pauses(40)
    data, writer = encode_with(mp3.ParallelMp3Writer, samples, min_piece_seconds=2)
    stream = mp3.read_stream(data)
    assert stream.samples == len(samples) and (stream.frame_size, stream.delay) == (576, 576)
    # Each piece's encoder starts with an empty bit reservoir; elsewhere frames lean on the ones before.
    assert [i for i in range(len(stream.frames)) if stream.starts_clean(i)] == [0] + [c // 576 for c in writer.cuts]
    for bad in (data[:-1], data[:100], b"ID3" + data, b""):
        with pytest.raises(ValueError):
            mp3.read_stream(bad)


def test_copied_frames_around_new_samples_make_one_exact_stream():
    # A re-render (synthesis.splice): the source's frames before a silence,
    # new samples encoded, then the source's frames from one of its piece
    # starts on, moved by whole frames.
    source = speech_with_pauses(40)
    data, writer = encode_with(mp3.ParallelMp3Writer, source, min_piece_seconds=2)
    stream = mp3.read_stream(data)
    begin, tail = writer.cuts[2], writer.cuts[6] // 576
    # Other speech in place of [begin, old_end), silent at both joins as a cut is.
    quiet = np.zeros(RATE // 5, np.float32)
    changed = np.concatenate([quiet, speech_with_pauses(9, pause_every=1.1, seed=5), quiet])
    old_end = tail * 576
    shift = begin + len(changed) - old_end
    shift_frames = -(-shift // 576)
    changed = np.concatenate([changed, np.zeros(shift_frames * 576 - shift, np.float32)])  # a pad to whole frames
    new = np.concatenate([source[:begin], changed, source[old_end:]])
    out = io.BytesIO()
    with mp3.ParallelMp3Writer(out, RATE, copied=stream, head=begin // 576, tail=tail) as spliced:
        spliced.write(changed)
    got = decode(out.getvalue()).samples
    assert len(got) == len(new) == mp3.read_stream(out.getvalue()).samples
    assert spliced.encoded_frames == len(changed) // 576
    whole, _ = encode_with(mp3.ParallelMp3Writer, new, min_piece_seconds=2)
    assert snr_db(got, new) > snr_db(decode(whole).samples, new) - 0.3
    before = decode(data).samples
    assert np.array_equal(got[: begin - 1105], before[: begin - 1105])
    end = begin + len(changed)
    assert np.abs(got[end + 576 :] - before[end + 576 - (end - old_end) :]).max() <= 2**-20
