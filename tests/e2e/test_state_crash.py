"""Crash test for the sealed state (issue 4): drive consume and DPoP anti-replay
load against sealgated, kill -9 it at random instants, restart it on the same
state (and the same software TPM), and after every restart prove that

  1. no DPoP jti was ever accepted twice (every proof the client saw accepted is
     replayed after the restart and must be refused as a replay);
  2. no grant was used more than its max_uses (successes counted by the client,
     and the server's own remaining count);
  3. every call the client saw succeed is in the state (a grant's remaining uses
     after the restart are at most max_uses minus the successes the client saw).

SEALGATE_CRASH_ITERATIONS sets the number of kills (CI: 20; scripts/crash-test.sh: 100).
"""
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Instance  # noqa: E402
from dpop_client import DpopKey, decode_claims  # noqa: E402

ITERATIONS = int(os.environ.get("SEALGATE_CRASH_ITERATIONS", "20"))
PUBLIC_URL = "https://sealgate.test"  # a fixed htu: proofs stay valid across restarts (new ports)
MAX_USES = 10
WORKERS = 4
ITEM = [{"uri": "secret://acme/kv/app/db#password", "action": "use"}]


class Ledger:
    """What the client saw: per grant, successes; per proof, how often accepted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.successes = {}       # grant token -> number of 200 consumes seen
        self.max_uses = {}        # grant token -> max_uses
        self.accepted = {}        # proof -> (grant token, times accepted)
        self.replays_refused = 0


class CrashTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sg = Instance(tpm=True, grants={"max_uses": MAX_USES, "dpop_iat_window_seconds": 600}, public_url=PUBLIC_URL,
                          state={"checkpoint_interval_ms": 200, "commit_wait_ms": 2000})
        cls.sg.start()

    @classmethod
    def tearDownClass(cls):
        cls.sg.cleanup()

    def authorize(self, key):
        proof = key.proof("POST", PUBLIC_URL + "/v1/authorize")
        return self.sg.request("POST", "/v1/authorize", body={"requests": ITEM}, headers={"DPoP": proof})

    def consume(self, grant, proof):
        return self.sg.request("POST", "/v1/grants/consume", body={"grant": grant}, headers={"DPoP": proof})

    def drive(self, ledger, stop, slot):
        """One worker: authorize a DPoP-bound grant, consume it with fresh proofs.
        `slot` keeps the worker's key and grant across crashes, so one grant's
        uses are spent over several restarts."""
        key = slot.setdefault("key", DpopKey())
        grant = slot.get("grant")
        while not stop.is_set():
            try:
                if grant is None:
                    status, body, _, _ = self.authorize(key)
                    if status != 200:
                        continue
                    grant = body["grant"]
                    with ledger.lock:
                        ledger.max_uses[grant] = body["max_uses"]
                        ledger.successes.setdefault(grant, 0)
                proof = key.proof("POST", PUBLIC_URL + "/v1/grants/consume", token=grant)
                status, body, _, _ = self.consume(grant, proof)
                if status == 200:
                    with ledger.lock:
                        ledger.successes[grant] += 1
                        ledger.accepted[proof] = (grant, ledger.accepted.get(proof, (None, 0))[1] + 1)
                elif status in (401, 403):
                    grant = None  # exhausted or expired: authorize a new one
            except (OSError, ConnectionError, ValueError):
                time.sleep(0.01)  # the daemon is down: wait for the restart
            slot["grant"] = grant

    def verify(self, ledger, iteration):
        with ledger.lock:
            accepted = dict(ledger.accepted)
            successes = dict(ledger.successes)
            max_uses = dict(ledger.max_uses)
        # 1. No proof accepted twice, and every accepted one is remembered.
        for proof, (grant, times) in accepted.items():
            self.assertEqual(times, 1, f"iteration {iteration}: a DPoP proof was accepted {times} times")
        live = [(p, g) for p, (g, _) in accepted.items() if decode_claims(g)["exp"] > time.time() + 5]
        for proof, grant in random.sample(sorted(live), min(25, len(live))):
            status, body, _, raw = self.consume(grant, proof)
            self.assertIn(status, (401,), f"iteration {iteration}: a replayed proof got {status}: {raw[:200]}")
            self.assertEqual(body["error"]["code"], "DPOP_REPLAY", raw)
            ledger.replays_refused += 1
        # 2 and 3. Uses: never above max_uses; every success the client saw is durable.
        # The admin listing (every page of it) is keyed by the grant's jti.
        remaining = {g["grant_id"]: g["remaining_uses"] for g in self.sg.admin_list("/admin/v1/grants", "grants")}
        for token, seen in successes.items():
            self.assertLessEqual(seen, max_uses[token], f"iteration {iteration}: a grant was used {seen} times")
            if seen == 0 or decode_claims(token)["exp"] <= time.time() + 5:
                continue
            jti = decode_claims(token)["jti"]
            self.assertIn(jti, remaining, f"iteration {iteration}: a used grant is missing from the state")
            self.assertLessEqual(remaining[jti], max_uses[token] - seen,
                                 f"iteration {iteration}: the state forgot a use the client saw succeed")

    def test_kill_9_at_random_instants(self):
        ledger = Ledger()
        seed = int(os.environ.get("SEALGATE_CRASH_SEED", str(int(time.time()))))
        print(f"\ncrash test seed {seed} (SEALGATE_CRASH_SEED to repeat)", file=sys.stderr)
        rng = random.Random(seed)
        slots = [{} for _ in range(WORKERS)]
        for iteration in range(ITERATIONS):
            stop = threading.Event()
            workers = [threading.Thread(target=self.drive, args=(ledger, stop, slots[i])) for i in range(WORKERS)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.05, 0.6))
            self.sg.kill()  # SIGKILL at an arbitrary instant of the load
            stop.set()
            for w in workers:
                w.join()
            self.sg.start()
            self.verify(ledger, iteration)
            # The state opened (not tampered, not rolled back) after every crash.
            status, body, _, raw = self.sg.request("GET", "/readyz", client="admin", listener="admin")
            self.assertEqual(status, 200, raw)
        total = sum(ledger.successes.values())
        exhausted = sum(1 for g, n in ledger.successes.items() if n == ledger.max_uses[g])
        print(f"\ncrash test: {ITERATIONS} kills, {total} consumes seen, {len(ledger.successes)} grants, "
              f"{exhausted} used up to max_uses, {ledger.replays_refused} replays refused", file=sys.stderr)
        self.assertGreater(total, ITERATIONS, "the load did too little to prove anything")


if __name__ == "__main__":
    unittest.main()
