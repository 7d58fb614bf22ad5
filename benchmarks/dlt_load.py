"""Run inside the dlt environment (benchmarks/ingest.py makes it): load one CSV file into PostgreSQL
the way a dlt user would (the filesystem source's read_csv into the postgres destination).

    python dlt_load.py POSTGRES_URL CSV_PATH    -> one JSON line: rows, seconds
"""

import json
import sys
import time
from pathlib import Path

import dlt
from dlt.sources.filesystem import filesystem, read_csv

url, csv_path = sys.argv[1], Path(sys.argv[2])
pipelines_dir = Path(__file__).resolve().parents[1] / ".bhxh" / "bench" / "dlt-pipelines"
started = time.monotonic()
pipeline = dlt.pipeline(pipeline_name="bench_receipts", destination=dlt.destinations.postgres(url),
                        dataset_name="bench_dlt", pipelines_dir=str(pipelines_dir))
files = filesystem(bucket_url=csv_path.parent.as_uri(), file_glob=csv_path.name)
info = pipeline.run((files | read_csv()).with_name("receipts"), write_disposition="replace")
seconds = time.monotonic() - started
rows = pipeline.last_trace.last_normalize_info.row_counts.get("receipts", 0)
print(json.dumps({"rows": rows, "seconds": seconds, "loads": len(info.loads_ids)}))
