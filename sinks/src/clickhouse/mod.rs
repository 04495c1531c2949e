//! ClickHouse sink: schema migrations, row encoding and batched inserts.
