"""Runs every SQL recipe of docs/forensics.md with DuckDB over a generated archive and
cross-checks one `haechi scope --kid` result (counts, customer ids, fields, times, reads)
against DuckDB and the generator's ground truth.

Usage: forensics_duckdb.py DOCS ARCHIVE SCOPE_JSON SCOPE_LIST_JSONL
Prints one JSON object (what was checked); exits 1 on any mismatch.
"""

import ipaddress
import json
import re
import sys

import duckdb


def recipes(docs_path):
    """The ```sql blocks of the docs whose first line is `-- recipe: NAME`."""
    text = open(docs_path, encoding="utf-8").read()
    found = {}
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.S):
        first = block.splitlines()[0]
        match = re.match(r"--\s*recipe:\s*(\w+)", first)
        if match:
            found[match.group(1)] = block
    return found


def run(con, sql, params):
    names = sorted(set(re.findall(r"\$(\w+)", sql)))
    missing = [name for name in names if name not in params]
    if missing:
        raise SystemExit(f"no value for parameters {missing}")
    return con.execute(sql, {name: params[name] for name in names}).fetchall()


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def main():
    docs, archive, scope_json, scope_list = sys.argv[1:5]
    truth = json.load(open(f"{archive}/_ground_truth.json", encoding="utf-8"))
    attack = truth["attack"]
    scope = json.load(open(scope_json, encoding="utf-8"))
    rows = [json.loads(line) for line in open(scope_list, encoding="utf-8") if line.strip()]

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE VIEW audit AS SELECT * FROM read_parquet('{archive}/**/*.parquet', hive_partitioning = true)"
    )
    network = ipaddress.ip_network(attack["ips"][0]).supernet(new_prefix=16)
    low = ipaddress.IPv6Address(f"::ffff:{network.network_address}").packed.hex()
    high = ipaddress.IPv6Address(f"::ffff:{network.broadcast_address}").packed.hex()
    victim = attack["victims"][0]
    params = {
        "kid": attack["kid"],
        "ips": attack["ips"],
        "low": low,
        "high": high,
        "jti": victim["jti"],
        "from": attack["first"],
        "to": attack["last"],
    }
    all_recipes = recipes(docs)
    expected = {
        "exposures_by_kid", "exposures_by_addresses", "exposures_by_network", "token_activity",
        "field_counts_by_kid", "timeline_by_kid", "busiest_networks", "chain_links",
    }
    if set(all_recipes) != expected:
        fail(f"recipes in the docs: {sorted(all_recipes)}, expected {sorted(expected)}")
    results = {name: run(con, sql, params) for name, sql in all_recipes.items()}

    # 1. haechi scope --kid against DuckDB, row by row.
    duck_rows = [
        {"customer_id": r[0], "fields": list(r[1]), "first": r[2], "last": r[3], "reads": r[4]}
        for r in results["exposures_by_kid"]
    ]
    haechi_rows = [
        {key: row[key] for key in ("customer_id", "fields", "first", "last", "reads")}
        for row in rows
    ]
    if duck_rows != haechi_rows:
        diff = [pair for pair in zip(duck_rows, haechi_rows) if pair[0] != pair[1]][:3]
        fail(f"haechi scope and DuckDB disagree: {len(duck_rows)} vs {len(haechi_rows)} rows; first differences {diff}")
    summary = scope["summary"]
    if summary["customers"] != len(duck_rows) or summary["records"] != sum(r["reads"] for r in duck_rows):
        fail(f"summary {summary['customers']}/{summary['records']} vs DuckDB")
    fields = {name: {"customers": c, "reads": r} for name, c, r in results["field_counts_by_kid"]}
    if fields != summary["fields"]:
        fail(f"field counts differ: {fields} vs {summary['fields']}")
    timeline = [
        {"day": str(day), "reads": reads, "customers": customers}
        for day, reads, customers in results["timeline_by_kid"]
    ]
    haechi_timeline = [
        {key: day[key] for key in ("day", "reads", "customers")} for day in summary["timeline"]
    ]
    if timeline != haechi_timeline:
        fail(f"timeline differs: {timeline} vs {haechi_timeline}")

    # 2. Against the ground truth.
    victims = sorted(v["customer_id"] for v in attack["victims"])
    if [r["customer_id"] for r in duck_rows] != victims:
        fail("DuckDB's kid scope is not the ground truth's victims")
    customers, reads = results["exposures_by_addresses"][0]
    if (customers, reads) != (len(victims), attack["reads"]):
        fail(f"address scope {customers}/{reads}, truth {len(victims)}/{attack['reads']}")
    activity = results["token_activity"]
    if [row[4] for row in activity] != [victim["customer_id"]] * 2:
        fail(f"token activity {activity}")
    network_customers, _ = results["exposures_by_network"][0]
    if network_customers < 1:
        fail("the attacker's /16 exposed nobody")
    if results["chain_links"][0][0] != 0:
        fail(f"broken chain links: {results['chain_links'][0][0]}")
    if not results["busiest_networks"]:
        fail("no busiest networks in the attack window")

    print(json.dumps({
        "ok": True,
        "recipes": sorted(all_recipes),
        "customers": len(duck_rows),
        "reads": sum(r["reads"] for r in duck_rows),
        "busiest_network": results["busiest_networks"][0][0],
    }))


if __name__ == "__main__":
    main()
