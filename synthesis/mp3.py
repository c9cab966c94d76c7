"""MP3 encoding with LAME, driven through ctypes.

libsndfile (soundfile) bundles LAME 3.100 and uses it with LAME's defaults
(VBR ``-V 4``), but its build encodes about 3.3 times slower than the LAME in
the ``lameenc`` wheel (measured: bench/README.md). This module calls that
faster LAME directly, with the very settings libsndfile uses, so the audio is
the same: decoded, the files are sample-for-sample identical; only the
encoder's version string in the padding differs. Like libsndfile, it writes
LAME's Xing/Info frame first (seeking back to fill it in), so decoders trim
the encoder delay and padding and get exactly the samples that went in.

``lameenc``'s own Python API is not used: it takes 16-bit samples only and
writes no Info frame, so decoded files would start 1,105 samples late.
"""

from __future__ import annotations

import ctypes
import importlib.util
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
        self.lame = self.lib.lame_init()
        if not self.lame:
            raise MemoryError("lame_init failed")
        lib, lame = self.lib, self.lame
        lib.lame_set_in_samplerate(lame, sample_rate)
        lib.lame_set_out_samplerate(lame, sample_rate)
        lib.lame_set_num_channels(lame, 1)
        lib.lame_set_write_id3tag_automatic(lame, 0)
        lib.lame_set_bWriteVbrTag(lame, 1)
        lib.lame_set_VBR(lame, VBR_DEFAULT)
        lib.lame_set_VBR_quality(lame, VBR_QUALITY)
        if lib.lame_init_params(lame) < 0:
            lib.lame_close(lame)
            raise ValueError(f"LAME can't encode MP3 at {sample_rate} Hz")

    def write(self, samples: np.ndarray):
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if not len(samples):
            return
        # lame.h: the worst case is 1.25 bytes a sample plus 7,200.
        size = len(samples) * 5 // 4 + 7200
        buffer = ctypes.create_string_buffer(size)
        written = self.lib.lame_encode_buffer_ieee_float(
            self.lame, samples.ctypes.data, None, len(samples), buffer, size
        )
        if written < 0:
            raise RuntimeError(f"LAME failed to encode ({written})")
        self.out.write(buffer.raw[:written])

    def close(self):
        if self.lame is None:
            return
        try:
            buffer = ctypes.create_string_buffer(7200)
            written = self.lib.lame_encode_flush(self.lame, buffer, len(buffer))
            if written < 0:
                raise RuntimeError(f"LAME failed to flush ({written})")
            self.out.write(buffer.raw[:written])
            # The Info frame LAME reserved at the start: frame count, seek
            # table, and the delay and padding that decoders trim.
            size = self.lib.lame_get_lametag_frame(self.lame, None, 0)
            if size:
                tag = ctypes.create_string_buffer(size)
                self.lib.lame_get_lametag_frame(self.lame, tag, size)
                end = self.out.tell()
                self.out.seek(self.start)
                self.out.write(tag.raw[:size])
                self.out.seek(end)
        finally:
            self.lib.lame_close(self.lame)
            self.lame = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False
