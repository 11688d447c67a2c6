"""Read a Haechi audit archive with pyarrow, an independent Parquet reader.

Usage: read_audit_parquet.py ARCHIVE_DIR
Checks the schema the docs promise (column names and types, the day partition, the format
marker) and prints one JSON object: the row count and every row's checked values, in seq order.
Exits non-zero on the first thing that does not match the documentation.
"""

import datetime
import json
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

archive = sys.argv[1]

dataset = ds.dataset(archive, format="parquet", partitioning="hive")
table = dataset.to_table().sort_by("seq")

expected = {
    "seq": pa.uint64(),
    "time": pa.timestamp("us", tz="UTC"),
    "kind": pa.string(),
    "principal": pa.string(),
    "sid": pa.string(),
    "jti": pa.string(),
    "kid": pa.string(),
    "ip": pa.string(),
    "ip_bin": pa.binary(16),
    "user_agent": pa.string(),
    "customer_id": pa.string(),
    "purpose": pa.string(),
    "decision": pa.string(),
    "status": pa.uint16(),
    "request_id": pa.string(),
    "reason": pa.string(),
    "detail": pa.string(),
    "prev_hash": pa.binary(32),
    "hash": pa.binary(32),
}
for name, kind in expected.items():
    field = table.schema.field(name)
    assert field.type == kind, f"column {name}: {field.type} is not {kind}"
fields_type = table.schema.field("fields").type
assert pa.types.is_list(fields_type) and fields_type.value_type == pa.string(), fields_type
assert "day" in table.column_names, "the day partition is missing"

for fragment in dataset.get_fragments():
    metadata = pq.ParquetFile(fragment.path).metadata.metadata
    assert metadata[b"haechi.audit.format"] == b"1", fragment.path

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
rows = []
for row in table.to_pylist():
    ip_bin = row["ip_bin"]
    rows.append(
        {
            "seq": row["seq"],
            "time_micros": (row["time"] - EPOCH) // datetime.timedelta(microseconds=1),
            "day": str(row["day"]),
            "kind": row["kind"],
            "principal": row["principal"],
            "customer_id": row["customer_id"],
            "request_id": row["request_id"],
            "ip": row["ip"],
            "ip_bin": ip_bin.hex() if ip_bin is not None else None,
            "status": row["status"],
            "decision": row["decision"],
            "fields": row["fields"],
            "prev_hash": row["prev_hash"].hex(),
            "hash": row["hash"].hex(),
        }
    )
print(json.dumps({"rows": table.num_rows, "records": rows}))
