"""Where a provider call runs, so a run can abandon it and survive it.

Local engines (eSpeak through ctypes, Piper through onnxruntime) run native
code that can crash: libespeak-ng 1.52 segfaults on a few short texts. Such an
engine runs in a child process of the worker, talking over a pipe; if it dies,
the call raises ``EngineCrashed`` and the worker goes on. The child is forked
on first use and kept for the next runs of that worker process (a Piper model
then loads once per process, as before); it is replaced after a crash or a
call that was abandoned half-way, and exits by itself when the worker does
(its end of the pipe closes). Other
providers (HTTP services) run in a thread of the worker. Either way the caller
waits in short steps and calls ``check`` between them, so a cancel, a graceful
stop or the deadline can abandon a call that is under way.

Plain Python: no database, no Django.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from multiprocessing import Pipe

import numpy as np

from synthesis.audio import Audio
from synthesis.providers.base import (
    DEFAULT_SETTINGS,
    PermanentProviderError,
    Provider,
    ProviderError,
    TransientProviderError,
    VoiceSettings,
)

# How often a waiting run calls its ``check``.
POLL_SECONDS = 0.2


# Signals that come from outside the engine (the OOM killer, an operator, a
# supervisor stopping the group), not from what it was asked to say: a child
# that died of one was interrupted, and the same text may well succeed. Any
# other death (SIGSEGV, SIGABRT, SIGBUS, an exit) is the engine crashing.
KILLED_FROM_OUTSIDE = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})


class EngineCrashed(Exception):
    """The engine's process died during a call (a signal, or it exited)."""

    def __init__(self, how: str, signum: int | None = None):
        super().__init__(how)
        self.how = how
        self.signum = signum

    @property
    def killed_from_outside(self) -> bool:
        return self.signum in KILLED_FROM_OUTSIDE


def _settings_argument(voice_settings: VoiceSettings | None) -> dict:
    # Only changed settings are passed: a job without any makes exactly the
    # call it made before settings existed (and so does any stand-in engine
    # written against the older signature).
    return {"voice_settings": voice_settings} if voice_settings and voice_settings.changed() else {}


def _dialogue_settings_argument(voice_settings: list[VoiceSettings] | None) -> dict:
    return {"voice_settings": voice_settings} if voice_settings and any(s.changed() for s in voice_settings) else {}


class ThreadEngine:
    """Calls in a daemon thread of this process: an abandoned call finishes
    (or not) in the background and its result is dropped."""

    def __init__(self, provider: Provider):
        self.provider = provider

    def prepare(self):
        pass

    def synthesize(
        self,
        text: str,
        voice_id: str,
        language: str | None,
        check: Callable[[], None],
        voice_settings: VoiceSettings = DEFAULT_SETTINGS,
    ) -> Audio:
        return _wait_in_thread(
            lambda: self.provider.synthesize(text, voice_id, language, **_settings_argument(voice_settings)), check
        )

    def synthesize_dialogue(
        self,
        request: list[tuple[str, str]],
        language: str | None,
        check: Callable[[], None],
        voice_settings: list[VoiceSettings] | None = None,
    ):
        return _wait_in_thread(
            lambda: self.provider.synthesize_dialogue(request, language, **_dialogue_settings_argument(voice_settings)),
            check,
        )

    def close(self):
        pass


