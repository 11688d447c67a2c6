"""Haechi's rules through pySigma, and Sigma rules as SQL over Haechi's Parquet archive.

usage: sigma_check.py RULES_DIR HUNT_RULE ARCHIVE

Parses every rule file of RULES_DIR with pySigma (an error in any file fails the run), converts
the built-in single-event rule `haechi.token.forged` and the hunting rule in HUNT_RULE to SQL
with pySigma's SQLite backend, and runs both in DuckDB over `read_parquet(ARCHIVE/**/*.parquet)`
as the table `logs` the backend queries. Prints one JSON object.
"""

import json
import pathlib
import sys

import duckdb
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule


def load(path):
    collection = SigmaCollection.from_yaml(path.read_text())
    collection.resolve_rule_references()
    return collection


def main():
    rules_dir, hunt_path, archive = map(pathlib.Path, sys.argv[1:4])
    parsed = {}
    collections = {}
    for path in sorted(rules_dir.glob("*.yaml")):
        collection = load(path)
        collections[path.name] = collection
        for rule in collection.rules:
            kind = "correlation" if isinstance(rule, SigmaCorrelationRule) else "base"
            parsed[rule.name] = {"kind": kind, "file": path.name, "id": str(rule.id)}

    backend = sqliteBackend()
    forged = next(
        rule
        for collection in collections.values()
        for rule in collection.rules
        if rule.name == "haechi.token.forged"
    )
    forged_sql = backend.convert_rule(forged)
    hunt_sql = backend.convert(load(hunt_path))

    connection = duckdb.connect()
    glob = str(archive / "**" / "*.parquet")
    connection.execute(f"CREATE VIEW logs AS SELECT * FROM read_parquet('{glob}')")

    def rows(queries):
        return sum(
            connection.execute(f"SELECT count(*) FROM ({query.rstrip(';')})").fetchone()[0]
            for query in queries
        )

    print(
        json.dumps(
            {
                "rules": parsed,
                "forged_sql": forged_sql,
                "forged_rows": rows(forged_sql),
                "hunt_sql": hunt_sql,
                "hunt_rows": rows(hunt_sql),
            }
        )
    )


if __name__ == "__main__":
    main()
