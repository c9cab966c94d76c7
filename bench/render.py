"""Streaming render (synthesis.audio.render_dialogue): peak memory and speed,
and whole jobs through the worker task; prints JSON.

    .venv/bin/python bench/render.py [memory] [speed] [--keep DIR]
    .venv/bin/python bench/render.py job|rerender [--provider espeak|openai]
        [--latency 0.5] [--turns 300] [--profile first|rerender]

``--keep DIR`` keeps the synthesized turns in DIR and reuses them next time.

memory — peak resident memory above idle while rendering the two largest
    jobs, each in a fresh subprocess (VmHWM from /proc/self/status, minus VmRSS
    once the modules are loaded):
    - "cjk": 20 turns × 5,000 Chinese characters, eSpeak voice ``cmn``,
      ``gap_ms`` 2000 (more than TTS_MAX_AUDIO_SECONDS now accepts; it was the
      largest job the limits accepted before);
    - "short-turns": 1,000 turns × 100 characters, eSpeak ``en-us``, 300/50 ms.
    Each turn is synthesized by the real eSpeak provider (in another
    subprocess, so its memory is not counted) into a FLAC file, which the
    renderer loads when it gets to it, as the pipeline loads kept segments.
    Output: MP3 into a temporary file.

speed — a 300-turn eSpeak dialogue (3 voices, about 19 minutes): engine time,
    then the old way (assemble_dialogue + soundfile's one-shot encode, as the
    pipeline did) and render_dialogue to MP3 and to raw float32 (no encoding:
    the difference is the encoding's share). Best of 3 for the renders.

job — the 300-turn dialogue as a job: submitted, then run by
    ``synthesis.tasks.run_synthesis`` in this process (as a worker runs it,
    after a 3-turn warm-up job: the engine's child process forked), on a fresh
    SQLite database and media folder (``DATABASE_URL`` to use another
    database). Prints its wall time, the worker's CPU seconds (all threads)
    and the eSpeak child's, the provider calls, and the wall seconds of each
    step (provider calls, keeping segments, loading them, mixing + encoding).

rerender — the same job, then a new version of it (``based_on``) with one
    line in the middle edited: both jobs' figures, and the re-render's wall
    time as a fraction of the first job's and of the first job's time in
    provider calls, the CPU ratio, and what the re-render encoded against
    what it copied from the first job's MP3 (``spliced``). ``--provider openai`` uses the OpenAI fake of tests/fakes
    over real HTTP, in a process of its own (its CPU is not the worker's),
    each speech request answered ``--latency`` seconds later than it could
    be: a cloud service's time per request.

``--profile first|rerender`` prints a cProfile of that run on stderr
(``BENCH_PROFILE_LINES``, default 35).
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CJK_SENTENCE = "我们今天讨论的是明年的预算问题，委员会的各位成员都认为应该增加教育方面的投入。"
EN_WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "our",
    "committee",
    "discusses",
    "next",
    "year",
    "budget",
    "in",
    "detail",
]


def cjk_case():
    text = (CJK_SENTENCE * (5000 // len(CJK_SENTENCE) + 1))[:5000]
    return {"turns": [(text, "cmn")] * 20, "gap_ms": 2000, "crossfade_ms": 50}


def short_turns_case():
    turns = []
    for i in range(1000):
        words = " ".join(EN_WORDS[(i + k) % len(EN_WORDS)] for k in range(40))
        turns.append(((f"Turn {i}: " + words)[:99] + ".", ("en-us", "en-gb+m3", "en-us+f3")[i % 3]))
    return {"turns": turns, "gap_ms": 300, "crossfade_ms": 50}


def dialogue_300():
    voices = ("en-us", "en-gb+m3", "en-us+f3")
    turns = []
    for i in range(300):
        n = 5 + (i * 7) % 6
        words = " ".join(EN_WORDS[(i + k) % len(EN_WORDS)] for k in range(n))
        turns.append((f"Turn {i}: {words}.", voices[i % 3]))
    return turns


CASES = {"cjk": cjk_case, "short-turns": short_turns_case}


def status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def synthesize_to_files(case_name, folder):
    """Child process: each turn through the real eSpeak provider into a FLAC file."""
    import soundfile as sf

    from synthesis.providers.espeak import EspeakProvider

    provider = EspeakProvider()
    started = time.perf_counter()
    seconds = 0.0
    for i, (text, voice) in enumerate(CASES[case_name]()["turns"]):
        turn = provider.synthesize(text, voice)
        sf.write(Path(folder) / f"{i:04d}.flac", turn.samples, turn.sample_rate, subtype="PCM_16")
        seconds += turn.duration_ms / 1000
    print(json.dumps({"audio_seconds": round(seconds, 1), "engine_seconds": round(time.perf_counter() - started, 2)}))


def render_files(case_name, folder):
    """Child process: render the case's FLAC files to MP3, report peak memory."""
    import soundfile as sf

    from synthesis import mp3
    from synthesis.audio import Audio, render_dialogue

    mp3._lame()  # part of idle: a worker has loaded its libraries long before
    case = CASES[case_name]()
    paths = sorted(Path(folder).glob("*.flac"))

    def loader(path):
        def load():
            samples, rate = sf.read(path, dtype="float32")
            return Audio(samples, rate)

        return load

    idle_kib = status_kib("VmRSS")
    reports = []
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        last = [started]

        def on_progress(phase, fraction):
            now = time.perf_counter()
            reports.append(now - last[0])
            last[0] = now

        timings = render_dialogue(
            [loader(p) for p in paths], out, fmt="mp3", gap_ms=case["gap_ms"],
            crossfade_ms=case["crossfade_ms"], sample_rate=22050, on_progress=on_progress,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        size = out.tell()
    print(json.dumps({
        "idle_mb": round(idle_kib / 1024, 1),
        "peak_above_idle_mb": round((status_kib("VmHWM") - idle_kib) / 1024, 1),
        "audio_seconds": round(timings[-1][1] / 1000, 1),
        "render_seconds": round(elapsed, 1),
        "mp3_mb": round(size / 2**20, 1),
        "longest_progress_gap_seconds": round(max(reports[1:], default=0), 2),
    }))  # fmt: skip


def child(*args):
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    if args[0] == "--pipeline":
        sys.stderr.write(out.stderr)  # a profile, when asked for
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(keep=None):
    results = {}
    for name in CASES:
        if keep:
            # Reuse the turns synthesized by an earlier run (the Chinese case takes minutes).
            folder = Path(keep) / name
            folder.mkdir(parents=True, exist_ok=True)
            synthesis = {"engine_seconds": None}
            if len(list(folder.glob("*.flac"))) != len(CASES[name]()["turns"]):
                synthesis = child("--synthesize", name, str(folder))
            results[name] = {**child("--render", name, str(folder)), "engine_seconds": synthesis["engine_seconds"]}
            continue
        with tempfile.TemporaryDirectory(prefix=f"render-{name}-") as folder:
            synthesis = child("--synthesize", name, folder)
            results[name] = {**child("--render", name, folder), "engine_seconds": synthesis["engine_seconds"]}
    return results


def speed():
    import numpy as np
    import soundfile as sf

    from synthesis.audio import Audio, assemble_dialogue, render_dialogue
    from synthesis.providers.espeak import EspeakProvider

    provider = EspeakProvider()
    provider.synthesize("warm up", "en-us")
    started = time.perf_counter()
    turns = [provider.synthesize(text, voice) for text, voice in dialogue_300()]
    engine = time.perf_counter() - started

    started = time.perf_counter()
    mix, _ = assemble_dialogue(turns, 300, 50)
    assembled = time.perf_counter()
    cpu = time.process_time()
    old = io.BytesIO()
    sf.write(old, np.clip(mix.samples, -1, 1), mix.sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    old_encode = time.perf_counter() - assembled
    old_encode_cpu = time.process_time() - cpu
    old_assembly = assembled - started
    del mix

    def best_render(fmt):
        best = best_cpu = None
        for _ in range(3):
            out = io.BytesIO()
            started, cpu = time.perf_counter(), time.process_time()
            # Fresh copies: render_dialogue normalises each turn in place.
            render_dialogue(
                [lambda t=t: Audio(t.samples.copy(), t.sample_rate) for t in turns],
                out, fmt=fmt, gap_ms=300, crossfade_ms=50, sample_rate=22050,
            )  # fmt: skip
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if best is None or elapsed < best:
                best, best_cpu = elapsed, cpu
        return best, best_cpu, out.getvalue()

    raw_seconds, raw_cpu, _ = best_render("f32")
    mp3_seconds, mp3_cpu, data = best_render("mp3")
    audio_seconds = sum(t.duration_ms for t in turns) / 1000
    return {
        "turns": len(turns),
        "audio_minutes": round(sf.info(io.BytesIO(data)).duration / 60, 1),
        "turn_audio_seconds": round(audio_seconds, 1),
        "engine_seconds": round(engine, 2),
        "before": {
            "assembly_seconds": round(old_assembly, 2),
            "encode_seconds": round(old_encode, 2),
            "encode_cpu_seconds": round(old_encode_cpu, 2),
            "total_with_engine_seconds": round(engine + old_assembly + old_encode, 2),
            "mp3_kbps": round(len(old.getvalue()) * 8 / audio_seconds / 1000, 1),
        },
        "after": {
            "render_mp3_seconds": round(mp3_seconds, 2),
            "render_without_encoding_seconds": round(raw_seconds, 2),
            "encode_share_seconds": round(mp3_seconds - raw_seconds, 2),
            "encode_share_cpu_seconds": round(mp3_cpu - raw_cpu, 2),
            "total_with_engine_seconds": round(engine + mp3_seconds, 2),
            "mp3_kbps": round(len(data) * 8 / audio_seconds / 1000, 1),
        },
        "load_average_before": os.getloadavg()[0],
    }


# --- job / rerender: the whole pipeline, through the worker task -----------------

CLOUD_VOICES = ("alloy", "echo", "nova")


def serve_openai(latency):
    """Child process: the OpenAI fake of tests/fakes over real HTTP, each speech
    request answered after ``latency`` seconds more (a cloud service's time)."""
    from tests.fakes.openai import OpenAIFake

    class SlowOpenAI(OpenAIFake):
        def handle(self, request):
            if self.is_synthesis(request):
                time.sleep(latency)
            return super().handle(request)

    with SlowOpenAI() as fake:
        print(json.dumps(fake.provider_settings()), flush=True)
        sys.stdin.read()  # until the bench closes our stdin


def cpu_of(pid):
    """user + sys seconds of a process (a live one: the engine's child)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Phases:
    """Wall seconds spent in the pipeline's steps, by wrapping them."""

    def __init__(self):
        self.seconds = {}
        self.calls = {}

    def wrap(self, owner, name, label):
        original = getattr(owner, name)
        phases = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phases.seconds[label] = phases.seconds.get(label, 0.0) + time.perf_counter() - started
                phases.calls[label] = phases.calls.get(label, 0) + 1

        setattr(owner, name, timed)

    def take(self):
        out = {k: round(v, 3) for k, v in sorted(self.seconds.items())}
        calls = dict(self.calls)
        self.seconds, self.calls = {}, {}
        return out, calls


def pipeline_child(provider_name, latency, turns_count, edit, profile):
    """Child process: a fresh database and media folder, one job of the
    300-turn dialogue through ``run_synthesis``, then (``edit``) a new version
    with one line edited, based on it. Prints JSON."""
    import tempfile as tf

    folder = Path(tf.mkdtemp(prefix="bench-rerender-"))
    os.environ["DEBUG"] = "1"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder / 'db.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    fake = None
    if provider_name == "openai":
        fake = subprocess.Popen(
            [sys.executable, __file__, "--serve-openai", str(latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        os.environ.update(json.loads(fake.stdout.readline()))
    os.environ["DJANGO_SETTINGS_MODULE"] = "ttsjobs.settings"
    import django

    django.setup()
    import logging

    logging.disable(logging.INFO)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from synthesis import isolation, pipeline, versions
    from synthesis.models import Job, Segment
    from synthesis.tasks import run_synthesis
    from synthesis.validation import clean_job_request

    try:
        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password")
        voices = CLOUD_VOICES if provider_name == "openai" else ("en-us", "en-gb+m3", "en-us+f3")
        speakers = ("Alice", "Bob", "Carol")
        lines = dialogue_300()[:turns_count]
        texts = [text for text, _ in lines]

        phases = Phases()
        for cls in (isolation.ChildEngine, isolation.ThreadEngine):
            phases.wrap(cls, "synthesize", "provider_calls")
        phases.wrap(pipeline.SynthesisRun, "keep", "keep_segment (lossless encode, store, row)")
        phases.wrap(pipeline, "encode_lossless", "lossless_encode")
        phases.wrap(pipeline.SynthesisRun, "kept_segments", "kept_segments query")
        phases.wrap(versions, "reuse_segments", "reuse_segments")
        phases.wrap(Segment, "load", "segment_load (in render)")
        phases.wrap(pipeline.SynthesisRun, "render_and_store", "render_and_store")
        phases.wrap(pipeline, "render_dialogue", "render_dialogue (mix + encode)")
        if hasattr(pipeline.SynthesisRun, "peaks_of"):  # before the peaks were measured on the mix
            phases.wrap(pipeline.SynthesisRun, "peaks_of", "peaks_of (decoding the MP3)")
        try:  # (not in the code before it: the bench also measures older commits)
            from synthesis import render_ahead
        except ImportError:
            pass
        else:
            # The render ahead runs beside the synthesis: its wall time overlaps the provider calls.
            phases.wrap(render_ahead, "render_dialogue", "render ahead (mix + encode, beside synthesis)")
        spliced = []
        try:
            from synthesis import splice
        except ImportError:
            pass
        else:
            # A re-render that reuses its source's MP3: what it mixed and encoded, and what it copied.
            render_span = splice.render

            def counted(*args, **kwargs):
                result = render_span(*args, **kwargs)
                spliced.append(result)
                return result

            splice.render = counted
            phases.wrap(splice, "render", "splice (mix + encode the changed span, copy the rest)")
            phases.wrap(splice, "render_from_source", "render_from_source (plan + splice)")

        def submit(texts, based_on=None):
            body = {
                "provider": provider_name,
                "title": "bench",
                "language": "en",
                "output_format": "mp3",
                "gap_ms": 300,
                "crossfade_ms": 50,
                "turns": [{"speaker": speakers[i % 3], "text": t, "index": i} for i, t in enumerate(texts)],
                "voice_assignments": [{"speaker": s, "voice_id": v} for s, v in zip(speakers, voices)],
            }
            provider, params = clean_job_request(body)
            return Job.objects.submit(user, params, provider=provider, based_on=based_on)

        def run(job, label):
            child = isolation._children.get(provider_name)
            child_cpu = cpu_of(child.pid) if child and child.pid else 0.0
            profiler = None
            if profile == label:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            started, cpu = time.perf_counter(), time.process_time()
            status = run_synthesis(str(job.pk))
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            if profiler:
                import pstats

                profiler.disable()
                stream = io.StringIO()
                lines = int(os.getenv("BENCH_PROFILE_LINES", "35"))
                pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(lines)
                print(stream.getvalue(), file=sys.stderr)
            child = isolation._children.get(provider_name)
            engine_cpu = (cpu_of(child.pid) - child_cpu) if child and child.pid else 0.0
            job.refresh_from_db()
            if os.getenv("BENCH_KEEP_AUDIO") and job.audio:
                shutil.copy(job.audio.path, Path(os.environ["BENCH_KEEP_AUDIO"]) / f"{label}.{job.output_format}")
            seconds, counts = phases.take()
            reused = {}
            if spliced:
                done = spliced.pop()
                reused = {
                    "spliced": {
                        "encoded_seconds": round(done.encoded_samples / job.result_metadata["sample_rate"], 1),
                        "seconds": round(job.result_metadata["duration_ms"] / 1000, 1),
                        "encoded_frames": done.encoded_frames,
                        "frames": done.frames,
                        "gap_padding": job.result_metadata.get("gap_padding"),
                    }
                }
            return {
                **reused,
                "status": status,
                "wall_seconds": round(wall, 2),
                "worker_cpu_seconds": round(cpu, 2),
                "engine_child_cpu_seconds": round(engine_cpu, 2),
                "provider_calls": counts.get("provider_calls", 0),
                "phases_wall_seconds": seconds,
                "segments": Segment.objects.filter(job=job).count(),
                "audio_seconds": round(job.result_metadata.get("duration_ms", 0) / 1000, 1),
            }

        # A warm worker: the engine's child forked and its voices loaded, as
        # they are in a worker that has run a job before.
        warm = run(submit(["Warm up.", "Warm up.", "Warm up."]), "warm")
        first_job = submit(texts)
        first = run(first_job, "first")
        result = {"provider": provider_name, "turns": len(texts), "warm_up": warm["wall_seconds"], "first": first}
        if provider_name == "openai":
            result["latency_per_request_seconds"] = latency
        if edit:
            edited = list(texts)
            edited[len(texts) // 2] = "This line was edited after listening."
            second = run(submit(edited, based_on=first_job), "rerender")
            result["rerender"] = second
            result["ratio_wall"] = round(second["wall_seconds"] / first["wall_seconds"], 3)
            result["ratio_cpu"] = round(
                (second["worker_cpu_seconds"] + second["engine_child_cpu_seconds"])
                / (first["worker_cpu_seconds"] + first["engine_child_cpu_seconds"]),
                3,
            )
            provider_seconds = first["phases_wall_seconds"].get("provider_calls", 0)
            result["first_provider_seconds"] = provider_seconds
            result["ratio_to_first_provider_seconds"] = round(second["wall_seconds"] / provider_seconds, 3)
        print(json.dumps(result))
    finally:
        if fake is not None:
            fake.stdin.close()
            fake.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv):
    if argv[:1] == ["--synthesize"]:
        return synthesize_to_files(argv[1], argv[2])
    if argv[:1] == ["--render"]:
        return render_files(argv[1], argv[2])
    if argv[:1] == ["--serve-openai"]:
        return serve_openai(float(argv[1]))
    if argv[:1] == ["--pipeline"]:
        provider, latency, turns, edit, profile = argv[1:6]
        return pipeline_child(provider, float(latency), int(turns), edit == "edit", profile)

    def option(name, default):
        return argv[argv.index(name) + 1] if name in argv else default

    keep = option("--keep", None)
    wanted = [a for a in argv if a in ("memory", "speed", "job", "rerender")] or ["speed", "memory"]
    results = {"load_average": os.getloadavg()[0]}
    for mode in ("job", "rerender"):
        if mode in wanted:
            # A process of its own: Django, a fresh database and media folder.
            results[mode] = child(
                "--pipeline", option("--provider", "espeak"), option("--latency", "0.5"),
                option("--turns", "300"), "edit" if mode == "rerender" else "no-edit", option("--profile", "-"),
            )  # fmt: skip
            results[mode]["uptime_load_after"] = os.getloadavg()
    if "speed" in wanted:
        results["speed_300_turns"] = speed()
    if "memory" in wanted:
        results["memory"] = memory(keep)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
