"""MP3 encoding with LAME, driven through ctypes, on every core.

libsndfile (soundfile) bundles LAME 3.100 and uses it with LAME's defaults
(VBR ``-V 4``), but its build encodes about 3.3 times slower than the LAME in
the ``lameenc`` wheel (measured: bench/README.md). This module calls that
faster LAME directly, with the very settings libsndfile uses, so the audio is
the same: decoded, the files are sample-for-sample identical; only the
encoder's version string in the padding differs. Like libsndfile, it writes
LAME's Info frame first (seeking back to fill it in), so decoders trim the
encoder delay and padding and get exactly the samples that went in.

``Mp3Writer`` is one encoder; ``ParallelMp3Writer`` cuts the signal at
silences and encodes the pieces on several threads into one exact stream
(how, below). ``lameenc``'s own Python API is not used: it takes 16-bit
samples only and writes no Info frame, so decoded files would start 1,105
samples late.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import queue
import struct
import threading
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

VBR_DEFAULT = 4  # vbr_mtrh, LAME's (and libsndfile's) default VBR mode
VBR_QUALITY = 4.0  # -V 4, LAME's default: about 60-75 kbps for speech at 22.05 kHz

_lib = None


def _lame():
    global _lib
    if _lib is None:
        spec = importlib.util.find_spec("lameenc")
        if spec is None or spec.origin is None:
            raise RuntimeError("MP3 encoding needs the lameenc package (requirements.txt)")
        lib = ctypes.CDLL(spec.origin)  # a CDLL releases the GIL during each call
        ptr, c_int, buf = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        lib.lame_init.restype = ptr
        lib.lame_init.argtypes = []
        for name in (
            "lame_set_in_samplerate",
            "lame_set_out_samplerate",
            "lame_set_num_channels",
            "lame_set_VBR",
            "lame_set_write_id3tag_automatic",
            "lame_set_bWriteVbrTag",
        ):
            getattr(lib, name).argtypes = [ptr, c_int]
        lib.lame_set_VBR_quality.argtypes = [ptr, ctypes.c_float]
        lib.lame_init_params.argtypes = [ptr]
        lib.lame_close.argtypes = [ptr]
        lib.lame_encode_buffer_ieee_float.argtypes = [ptr, ptr, ptr, c_int, buf, c_int]
        lib.lame_encode_flush.argtypes = [ptr, buf, c_int]
        lib.lame_get_lametag_frame.argtypes = [ptr, buf, ctypes.c_size_t]
        lib.lame_get_lametag_frame.restype = ctypes.c_size_t
        for name in ("lame_get_framesize", "lame_get_encoder_padding"):
            getattr(lib, name).argtypes = [ptr]
        _lib = lib
    return _lib


class Mp3Writer:
    """Encodes mono float32 blocks into ``out`` (writable and seekable) from
    its current position. Use as a context manager: leaving it flushes the
    encoder and fills in the Info frame."""

    def __init__(self, out: BinaryIO, sample_rate: int):
        self.lib = _lame()
        self.out = out
        self.start = out.tell()
        self.lame = _new_encoder(sample_rate, info_frame=True)

    def write(self, samples: np.ndarray):
        self.out.write(_encode(self.lame, samples))

    def close(self):
        if self.lame is None:
            return
        try:
            self.out.write(_flush(self.lame))
            tag = _info_frame(self.lame)
            if tag:
                # The Info frame LAME reserved at the start: frame count, seek
                # table, and the delay and padding that decoders trim.
                end = self.out.tell()
                self.out.seek(self.start)
                self.out.write(tag)
                self.out.seek(end)
        finally:
            self.lib.lame_close(self.lame)
            self.lame = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def _new_encoder(sample_rate: int, info_frame: bool):
    lib = _lame()
    lame = lib.lame_init()
    if not lame:
        raise MemoryError("lame_init failed")
    lib.lame_set_in_samplerate(lame, sample_rate)
    lib.lame_set_out_samplerate(lame, sample_rate)
    lib.lame_set_num_channels(lame, 1)
    lib.lame_set_write_id3tag_automatic(lame, 0)
    lib.lame_set_bWriteVbrTag(lame, int(info_frame))
    lib.lame_set_VBR(lame, VBR_DEFAULT)
    lib.lame_set_VBR_quality(lame, VBR_QUALITY)
    if lib.lame_init_params(lame) < 0:
        lib.lame_close(lame)
        raise ValueError(f"LAME can't encode MP3 at {sample_rate} Hz")
    return lame


def _encode(lame, samples: np.ndarray) -> bytes:
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if not len(samples):
        return b""
    # lame.h: the worst case is 1.25 bytes a sample plus 7,200.
    size = len(samples) * 5 // 4 + 7200
    buffer = ctypes.create_string_buffer(size)
    written = _lame().lame_encode_buffer_ieee_float(lame, samples.ctypes.data, None, len(samples), buffer, size)
    if written < 0:
        raise RuntimeError(f"LAME failed to encode ({written})")
    return buffer.raw[:written]


def _flush(lame) -> bytes:
    buffer = ctypes.create_string_buffer(7200)
    written = _lame().lame_encode_flush(lame, buffer, len(buffer))
    if written < 0:
        raise RuntimeError(f"LAME failed to flush ({written})")
    return buffer.raw[:written]


def _info_frame(lame) -> bytes:
    size = _lame().lame_get_lametag_frame(lame, None, 0)
    if not size:
        return b""
    tag = ctypes.create_string_buffer(size)
    _lame().lame_get_lametag_frame(lame, tag, size)
    return tag.raw[:size]


# --- Encoding on several cores -------------------------------------------------
#
# One LAME stream is sequential: a 19-minute dialogue takes ~3 s of one core.
# ParallelMp3Writer cuts the signal where it is silent and encodes the pieces
# with independent LAME encoders on threads (ctypes releases the GIL), then
# joins their frames into one stream that decodes to exactly the samples that
# went in:
#
# - A cut is at a multiple of the frame size F (576 samples below 32 kHz), so
#   the pieces' frames fall on the same grid as one encoder's would: frame j
#   of the whole file always decodes input [j F - D, (j + 1) F - D), where D is
#   LAME's encoder delay plus the decoder's (576 + 529 = 1,105 samples).
# - A piece ending at cut c keeps only the frames before c / F; the next piece
#   starts a fresh encoder at c (its first frame uses no bit reservoir, so the
#   join is a valid stream). The frames around the join decode samples the
#   two encoders saw differently (one saw the real input, the other its
#   start-up silence), so a cut needs real silence from SILENCE_BEFORE
#   samples before it to SILENCE_AFTER after: then both agree, it stays silent.
# - The first piece's encoder writes LAME's Info frame; at the end its frame
#   count, byte count, seek table, padding (the last encoder's) and CRCs are
#   rewritten for the whole stream, which is what decoders trim by.

SILENT = 2.0**-15  # below the least significant bit of 16-bit audio
# D + 2 granules before (the first frame's window and the decoder's overlap),
# one frame's look-ahead after; rounded up.
SILENCE_BEFORE = 2304
SILENCE_AFTER = 1152
MIN_PIECE_SECONDS = 10.0
THREADS = min(2, os.cpu_count() or 1)
_DECODER_DELAY = 529


class _Piece:
    """One encoder on its own thread, fed blocks through a bounded queue; its
    output comes back split into frames."""

    def __init__(self, start: int, sample_rate: int, first: bool):
        self.start = start  # a frame boundary of the whole stream
        self.lame = _new_encoder(sample_rate, info_frame=first)
        self.frame_size = _lame().lame_get_framesize(self.lame)
        self.inbox: queue.Queue = queue.Queue(maxsize=4)  # bounded: the mixer waits for a slow encoder
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.placeholder: bytes | None = None  # the first piece's Info frame, as reserved
        self.needs_placeholder = first
        self.info_frame = b""  # ... and as LAME fills it in for this piece alone
        self.padding = 0
        self.error: BaseException | None = None
        self.fed_all = False
        self.keep: int | None = None  # audio frames to keep once cut; None: all (the last piece)
        self.unsplit = bytearray()
        self.frames: deque[bytes] = deque()  # split, not yet written
        self.next_index = 0  # audio frame index of frames[0]
        self.complete = False  # the encoder is closed and all its output split
        self.thread = threading.Thread(target=self._run, name="mp3-piece", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while (samples := self.inbox.get()) is not None:
                self.outbox.put(_encode(self.lame, samples))
            self.outbox.put(_flush(self.lame))
            self.padding = _lame().lame_get_encoder_padding(self.lame)
            self.info_frame = _info_frame(self.lame)
        except BaseException as error:  # re-raised by the writer's thread
            self.error = error
        finally:
            _lame().lame_close(self.lame)
            self.lame = None
            self.outbox.put(None)

    def collect(self, wait: bool):
        """Split what the encoder produced into frames; with ``wait``, until it is closed."""
        while not self.complete:
            try:
                data = self.outbox.get(block=wait)
            except queue.Empty:
                return
            if data is None:
                self.thread.join()
                if self.error is not None:
                    raise self.error
                self.complete = True
            else:
                self.unsplit += data
            frames = _split_frames(self.unsplit)
            del self.unsplit[: sum(len(frame) for frame in frames)]
            if frames and self.needs_placeholder:
                self.placeholder = frames.pop(0)
                self.needs_placeholder = False
            self.frames.extend(frames)

    def stop(self):
        """Make the thread end (after an error elsewhere): it must not wait forever."""
        while True:
            try:
                self.inbox.put_nowait(None)
                return
            except queue.Full:
                try:
                    self.inbox.get_nowait()
                except queue.Empty:
                    pass


class ParallelMp3Writer:
    """Like Mp3Writer, but cut at silences and encoded on ``THREADS`` cores.

    Memory stays bounded: at most ``THREADS`` encoders with a few queued
    blocks each, and the output of the later ones until the earlier finish.
    """

    def __init__(
        self,
        out: BinaryIO,
        sample_rate: int,
        min_piece_seconds: float = MIN_PIECE_SECONDS,
        *,
        copied: Stream | None = None,
        head: int = 0,
        tail: int | None = None,
    ):
        """``copied``: a stream of this very encoder (a source job's file)
        whose frames are reused as they are: its first ``head`` audio frames
        before the samples written here, and with ``tail`` its frames from
        index ``tail`` on after them (the samples written must then end on a
        frame boundary). Both joins must be at silences, as a cut is, and a
        tail frame must start with an empty bit reservoir
        (``Stream.starts_clean``): synthesis.splice finds such places."""
        self.out = out
        self.sample_rate = sample_rate
        self.min_piece = int(min_piece_seconds * sample_rate)
        self.start = out.tell()
        self.copied, self.tail_from = copied, tail
        # With copied frames, the copied stream's Info frame is the one
        # rewritten at the end, and no encoder reserves one of its own.
        self.first = self.last = _Piece(0, sample_rate, first=copied is None)
        self.frame_size = self.first.frame_size
        self.pieces: list[_Piece] = [self.first]  # not yet completely written, oldest first
        self.tail = np.zeros(0, dtype=np.float32)  # received, not yet fed: [fed, fed + len(tail))
        self.fed = 0
        self.last_loud = -(10**12)  # the last sample above SILENT that was fed
        self.frame_sizes: list[int] = []  # of the audio frames written, for the seek table
        self.info_size = 0
        self.music_crc = 0
        self.unchecked = bytearray()  # written, not yet in music_crc (CRC'd in large slices)
        self.cuts: list[int] = []
        self.encoded_frames = 0  # audio frames that came from an encoder here (the rest were copied)
        if copied is not None:
            if copied.sample_rate != sample_rate or copied.frame_size != self.frame_size:
                raise ValueError("the copied stream is not at this sample rate")
            self.out.write(copied.info_frame)
            self.info_size = len(copied.info_frame)
            for frame in copied.frames[:head]:
                self._write_frame(frame)

    # The mixer's side ----------------------------------------------------------

    def write(self, samples: np.ndarray):
        self.tail = np.concatenate([self.tail, np.asarray(samples, dtype=np.float32)])
        # A cut needs SILENCE_AFTER samples after it: decide up to there only.
        limit = self.fed + len(self.tail) - SILENCE_AFTER
        while (cut := self._find_cut(limit)) is not None:
            self._feed(cut)
            self._cut(cut)
        self._feed(limit)
        self._drain(wait_for=0)

    def _find_cut(self, limit: int) -> int | None:
        """The first frame boundary in (fed, limit], a minimum piece after the
        current piece's start, with silence around it; None if there is none."""
        f = self.frame_size
        first = max(self.fed + 1, self.last.start + self.min_piece)
        first = -(-first // f) * f
        if first > limit:
            return None
        candidates = np.arange(first, limit + 1, f)
        loud = self.fed + np.flatnonzero(np.abs(self.tail) > SILENT)
        before = np.searchsorted(loud, candidates + SILENCE_AFTER) - 1
        last_loud = np.where(before >= 0, loud[np.maximum(before, 0)] if len(loud) else 0, self.last_loud)
        quiet = np.flatnonzero(last_loud < candidates - SILENCE_BEFORE)
        return int(candidates[quiet[0]]) if len(quiet) else None

    def _feed(self, upto: int):
        count = upto - self.fed
        if count <= 0:
            return
        samples, self.tail = self.tail[:count], self.tail[count:]
        loud = np.flatnonzero(np.abs(samples) > SILENT)
        if len(loud):
            self.last_loud = self.fed + int(loud[-1])
        self._put(self.last, samples)
        self.fed = upto

    def _put(self, piece: _Piece, samples):
        while True:
            try:
                piece.inbox.put(samples, timeout=0.05)
                return
            except queue.Full:
                self._drain(wait_for=0)  # the encoder is behind: write what is ready meanwhile

    def _end_piece(self, piece: _Piece, keep: int | None):
        piece.keep = keep
        piece.fed_all = True
        self._put(piece, None)

    def _cut(self, cut: int):
        self._end_piece(self.last, (cut - self.last.start) // self.frame_size)
        if len(self.pieces) >= THREADS:
            self._drain(wait_for=len(self.pieces) - THREADS + 1)
        self.last = _Piece(cut, self.sample_rate, first=False)
        self.pieces.append(self.last)
        self.cuts.append(cut)

    # The output's side ---------------------------------------------------------

    def _drain(self, wait_for: int):
        """Write every frame that is certain to stay, oldest piece first;
        wait until the first ``wait_for`` pieces are closed and written."""
        while self.pieces:
            piece = self.pieces[0]
            piece.collect(wait=wait_for > 0)
            if piece.placeholder is not None and not self.info_size:
                self.out.write(piece.placeholder)
                self.info_size = len(piece.placeholder)
            if piece.keep is not None:
                keep = piece.keep
            elif piece.complete:
                keep = piece.next_index + len(piece.frames)  # the last piece keeps all
            else:
                # Any later cut is past what was fed: frames before it stay.
                keep = (self.fed - piece.start) // self.frame_size
            while piece.frames and piece.next_index < keep:
                self._write_frame(piece.frames.popleft())
                self.encoded_frames += 1
                piece.next_index += 1
            if not piece.complete:
                return
            self.pieces.pop(0)  # frames past ``keep`` are dropped with it
            wait_for -= 1

    def _write_frame(self, frame: bytes):
        self.out.write(frame)
        self.unchecked += frame
        self.frame_sizes.append(len(frame))
        if len(self.unchecked) >= 1 << 20:
            self.music_crc = crc16(self.unchecked, self.music_crc)
            self.unchecked.clear()

    def close(self):
        if self.last.fed_all:
            return
        self._feed(self.fed + len(self.tail))
        keep = None
        if self.tail_from is not None:
            # Like a cut before the copied tail: only the frames before it stay.
            if self.fed % self.frame_size:
                raise ValueError("the samples before copied frames must end on a frame boundary")
            keep = (self.fed - self.last.start) // self.frame_size
        self._end_piece(self.last, keep)
        self._drain(wait_for=len(self.pieces))
        padding = self.last.padding
        if self.tail_from is not None:
            for frame in self.copied.frames[self.tail_from :]:
                self._write_frame(frame)
            padding = self.copied.padding  # the copied stream's end is this one's
        self.music_crc = crc16(self.unchecked, self.music_crc)
        tag = bytearray(self.copied.info_frame if self.copied is not None else self.first.info_frame)
        if not tag:
            return
        if self.last is not self.first or self.copied is not None:
            # LAME's Info frame describes the first piece alone (or the copied
            # stream): describe the whole.
            _rewrite_info_frame(tag, self.frame_sizes, self.info_size + sum(self.frame_sizes), padding, self.music_crc)
        end = self.out.tell()
        self.out.seek(self.start)
        self.out.write(bytes(tag))
        self.out.seek(end)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc_info):
        if exc_type is None:
            self.close()
        else:
            for piece in self.pieces:
                piece.stop()
        return False


# --- MPEG audio frames and LAME's Info frame ----------------------------------

_BITRATES = {  # Layer III, kbit/s by bitrate index
    "1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _split_frames(data: bytearray) -> list[bytes]:
    """The complete MPEG-1/2/2.5 Layer III frames at the start of ``data``."""
    frames, at = [], 0
    while at + 4 <= len(data):
        b1, b2 = data[at + 1], data[at + 2]
        if data[at] != 0xFF or b1 & 0xE0 != 0xE0 or (b1 >> 1) & 3 != 1:
            raise ValueError(f"LAME wrote something that is not a Layer III frame at byte {at}")
        version = (b1 >> 3) & 3
        kbps = _BITRATES["1" if version == 3 else "2"][b2 >> 4]
        rate = _RATES[version][(b2 >> 2) & 3]
        length = (144_000 if version == 3 else 72_000) * kbps // rate + ((b2 >> 1) & 1)
        if at + length > len(data):
            break
        frames.append(bytes(data[at : at + length]))
        at += length
    return frames


@dataclass
class Stream:
    """An MP3 file this module wrote, split into its frames (``read_stream``)."""

    info_frame: bytes
    frames: list[bytes]  # the audio frames, after the Info frame
    sample_rate: int
    frame_size: int
    delay: int  # LAME's encoder delay, from the Info frame
    padding: int  # and its padding at the end: decoders trim both

    @property
    def samples(self) -> int:
        """How many samples it decodes to."""
        return len(self.frames) * self.frame_size - self.delay - self.padding

    def starts_clean(self, index: int) -> bool:
        """Whether audio frame ``index`` takes none of its data from the frames
        before it (main_data_begin 0: no bit reservoir), so it and the frames
        after it decode the same after any other frames: where a fresh
        encoder's output begins, for one."""
        frame = self.frames[index]
        side_info = 4 if frame[1] & 1 else 6  # after the header, and its CRC when protected
        if (frame[1] >> 3) & 3 == 3:  # MPEG-1: 9 bits
            return (frame[side_info] << 1 | frame[side_info + 1] >> 7) == 0
        return frame[side_info] == 0  # MPEG-2 and 2.5: 8 bits


def read_stream(data: bytes) -> Stream:
    """Split a file written by Mp3Writer or ParallelMp3Writer into its Info
    frame and audio frames; ValueError if it is anything else (a frame that
    does not parse, bytes left over, no LAME Info frame, a frame count that
    does not match)."""
    frames = _split_frames(bytearray(data))
    if sum(len(frame) for frame in frames) != len(data) or len(frames) < 1:
        raise ValueError("not a whole MPEG audio stream")
    info, frames = frames[0], frames[1:]
    x = max(info.find(b"Xing"), info.find(b"Info"))
    if x < 0 or info[x + 120 : x + 124] != b"LAME":
        raise ValueError("no LAME Info frame")
    (count,) = struct.unpack_from(">I", info, x + 8)
    if count != len(frames):
        raise ValueError(f"the Info frame counts {count} frames, the stream has {len(frames)}")
    version = (info[1] >> 3) & 3
    delay_and_padding = int.from_bytes(info[x + 141 : x + 144], "big")
    return Stream(
        info_frame=info,
        frames=frames,
        sample_rate=_RATES[version][(info[2] >> 2) & 3],
        frame_size=1152 if version == 3 else 576,
        delay=delay_and_padding >> 12,
        padding=delay_and_padding & 0xFFF,
    )


def _rewrite_info_frame(tag: bytearray, frame_sizes: list[int], total_bytes: int, padding: int, music_crc: int):
    """Set LAME's Info frame (layout: LAME's VbrTag.c) for the whole stream:
    frame count, byte count, seek table, encoder padding, music length and
    CRC, and the tag's own CRC."""
    x = max(tag.find(b"Xing"), tag.find(b"Info"))
    if x < 0 or tag[x + 120 : x + 124] != b"LAME":
        raise ValueError("not a LAME Info frame")
    struct.pack_into(">II", tag, x + 8, len(frame_sizes), total_bytes)
    # Seek table: for each percent of the frames, where that frame starts, in 256ths of the file.
    starts = np.concatenate([[0], np.cumsum(frame_sizes)]) + (total_bytes - sum(frame_sizes))
    percent = np.minimum((np.arange(100) * len(frame_sizes)) // 100, len(frame_sizes) - 1)
    toc = np.minimum(255, (256 * starts[percent]) // total_bytes)
    toc[0] = 0
    tag[x + 16 : x + 116] = toc.astype(np.uint8).tobytes()
    delay = (tag[x + 141] << 4) | (tag[x + 142] >> 4)
    tag[x + 141 : x + 144] = ((delay << 12) | padding).to_bytes(3, "big")
    struct.pack_into(">IH", tag, x + 148, total_bytes, music_crc)
    struct.pack_into(">H", tag, x + 154, crc16(bytes(tag[: x + 154])))


# CRC-16/ARC (polynomial 0x8005 reflected, initial 0), as LAME computes it.
# It is linear over GF(2): a block's CRC is the XOR of one table entry per
# byte (by its distance from the block's end), so whole blocks are summed by
# numpy, and only the blocks are chained in Python. 8 MB take ~20 ms.
_CRC_BLOCK = 1024


def _crc_tables():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    table = np.array(table, dtype=np.uint16)

    def zero_byte(state):  # a byte of 0 through the CRC
        return (state >> 8) ^ table[state & 0xFF]

    # by_distance[j * 256 + b]: byte b's part in the CRC of a block, j bytes before its end.
    by_distance = np.empty((_CRC_BLOCK, 256), dtype=np.uint16)
    by_distance[0] = table
    for j in range(1, _CRC_BLOCK):
        by_distance[j] = zero_byte(by_distance[j - 1])
    offsets = (np.arange(_CRC_BLOCK - 1, -1, -1) * 256).astype(np.intp)
    # A CRC so far, carried across one more block: split by its low and high byte.
    basis = 1 << np.arange(16, dtype=np.uint16)
    for _ in range(_CRC_BLOCK):
        basis = zero_byte(basis)
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1
    carry_low = np.bitwise_xor.reduce(np.where(bits, basis[:8], 0), axis=1).astype(np.uint16)
    carry_high = np.bitwise_xor.reduce(np.where(bits, basis[8:], 0), axis=1).astype(np.uint16)
    return table.tolist(), by_distance.ravel(), offsets, carry_low.tolist(), carry_high.tolist()


_crc = None


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC of ``data``, continuing from ``crc``."""
    global _crc
    if _crc is None:
        _crc = _crc_tables()
    table, by_distance, offsets, carry_low, carry_high = _crc
    array = np.frombuffer(data, dtype=np.uint8)
    whole = len(array) // _CRC_BLOCK
    for first in range(0, whole, 256):  # 256 blocks (256 KB) at a time: bounded temporaries
        blocks = array[first * _CRC_BLOCK : min(first + 256, whole) * _CRC_BLOCK].reshape(-1, _CRC_BLOCK)
        sums = np.bitwise_xor.reduce(by_distance[offsets + blocks], axis=1).tolist()
        for block_crc in sums:
            crc = carry_low[crc & 0xFF] ^ carry_high[crc >> 8] ^ block_crc
    for byte in array[whole * _CRC_BLOCK :].tolist():
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
