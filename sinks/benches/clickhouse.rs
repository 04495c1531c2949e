//! ClickHouse sink benchmark (filled in below).
fn main() {}
