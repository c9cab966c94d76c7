"""How long the pronunciation dictionary takes at its limits: a user's 1,000
entries against a job of 100,000 characters (20 turns of 5,000), English-like
and Chinese text. ``matching`` runs at every submit (which entries the job
records), ``apply`` once per turn in each run. Prints JSON, asserts nothing.

    .venv/bin/python bench/lexicon.py
"""

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthesis import lexicon


def best_of(runs, call):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(1000)})
    han = [chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(3000)]
    cases = {}
    english = [lexicon.Entry(w, w[::-1], case_sensitive=i % 10 == 0) for i, w in enumerate(words)]
    text = " ".join(rng.choice(words + ["the", "and", "of", "a"] * 250) for _ in range(20000))[:100_000]
    cases["latin, 1,000 entries, every word an entry"] = (english, text)
    chinese = [lexicon.Entry("".join(rng.choice(han) for _ in range(rng.randint(2, 4))), "x") for _ in range(1000)]
    zh_text = "".join(rng.choice(han) for _ in range(100_000))
    for entry in chinese[:200]:  # 200 terms present, some many times
        position = rng.randrange(0, 99_000)
        zh_text = zh_text[:position] + entry.written + zh_text[position + len(entry.written) :]
    cases["chinese, 1,000 entries, 200 present"] = (chinese, zh_text[:100_000])
    out = {}
    for name, (entries, text) in cases.items():
        turns = [text[i : i + 5000] for i in range(0, len(text), 5000)]
        match_s, used = best_of(3, lambda entries=entries, turns=turns: lexicon.matching(entries, turns))
        apply_s, _ = best_of(3, lambda used=used, turns=turns: [lexicon.apply(turn, used) for turn in turns])
        out[name] = {
            "characters": len(text),
            "entries": len(entries),
            "entries_used": len(used),
            "matching_ms": round(match_s * 1000, 1),
            "apply_all_turns_ms": round(apply_s * 1000, 1),
        }
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
