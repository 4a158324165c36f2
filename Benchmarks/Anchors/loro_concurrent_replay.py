"""Replays a concurrent editing trace (transactions with parents and agents, like
../shared/traces/friendsforever.json.gz) in Loro and prints the sizes of the final state's
encodings: the snapshot and all updates. ../shared/anchors/loro_yrs_replay.py handles sequential
traces only; this one compares encoded sizes on the concurrent ones.

Each agent edits a document of its own; a transaction whose parents are not exactly the agent's
last transaction starts from a fork of the merged document at those parents. Every transaction's
updates go into the merged document, whose text must equal the trace's endContent ("ok").

    ../anchors-venv/bin/python Benchmarks/Anchors/loro_concurrent_replay.py ../shared/traces/friendsforever.json.gz

(the environment of ../shared/anchors/README.md: loro 1.17.1 from PyPI). Takes about a minute.
"""
import gzip, json, sys, time
import loro

trace = json.load(gzip.open(sys.argv[1], "rt", encoding="utf-8"))
oracle = loro.LoroDoc()
oracle.peer_id = 1000
last_id = []  # per transaction: the id of its last op
docs = {}  # agent -> (its document, the transaction it is at)
start = time.perf_counter()
for index, txn in enumerate(trace["txns"]):
    agent = txn["agent"]
    parents = txn["parents"]
    doc, at = docs.get(agent, (None, None))
    if doc is None or not (len(parents) == 1 and parents[0] == at) and not (not parents and at is None):
        frontiers = loro.Frontiers.from_ids([last_id[parent] for parent in parents])
        doc = oracle.fork_at(frontiers) if parents else loro.LoroDoc()
        doc.peer_id = agent + 1
    before = doc.oplog_vv
    text = doc.get_text("t")
    for position, deleted, inserted in txn["patches"]:
        if deleted:
            text.delete(position, deleted)
        if inserted:
            text.insert(position, inserted)
    doc.commit()
    oracle.import_(doc.export(loro.ExportMode.Updates(before)))
    last_id.append(loro.ID(agent + 1, doc.oplog_vv.get_last(agent + 1)))
    docs[agent] = (doc, index)
final = oracle.get_text("t").to_string()
snapshot = oracle.export(loro.ExportMode.Snapshot())
updates = oracle.export(loro.ExportMode.Updates(loro.VersionVector()))
print(json.dumps({"ok": final == trace["endContent"], "snapshotBytes": len(snapshot), "updatesBytes": len(updates),
                  "seconds": round(time.perf_counter() - start, 1), "length": len(final)}))
