//! `xenconsole`: the setuid console client (being built).

fn main() {
    eprintln!("xenconsole: not built yet");
    std::process::exit(1);
}
