"""The benchmark's DuckDB side: the SQL equivalent of one `haechi scope` over the same Parquet
files (per-customer rows: fields, first and last exposure, reads), timed in-process.

Usage: forensics_bench_duckdb.py ARCHIVE (ips|jti|kid)
Indicators come from ARCHIVE/_ground_truth.json, exactly as the benchmark passes them to
haechi scope. Prints one JSON object: query, rows, customers, reads, seconds.
"""

import json
import sys
import time

import duckdb


def main():
    archive, which = sys.argv[1], sys.argv[2]
    attack = json.load(open(f"{archive}/_ground_truth.json", encoding="utf-8"))["attack"]
    quote = lambda value: "'" + value.replace("'", "''") + "'"
    if which == "ips":
        condition = "ip IN (" + ", ".join(quote(ip) for ip in attack["ips"]) + ")"
    elif which == "jti":
        condition = f"jti = {quote(attack['victims'][0]['jti'])}"
    elif which == "kid":
        condition = f"kid = {quote(attack['kid'])}"
    else:
        raise SystemExit(f"unknown query {which}")
    sql = f"""
SELECT customer_id,
       list_sort(list_distinct(flatten(list(fields)))) AS fields,
       strftime(min(time), '%Y-%m-%dT%H:%M:%S.%fZ') AS first_exposure,
       strftime(max(time), '%Y-%m-%dT%H:%M:%S.%fZ') AS last_exposure,
       count(*) AS reads
FROM read_parquet('{archive}/**/*.parquet', hive_partitioning = true)
WHERE kind = 'pii.read' AND decision IN ('allow', 'mask') AND status = 200 AND {condition}
GROUP BY customer_id
ORDER BY customer_id"""
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(sql).fetchall()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "query": which,
        "customers": len(rows),
        "reads": sum(row[4] for row in rows),
        "seconds": round(seconds, 3),
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
    }))


if __name__ == "__main__":
    main()
