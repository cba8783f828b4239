//! virtd's binary: placeholder, filled in by the server's owner.

fn main() {}
