"""A scheduler in a process of its own, for the race tests (run as a script).

``python racer.py DATABASE_URL GO_DIR NOW [NOW ...]``: for each round k it waits
for ``GO_DIR/round-k``, reads the due schedules, then — so that every racer has
read the same due state before anyone writes — prints ``at-cas k`` and waits for
``GO_DIR/cas-k`` before its first compare-and-set; at the end of the round it
prints ``done k <json job ids>``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from ragbench.database import Database
from ragbench.schedules import jobs


def wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.002)


def main(url: str, go: Path, nows: list[datetime]) -> None:
    database = Database(url)
    original = jobs._advance
    gate = {"round": None}

    def gated(session, plan):
        if gate["round"] is not None:
            print(f"at-cas {gate['round']}", flush=True)
            wait_for(go / f"cas-{gate['round']}")
            gate["round"] = None
        return original(session, plan)

    jobs._advance = gated
    print("ready", flush=True)
    for k, now in enumerate(nows):
        wait_for(go / f"round-{k}")
        gate["round"] = k
        job_ids = jobs.fire_due(database, now=now)
        print(f"done {k} {json.dumps(job_ids)}", flush=True)
    database.dispose()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), [datetime.fromisoformat(a) for a in sys.argv[3:]])