def _wait_in_thread(call, check):
    outcome: dict = {}
    done = threading.Event()

    def target():
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the waiting thread
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=target, name="provider-call", daemon=True).start()
    while not done.wait(POLL_SECONDS):
        check()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class ChildEngine:
    """One child process, forked on first use and used for every call until
    it dies or is abandoned. A fork keeps what the worker already loaded
    (eSpeak's catalog) and works after the library was initialised
    (measured). The child never touches the database; it leaves through
    ``os._exit`` so nothing it inherited (the worker's connection) is closed
    on the way out."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.pid: int | None = None
        self.conn = None
        self._status: int | None = None  # a wait status already collected by _alive

    def prepare(self):
        """Fork now, before the run starts its heartbeat thread: a child
        forked while another thread holds a lock would inherit it held. A
        child that died while it waited between runs (killed by the OOM
        killer or an operator) is replaced now, not found dead mid-job."""
        if self.pid is not None and not self._alive():
            self._reap()
        if self.pid is None:
            self._start()

    def _alive(self) -> bool:
        try:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        # Reaped just now: remember how, for _reap.
        self._status = _status
        return False

    def synthesize_dialogue(self, request, language, check, voice_settings=None):
        raise NotImplementedError("isolated engines speak one turn at a time")

    def _start(self):
        parent_end, child_end = Pipe()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                parent_end.close()
                # Pipes to this worker's other engine children are not ours:
                # holding them would keep those children alive after the worker.
                for other in _children.values():
                    if other is not self and other.conn is not None:
                        other.conn.close()
                _serve(self.provider, child_end)
            finally:
                os._exit(0)
        child_end.close()
        self.pid, self.conn = pid, parent_end

    def synthesize(
        self,
        text: str,
        voice_id: str,
        language: str | None,
        check: Callable[[], None],
        voice_settings: VoiceSettings = DEFAULT_SETTINGS,
    ) -> Audio:
        if self.pid is None:
            self._start()
        try:
            self.conn.send((text, voice_id, language, voice_settings))
            # A dead child closes its end of the pipe: poll() then returns
            # True and recv() raises EOFError.
            while not self.conn.poll(POLL_SECONDS):
                check()
            reply = self.conn.recv()
        except (EOFError, OSError):
            raise EngineCrashed(*self._reap()) from None
        except BaseException:
            self.kill()  # abandoned mid-call: the child's state is unknown
            raise
        kind, *rest = reply
        if kind == "ok":
            samples, rate, marks = rest
            return Audio(samples, rate, marks)
        transient, message, code, retry_after = rest
        cls = TransientProviderError if transient else PermanentProviderError
        raise cls(message, code=code, retry_after=retry_after)

    def _reap(self) -> tuple[str, int | None]:
        """Wait for the dead child; say how it died, and of which signal."""
        pid, self.pid = self.pid, None
        self.conn.close()
        status, self._status = self._status, None
        if status is None:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                return "exited", None
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            return f"killed by {signal.Signals(signum).name}", signum
        return f"exited with status {os.WEXITSTATUS(status)}", None

    def close(self):
        """The run is over; the child waits for the next one."""

    def kill(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap()


def _serve(provider: Provider, conn):
    # The worker's handlers (django-q2's, ours) make no sense here: a signal
    # simply ends the child.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        text, voice_id, language, voice_settings = request
        try:
            audio = provider.synthesize(text, voice_id, language, **_settings_argument(voice_settings))
            reply = ("ok", np.asarray(audio.samples, dtype=np.float32), audio.sample_rate, list(audio.marks))
        except ProviderError as error:
            reply = ("error", error.transient, error.message, error.code, error.retry_after)
        except Exception as error:
            reply = ("error", False, f"The speech engine failed: {error.__class__.__name__}.", "SYNTHESIS_FAILED", None)
        try:
            conn.send(reply)
        except OSError:
            return  # the worker is gone


# The live child of each isolated provider in this process. A process forked
# from this one (django-q2 forks its workers) starts with none of its own.
_children: dict[str, ChildEngine] = {}
_children_pid = os.getpid()


def engine_for(provider: Provider) -> ThreadEngine | ChildEngine:
    global _children_pid
    if not provider.isolated:
        return ThreadEngine(provider)
    if _children_pid != os.getpid():
        _children.clear()  # the parent's children are not ours to talk to
        _children_pid = os.getpid()
    child = _children.get(provider.name)
    if child is None or child.provider is not provider:
        if child is not None:
            child.kill()  # a provider object replaced (tests reset the registry)
        child = _children[provider.name] = ChildEngine(provider)
    return child
